"""Single action attempts against real receivers: an HTTP server, a child process, the event bus."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from cnai.events import bus_from_url, decode
from cnai.monitoring.monitor.actions import backoff_ms, post_webhook, publish_alert, run_command
from cnai.monitoring.monitor.spec import ALERT_EVENT_TYPE, AlertAction, Command, SecretRef, Webhook
from tests.fixtures.servers import free_port
from tests.unit.monitoring.monitor.conftest import OPT_IN
from tests.unit.monitoring.monitor.receiver import Receiver

PAYLOAD = {"monitor": "iris", "window": 7, "drift_share": 0.75, "drifted_features": ["a"]}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


async def test_webhook_posts_json_with_the_idempotency_key(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNAI_SECRET_HOOK", "Bearer s3cret")
    options = Webhook(url=receiver.url, headers={"Authorization": SecretRef(secret_env="CNAI_SECRET_HOOK")})
    async with httpx.AsyncClient() as client:
        attempt = await post_webhook(client, options, "iris/7/0", PAYLOAD, OPT_IN)
    assert attempt.ok
    assert attempt.detail == "HTTP 200"
    [(key, body, headers)] = receiver.posts
    assert key == "iris/7/0"
    assert body == PAYLOAD
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (500, True), (429, True), (400, False), (404, False)])
async def test_webhook_errors_say_whether_to_retry(status: int, retryable: bool) -> None:
    receiver = Receiver(fail_first=1, fail_status=status)
    try:
        async with httpx.AsyncClient() as client:
            attempt = await post_webhook(client, Webhook(url=receiver.url), "k", PAYLOAD, OPT_IN)
    finally:
        receiver.close()
    assert not attempt.ok
    assert attempt.retryable is retryable
    assert attempt.detail.startswith(f"HTTP {status}")


async def test_webhook_connection_refused_is_retryable() -> None:
    async with httpx.AsyncClient() as client:
        attempt = await post_webhook(client, Webhook(url=f"http://127.0.0.1:{free_port()}/x"), "k", PAYLOAD, OPT_IN)
    assert not attempt.ok
    assert attempt.retryable
    assert "ConnectError" in attempt.detail


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_ms(0.5, n) for n in (1, 2, 3, 4)] == [500, 1000, 2000, 4000]
    assert backoff_ms(10, 30) == 300_000


async def test_command_gets_the_alert_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    script = (
        "import json, os, sys; "
        "keys = ['CNAI_MONITOR', 'CNAI_WINDOW', 'CNAI_DRIFT_SHARE', 'CNAI_IDEMPOTENCY_KEY', 'CNAI_ALERT_JSON']; "
        f"open({str(out)!r}, 'w').write(json.dumps({{k: os.environ[k] for k in keys}}))"
    )
    attempt = await run_command(Command(argv=[sys.executable, "-c", script]), "iris/7/2", PAYLOAD, OPT_IN)
    assert attempt.ok
    assert attempt.detail == "exit 0"
    env = orjson.loads(out.read_bytes())
    assert env["CNAI_MONITOR"] == "iris"
    assert env["CNAI_WINDOW"] == "7"
    assert env["CNAI_DRIFT_SHARE"] == "0.75"
    assert env["CNAI_IDEMPOTENCY_KEY"] == "iris/7/2"
    assert orjson.loads(env["CNAI_ALERT_JSON"]) == PAYLOAD


async def test_command_failure_and_timeout_are_failed_attempts(caplog: pytest.LogCaptureFixture) -> None:
    failing = Command(argv=[sys.executable, "-c", "import sys; sys.stderr.write('no model'); sys.exit(3)"])
    attempt = await run_command(failing, "k", PAYLOAD, OPT_IN)
    assert not attempt.ok
    assert attempt.detail == "exit 3"  # what the program printed goes to the server log only
    assert "no model" in caplog.text
    slow = Command(argv=[sys.executable, "-c", "import time; time.sleep(30)"], timeout_seconds=0.5)
    attempt = await run_command(slow, "k", PAYLOAD, OPT_IN)
    assert not attempt.ok
    assert attempt.retryable
    assert attempt.detail.startswith("timeout after 0.5s")
    missing = await run_command(Command(argv=["/nonexistent/cnai-test-program"]), "k", PAYLOAD, OPT_IN)
    assert not missing.ok
    assert "not an executable program" in missing.detail


async def test_alert_is_a_cloudevent_whose_id_is_the_idempotency_key(tmp_path: Path) -> None:
    async with bus_from_url(f"sqlite:///{tmp_path / 'events.db'}") as bus:
        await bus.create_topic("alerts", partitions=1)
        attempt = await publish_alert(bus, AlertAction(topic="alerts"), "iris/7/1", PAYLOAD)
        assert attempt.ok
        async with bus.consumer(["alerts"], group="t") as consumer:
            records = await consumer.poll(timeout_ms=2000)
    [record] = records
    event = decode(record.value)
    assert event["type"] == ALERT_EVENT_TYPE
    assert event["id"] == "iris/7/1"
    assert event["subject"] == "iris"
    assert event["data"] == PAYLOAD
    assert record.key == b"iris"
