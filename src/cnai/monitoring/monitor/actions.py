"""One attempt at an action: POST a webhook, publish an alert event, or run a command.

Each function returns an :class:`Attempt` and never raises for the action's own failures: the
delivery loop decides from it whether to retry (``retryable``) or give up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from cnai.events.base import Bus
from cnai.events.cloudevents import encode, make_event
from cnai.monitoring.monitor.spec import ALERT_EVENT_TYPE, AlertAction, Command, Webhook

MAX_BACKOFF_S = 300.0
_STDERR_TAIL = 500


@dataclass(frozen=True)
class Attempt:
    ok: bool
    retryable: bool
    detail: str  # e.g. "HTTP 200", "exit 0", "timeout after 5s"


def backoff_ms(backoff_seconds: float, attempts: int) -> int:
    """Delay before the next attempt after ``attempts`` failed ones: base x 2^(attempts-1), capped."""
    return round(min(MAX_BACKOFF_S, backoff_seconds * 2.0 ** max(0, attempts - 1)) * 1000)


async def post_webhook(client: httpx.AsyncClient, options: Webhook, key: str, payload: dict[str, Any]) -> Attempt:
    headers = {
        **options.headers,
        "Content-Type": "application/json",
        "Idempotency-Key": key,
        "User-Agent": "cnai-monitor",
    }
    try:
        response = await client.post(
            options.url,
            content=orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
            headers=headers,
            timeout=options.timeout_seconds,
        )
    except httpx.TimeoutException:
        return Attempt(False, True, f"timeout after {options.timeout_seconds}s")
    except httpx.HTTPError as exc:  # connection refused, reset, DNS: the receiver may come back
        return Attempt(False, True, f"{type(exc).__name__}: {exc}")
    code = response.status_code
    if 200 <= code < 300:
        return Attempt(True, False, f"HTTP {code}")
    # 408 and 429 ask to come back later; other 4xx say this request will never be accepted.
    retryable = code >= 500 or code in (408, 429)
    return Attempt(False, retryable, f"HTTP {code}: {response.text[:200]}")


async def publish_alert(bus: Bus, options: AlertAction, key: str, payload: dict[str, Any]) -> Attempt:
    """The alert as an ``io.cnai.monitor.alert.v1`` CloudEvent; its id is the idempotency key, so
    consumers can drop a repeat."""
    event = make_event(ALERT_EVENT_TYPE, "cnai-monitor", payload, subject=str(payload.get("monitor")), id=key)
    try:
        await bus.produce(options.topic, encode(event), key=str(payload.get("monitor")).encode())
    except Exception as exc:  # the bus is down or refused: retry later
        return Attempt(False, True, f"{type(exc).__name__}: {exc}")
    return Attempt(True, False, f"published to {options.topic}")


async def run_command(options: Command, key: str, payload: dict[str, Any]) -> Attempt:
    env = {
        **os.environ,
        "CNAI_MONITOR": str(payload.get("monitor", "")),
        "CNAI_WINDOW": str(payload.get("window", "")),
        "CNAI_DRIFT_SHARE": str(payload.get("drift_share", "")),
        "CNAI_IDEMPOTENCY_KEY": key,
        "CNAI_ALERT_JSON": orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
    }
    try:
        proc = await asyncio.create_subprocess_exec(
            *options.argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:  # not found, not executable: will not fix itself, but the file may appear
        return Attempt(False, True, f"cannot start {options.argv[0]!r}: {exc}")
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=options.timeout_seconds)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return Attempt(False, True, f"timeout after {options.timeout_seconds}s (killed)")
    tail = stderr.decode("utf-8", "replace")[-_STDERR_TAIL:].strip()
    if proc.returncode == 0:
        return Attempt(True, False, "exit 0")
    return Attempt(False, True, f"exit {proc.returncode}" + (f": {tail}" if tail else ""))
