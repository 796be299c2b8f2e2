"""``bus_from_url`` and the argument checks every backend shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnai.errors import InvalidArgument, InvalidState
from cnai.events import bus_from_url
from cnai.events.embedded import EmbeddedBus


def test_sqlite_urls_follow_sqlalchemys_spelling(tmp_path: Path) -> None:
    absolute = bus_from_url(f"sqlite:///{tmp_path}/events.db")  # four slashes: an absolute path
    assert isinstance(absolute, EmbeddedBus)
    assert absolute.path == tmp_path / "events.db"
    relative = bus_from_url("sqlite:///data/events.db")
    assert isinstance(relative, EmbeddedBus)
    assert relative.path == Path("data/events.db")


def test_sqlite_url_options(tmp_path: Path) -> None:
    bus = bus_from_url(f"sqlite:///{tmp_path}/e.db?lease_ms=500&poll_interval_ms=20&default_partitions=4")
    assert isinstance(bus, EmbeddedBus)
    assert (bus.lease_ms, bus.poll_interval_s, bus.default_partitions) == (500, 0.02, 4)


def test_kafka_url() -> None:
    pytest.importorskip("aiokafka")
    from cnai.events.kafka import KafkaBus

    bus = bus_from_url("kafka://k1:9092,k2:9092?session_timeout_ms=6000&client_id=svc")
    assert isinstance(bus, KafkaBus)
    assert bus.bootstrap_servers == "k1:9092,k2:9092"
    assert (bus.session_timeout_ms, bus.client_id) == (6000, "svc")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost", "Unsupported event-bus URL"),
        ("sqlite://", "Unsupported event-bus URL"),
        ("sqlite:///", "No file"),
        ("kafka://", "Invalid Kafka URL"),
        ("kafka://host-without-port", "Invalid Kafka URL"),
        ("kafka://a:1,,b:2", "Invalid Kafka URL"),
        ("sqlite:///e.db?lease=5", "Unknown option 'lease'"),
        ("sqlite:///e.db?lease_ms=soon", "must be int"),
        ("sqlite:///e.db?synchronous=OFF", "synchronous must be"),
        ("sqlite:///e.db?lease_ms=0", "must be positive"),
    ],
)
def test_bad_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        bus_from_url(url)


async def test_bad_arguments_raise_invalid_argument(tmp_path: Path) -> None:
    async with EmbeddedBus(tmp_path / "e.db") as bus:
        with pytest.raises(InvalidArgument, match="Invalid topic name"):
            await bus.create_topic("no spaces")
        with pytest.raises(InvalidArgument, match="Invalid topic name"):
            await bus.produce("", b"x")
        with pytest.raises(InvalidArgument, match="partitions must be"):
            await bus.create_topic("t", partitions=0)
        with pytest.raises(InvalidArgument, match="value must be bytes"):
            await bus.produce("t", "text")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="key must be bytes"):
            await bus.produce("t", b"x", key="k")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="header must be"):
            await bus.produce("t", b"x", headers=[("h", "text")])  # type: ignore[list-item]
        with pytest.raises(InvalidArgument, match=r"\(key, value\) pairs"):
            await bus.produce_many("t", [b"x"])  # type: ignore[list-item]
        with pytest.raises(InvalidArgument, match="not a string"):
            bus.consumer("topic", "g")
        with pytest.raises(InvalidArgument, match="at least one topic"):
            bus.consumer([], "g")
        with pytest.raises(InvalidArgument, match="consumer group"):
            bus.consumer(["t"], "")
        consumer = bus.consumer(["t"], "g")
        with pytest.raises(InvalidState, match="not started"):
            await consumer.poll()
        await consumer.start()
        with pytest.raises(InvalidArgument, match="max_records"):
            await consumer.poll(max_records=0)


async def test_a_bus_must_be_started(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "e.db")
    with pytest.raises(InvalidState, match="not started"):
        await bus.produce("t", b"x")
