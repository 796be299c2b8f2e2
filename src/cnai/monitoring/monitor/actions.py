"""One attempt at an action: POST a webhook, publish an alert event, or run a command.

Each function returns an :class:`Attempt` and never raises for the action's own failures: the
delivery loop decides from it whether to retry (``retryable``) or give up. ``Attempt.detail`` is
shown to every reader of ``/api/v1/monitors/{name}/actions``, so it never carries what the other
side said (a response body, a program's stderr): that goes to the server log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from cnai.events.base import Bus
from cnai.events.cloudevents import encode, make_event
from cnai.monitoring.monitor import egress
from cnai.monitoring.monitor.admission import command_refusal, resolve_program
from cnai.monitoring.monitor.spec import ALERT_EVENT_TYPE, AlertAction, Command, SecretRef, Webhook
from cnai.resources.admission import AdmissionContext

log = logging.getLogger("cnai.monitoring")

MAX_BACKOFF_S = 300.0
_TAIL = 500  # characters of a failed command's stderr or a webhook's answer, for the server log
# What a command inherits from the server's environment; the CNAI_* alert variables are added.
_PASSED_ENV = ("PATH", "HOME", "LANG", "TZ")


@dataclass(frozen=True)
class Attempt:
    ok: bool
    retryable: bool
    detail: str  # e.g. "HTTP 200", "exit 0", "timeout after 5s"


def backoff_ms(backoff_seconds: float, attempts: int) -> int:
    """Delay before the next attempt after ``attempts`` failed ones: base x 2^(attempts-1), capped."""
    return round(min(MAX_BACKOFF_S, backoff_seconds * 2.0 ** max(0, attempts - 1)) * 1000)


async def post_webhook(
    client: httpx.AsyncClient, options: Webhook, key: str, payload: dict[str, Any], context: AdmissionContext
) -> Attempt:
    """POST the alert to the address the URL's host resolves to *now*, if that address passes the
    server's egress policy (:mod:`.egress`).

    The request goes to the checked address itself (the URL's host is replaced by it; ``Host`` and,
    for https, the TLS server name and certificate check keep the name), so a DNS answer that
    changes between the check and the connection (DNS rebinding) cannot move the request to
    another address. Redirects are never followed: a 3xx is a failed attempt, since following it
    would reach an address nobody checked."""
    headers: dict[str, str] = {}
    for name, value in options.headers.items():
        if isinstance(value, SecretRef):
            secret = os.environ.get(value.secret_env)
            if secret is None:
                return Attempt(False, False, f"header {name}: {value.secret_env} is not set on the server")
            value = secret
        headers[name] = value
    url = httpx.URL(options.url)
    host = url.host
    addresses = await egress.resolve_async(host, url.port or (443 if url.scheme == "https" else 80))
    if not addresses:  # the name may resolve again later
        return Attempt(False, True, f"cannot resolve {host}")
    refused = egress.refusal(host, addresses, context.webhook_allowlist)
    if refused:
        return Attempt(False, False, f"refused: {refused}")
    pinned = str(addresses[0])
    extensions = {"sni_hostname": host} if url.scheme == "https" and host != pinned else {}
    headers.update(
        {
            "Host": url.netloc.decode("ascii"),
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "User-Agent": "cnai-monitor",
            # No connection reuse: the pool is keyed by address, so a kept-alive TLS connection
            # verified for one name could otherwise carry the next request for another name.
            "Connection": "close",
        }
    )
    try:
        response = await client.post(
            url.copy_with(host=pinned),
            content=orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
            headers=headers,
            timeout=options.timeout_seconds,
            follow_redirects=False,
            extensions=extensions,
        )
    except httpx.TimeoutException:
        return Attempt(False, True, f"timeout after {options.timeout_seconds}s")
    except httpx.HTTPError as exc:  # connection refused, reset: the receiver may come back
        log.warning("monitor %s action %s (webhook): %s: %s", payload.get("monitor"), key, type(exc).__name__, exc)
        return Attempt(False, True, type(exc).__name__)
    code = response.status_code
    if 200 <= code < 300:
        return Attempt(True, False, f"HTTP {code}")
    # The body goes to the server log only: echoed in the action's result, a webhook would be a
    # way to read whatever a reachable address answers.
    log.warning(
        "monitor %s action %s (webhook): HTTP %d: %s", payload.get("monitor"), key, code, response.text[:_TAIL].strip()
    )
    # 408 and 429 ask to come back later; other 4xx (and 3xx, not followed) will never be accepted.
    retryable = code >= 500 or code in (408, 429)
    return Attempt(False, retryable, f"HTTP {code}")


async def publish_alert(bus: Bus, options: AlertAction, key: str, payload: dict[str, Any]) -> Attempt:
    """The alert as an ``io.cnai.monitor.alert.v1`` CloudEvent; its id is the idempotency key, so
    consumers can drop a repeat."""
    event = make_event(ALERT_EVENT_TYPE, "cnai-monitor", payload, subject=str(payload.get("monitor")), id=key)
    try:
        await bus.produce(options.topic, encode(event), key=str(payload.get("monitor")).encode())
    except Exception as exc:  # the bus is down or refused: retry later
        log.warning("monitor %s action %s (alert): %s: %s", payload.get("monitor"), key, type(exc).__name__, exc)
        return Attempt(False, True, type(exc).__name__)
    return Attempt(True, False, f"published to {options.topic}")


async def run_command(options: Command, key: str, payload: dict[str, Any], context: AdmissionContext) -> Attempt:
    """Run the command if this server still allows it (a spec stored while the opt-in was on does
    not run on a server restarted without it), with a minimal environment: the server's own
    variables (tokens, database URLs, cloud credentials) are not the command's business."""
    refused = command_refusal(options.argv, context)
    program = resolve_program(options.argv[0])
    if refused or program is None:
        return Attempt(False, False, f"refused: {refused or 'program not found'}")
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        {
            "CNAI_MONITOR": str(payload.get("monitor", "")),
            "CNAI_WINDOW": str(payload.get("window", "")),
            "CNAI_DRIFT_SHARE": str(payload.get("drift_share", "")),
            "CNAI_IDEMPOTENCY_KEY": key,
            "CNAI_ALERT_JSON": orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
        }
    )
    try:
        # The checked path itself, not argv[0] looked up again in another PATH.
        proc = await asyncio.create_subprocess_exec(
            program,
            *options.argv[1:],
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:  # not executable: will not fix itself, but the file may change
        return Attempt(False, True, f"cannot start {options.argv[0]!r}: {exc.strerror}")
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=options.timeout_seconds)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return Attempt(False, True, f"timeout after {options.timeout_seconds}s (killed)")
    if proc.returncode == 0:
        return Attempt(True, False, "exit 0")
    # stderr goes to the server log only: a reader of the action's result must not be able to
    # read what a program printed (its environment, files it was pointed at).
    tail = stderr.decode("utf-8", "replace")[-_TAIL:].strip()
    log.warning("monitor %s action %s (command): exit %d: %s", payload.get("monitor"), key, proc.returncode, tail)
    return Attempt(False, True, f"exit {proc.returncode}")
