"""The event bus: Kafka's semantics (topics, partitions by key, consumer groups, at-least-once)
with two backends that pass one behavioural suite, and CloudEvents 1.0 envelopes.

    bus = bus_from_url("sqlite:////var/lib/cnai/events.db")     # or "kafka://host:9092"
    async with bus:
        await bus.create_topic("cnai.inference", partitions=3)
        await bus.produce("cnai.inference", encode(make_event(...)), key=b"model-a")
        async with bus.consumer(["cnai.inference"], group="monitors") as consumer:
            records = await consumer.poll()
            ...                                                   # handle them, then
            await consumer.commit()

URLs:
- ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (SQLAlchemy's spelling):
  the embedded log. Query options: ``lease_ms``, ``poll_interval_ms``, ``default_partitions``,
  ``synchronous`` (``NORMAL`` or ``FULL``), and retention, Kafka's ``retention.ms`` /
  ``retention.bytes`` for the whole file: ``retention_hours`` (default 168, i.e. 7 days; may be
  fractional), ``retention_bytes`` (default 1073741824, i.e. 1 GiB), either ``-1`` for no bound,
  and ``retention_check_ms`` (default 60000). Records past either bound are deleted whether or not
  a consumer group read them; a group behind the log start continues from the earliest record.
- ``kafka://host:port[,host:port]``: Kafka, needs the ``[kafka]`` extra. Query options:
  ``client_id``, ``session_timeout_ms``, ``heartbeat_interval_ms``, ``rebalance_timeout_ms``,
  ``request_timeout_ms``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from cnai.errors import InvalidArgument
from cnai.events.base import Bus, Consumer, Record
from cnai.events.cloudevents import INFERENCE_EVENT_TYPE, INFERENCE_TOPIC, decode, encode, make_event

__all__ = [
    "INFERENCE_EVENT_TYPE",
    "INFERENCE_TOPIC",
    "Bus",
    "Consumer",
    "Record",
    "bus_from_url",
    "decode",
    "encode",
    "make_event",
]

_SQLITE_OPTIONS = {
    "lease_ms": int,
    "poll_interval_ms": int,
    "default_partitions": int,
    "synchronous": str,
    "retention_hours": float,
    "retention_bytes": int,
    "retention_check_ms": int,
}
_KAFKA_OPTIONS = {
    "client_id": str,
    "session_timeout_ms": int,
    "heartbeat_interval_ms": int,
    "rebalance_timeout_ms": int,
    "request_timeout_ms": int,
}


def bus_from_url(url: str) -> Bus:
    """A (not yet started) bus for ``sqlite:///path`` or ``kafka://host:port[,host:port]``."""
    if not isinstance(url, str):
        raise InvalidArgument(f"An event-bus URL is a string, got {type(url).__name__}")
    base, _, query = url.partition("?")
    if base.startswith("sqlite:///"):
        path = base[len("sqlite:///") :]
        if not path:
            raise InvalidArgument(f"No file in event-bus URL {url!r}: use sqlite:///path/events.db")
        from cnai.events.embedded import EmbeddedBus
        from cnai.events.retention import hours_to_ms

        options = _options(query, _SQLITE_OPTIONS, url)
        if "retention_hours" in options:
            options["retention_ms"] = hours_to_ms(options.pop("retention_hours"))
        return EmbeddedBus(path, **options)
    if base.startswith("kafka://"):
        servers = base[len("kafka://") :].rstrip("/")
        if not servers or any(not s.strip() or ":" not in s for s in servers.split(",")):
            raise InvalidArgument(f"Invalid Kafka URL {url!r}: use kafka://host:port[,host:port]")
        try:
            from cnai.events.kafka import KafkaBus
        except ImportError as exc:
            raise InvalidArgument("The Kafka event bus needs aiokafka: pip install 'cnai[kafka]'") from exc
        return KafkaBus(servers, **_options(query, _KAFKA_OPTIONS, url))
    raise InvalidArgument(f"Unsupported event-bus URL {url!r}: use sqlite:///path or kafka://host:port")


def _options(query: str, allowed: dict[str, type], url: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        kind = allowed.get(name)
        if kind is None:
            raise InvalidArgument(f"Unknown option {name!r} in event-bus URL {url!r}; known: {', '.join(allowed)}")
        try:
            options[name] = kind(value)
        except ValueError as exc:
            raise InvalidArgument(f"Option {name!r} in event-bus URL {url!r} must be {kind.__name__}") from exc
    return options
