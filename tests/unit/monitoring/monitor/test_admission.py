"""What a Monitor may make the server do, tried as the attacks: PUT through /api/v1/resources with
a caller put in the ASGI scope (as the auth middleware does), then the controller running what
was admitted, or refusing what a restarted server no longer allows."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from cnai.auth.principal import SCOPE_KEY, Principal, Role
from cnai.monitoring.monitor import KIND, MonitorStore, admit_monitor, validate_monitor_spec
from cnai.monitoring.monitor.actions import post_webhook
from cnai.monitoring.monitor.api import monitor_routes
from cnai.monitoring.monitor.spec import Webhook
from cnai.resources import AdmissionContext, ResourceStore
from cnai.resources import api as resources_api
from tests.unit.monitoring.monitor.conftest import OPT_IN, Env
from tests.unit.monitoring.monitor.receiver import Receiver, await_for

SHELL = ["sh", "-c", "id >&2"]


class CallerFromHeader:
    """Test-only stand-in for the auth middleware: ``x-test-role: editor`` makes the caller an editor."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        role = dict(scope.get("headers") or []).get(b"x-test-role")
        if scope["type"] == "http" and role:
            scope[SCOPE_KEY] = Principal(f"{role.decode()}-token", Role.parse(role.decode()))
        await self.app(scope, receive, send)


def client(env: Env, context: AdmissionContext) -> TestClient:
    """/api/v1/resources and /api/v1/monitors on a server with these opt-ins."""
    store = ResourceStore(env.engine, {KIND: validate_monitor_spec}, admissions={KIND: admit_monitor}, context=context)
    app = Starlette(routes=[*resources_api.routes(store), *monitor_routes(env.engine)])
    return TestClient(CallerFromHeader(app))


def put(
    http: TestClient, env: Env, actions: list[dict[str, Any]], role: str = "admin", name: str = "m"
) -> httpx.Response:
    spec = {
        "target": {"model": {"name": "iris"}},
        "reference": {"file": str(env.reference)},
        "window": {"count": 50},
        "actions": actions,
    }
    doc = {"apiVersion": "cnai.io/v1", "kind": KIND, "metadata": {"name": name}, "spec": spec}
    return http.put(f"/api/v1/resources/monitors/{name}", json=doc, headers={"x-test-role": role})


def refused(response: httpx.Response, *needles: str) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "PERMISSION_DENIED"
    for needle in needles:
        assert needle in body["error"]


# -- command actions -----------------------------------------------------------------------------


def test_a_command_needs_the_opt_in_even_for_an_admin(env: Env) -> None:
    with client(env, AdmissionContext(command_allowlist=("sh",))) as http:
        refused(put(http, env, [{"command": {"argv": SHELL}}]), "--allow-command-actions")
        assert http.get("/api/v1/resources/monitors").json()["items"] == []  # nothing written


def test_a_command_must_be_on_the_allowlist(env: Env) -> None:
    with client(env, AdmissionContext(allow_command_actions=True, command_allowlist=(sys.executable,))) as http:
        refused(put(http, env, [{"command": {"argv": SHELL}}]), "'sh' is not on --command-allowlist")
        # A path to the same program under another name is judged by where it really leads.
        refused(put(http, env, [{"command": {"argv": ["/bin/sh", "-c", "id"]}}]), "not on --command-allowlist")


def test_a_command_needs_the_admin_role(env: Env) -> None:
    with client(env, AdmissionContext(allow_command_actions=True, command_allowlist=("sh",))) as http:
        refused(put(http, env, [{"command": {"argv": SHELL}}], role="editor"), "admin role", "'editor-token'")
        assert put(http, env, [{"alert": {}}], role="editor").status_code == 201  # alerts stay open to editors


async def test_an_admitted_command_runs_with_a_minimal_environment_and_its_stderr_stays_in_the_log(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CNAI_AUTH_TOKEN", "server-secret-token")  # what the server's own environment holds
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "server-cloud-key")
    seen = env.tmp / "env.json"
    script = (
        "import json, os, sys; "
        f"open({str(seen)!r}, 'w').write(json.dumps(dict(os.environ))); "
        "sys.stderr.write('LEAKED ' + os.environ.get('CNAI_AUTH_TOKEN', 'nothing')); sys.exit(3)"
    )
    with client(env, OPT_IN) as http:
        answer = put(http, env, [{"command": {"argv": [sys.executable, "-c", script]}}])
        assert answer.status_code == 201, answer.text
        controller = env.controller()
        await controller.start()
        try:
            await env.produce(50, shift=2.0, seed=1)
            await await_for(lambda: MonitorStore(env.engine).summary("m")["actions"]["failed"] == 1, what="the run")
        finally:
            await controller.stop()
        actions = http.get("/api/v1/monitors/m/actions")
    environment = orjson.loads(seen.read_bytes())
    assert "CNAI_AUTH_TOKEN" not in environment
    assert "AWS_SECRET_ACCESS_KEY" not in environment
    assert environment["CNAI_MONITOR"] == "m"
    allowed = {"PATH", "HOME", "LANG", "TZ", "LC_CTYPE"}  # LC_CTYPE: Python's own locale coercion
    assert {k for k in environment if not k.startswith("CNAI_")} <= allowed
    [action] = actions.json()["actions"]
    assert action["last_result"] == "exit 3"
    assert "LEAKED" not in actions.text
    assert "LEAKED nothing" in caplog.text  # the operator still sees it, in the server log


async def test_a_server_restarted_without_the_opt_in_does_not_run_a_stored_command(env: Env) -> None:
    marker = env.tmp / "ran"
    env.apply("m", actions=[{"command": {"argv": [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]}}])
    controller = env.controller(context=AdmissionContext())  # restarted without --allow-command-actions
    await controller.start()
    try:
        await env.produce(50, shift=2.0, seed=2)
        await await_for(lambda: MonitorStore(env.engine).summary("m")["actions"]["failed"] == 1, what="a refusal")
    finally:
        await controller.stop()
    [action] = MonitorStore(env.engine).actions("m")
    assert action["last_result"] == "refused: this server was started without --allow-command-actions"
    assert not marker.exists()


# -- webhooks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",  # the database's port
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata address
        "http://[::1]:8080/",
        "http://10.0.0.1/hook",
        "http://localhost:6379/",  # a name that resolves to loopback
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",  # 127.0.0.1 spelled as a number
        "http://0.0.0.0:8080/",
    ],
)
def test_webhooks_to_the_servers_neighbourhood_are_refused_without_the_allowlist(env: Env, url: str) -> None:
    with client(env, AdmissionContext()) as http:
        refused(put(http, env, [{"webhook": {"url": url}}]), "--webhook-allowlist")


def test_an_allowlisted_private_webhook_needs_an_admin(env: Env) -> None:
    context = AdmissionContext(webhook_allowlist=("10.0.0.0/8", "localhost"))
    with client(env, context) as http:
        refused(put(http, env, [{"webhook": {"url": "http://10.0.0.1/hook"}}], role="editor"), "admin role")
        assert put(http, env, [{"webhook": {"url": "http://10.0.0.1/hook"}}]).status_code == 201
        assert put(http, env, [{"webhook": {"url": "http://localhost:9/hook"}}], name="n").status_code == 201
        # Allow-listing one network opens no other.
        refused(put(http, env, [{"webhook": {"url": "http://169.254.169.254/"}}], name="o"), "link-local")
        # A public address is open to editors.
        public = put(http, env, [{"webhook": {"url": "http://93.184.215.14/hook"}}], role="editor", name="p")
        assert public.status_code == 201, public.text


def test_credentials_are_refused_in_plain_text_and_shown_only_as_references(env: Env) -> None:
    with client(env, AdmissionContext()) as http:
        for name in ("Authorization", "X-Api-Key", "Cookie", "X-Auth-Token"):
            answer = put(http, env, [{"webhook": {"url": "http://93.184.215.14/", "headers": {name: "s3cret"}}}])
            assert answer.status_code == 400, answer.text
            assert "secretEnv" in answer.json()["error"]
        bad_name = {"Authorization": {"secretEnv": "DATABASE_URL"}}  # only CNAI_SECRET_* may be read
        assert put(http, env, [{"webhook": {"url": "http://93.184.215.14/", "headers": bad_name}}]).status_code == 400
        in_url = put(http, env, [{"webhook": {"url": "http://user:pw@93.184.215.14/"}}])
        assert in_url.status_code == 400
        headers = {"Authorization": {"secretEnv": "CNAI_SECRET_HOOK"}, "X-Team": "ml"}
        assert put(http, env, [{"webhook": {"url": "http://93.184.215.14/", "headers": headers}}]).status_code == 201
        shown = http.get("/api/v1/resources/monitors/m").json()["spec"]["actions"][0]["webhook"]["headers"]
    assert shown == headers


class Answering:
    """An HTTP server that answers every POST with one fixed status, body and headers."""

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.hits: list[dict[str, str]] = []
        answering = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answering.hits.append(dict(self.headers.items()))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


async def test_redirects_are_not_followed(target: Receiver) -> None:
    redirecting = Answering(302, headers={"Location": target.url})
    try:
        async with httpx.AsyncClient(follow_redirects=True) as http:  # even a client that would follow
            attempt = await post_webhook(http, Webhook(url=redirecting.url), "k", {"monitor": "m"}, OPT_IN)
    finally:
        redirecting.close()
    assert (attempt.ok, attempt.retryable, attempt.detail) == (False, False, "HTTP 302")
    assert target.posts == []


async def test_an_error_answer_is_not_echoed(caplog: pytest.LogCaptureFixture) -> None:
    leaking = Answering(500, body=b'{"internal": "redis version 7.2, keys: session:*"}')
    try:
        async with httpx.AsyncClient() as http:
            attempt = await post_webhook(http, Webhook(url=leaking.url), "m/1/0", {"monitor": "m"}, OPT_IN)
    finally:
        leaking.close()
    assert attempt.detail == "HTTP 500"
    assert "redis version" in caplog.text  # in the server log, with the monitor and action named
    assert "m/1/0" in caplog.text


async def test_the_delivery_checks_the_address_again(target: Receiver) -> None:
    """Stored while allowed (or before a name moved to a private address): refused when sent."""
    async with httpx.AsyncClient() as http:
        attempt = await post_webhook(http, Webhook(url=target.url), "k", {"monitor": "m"}, AdmissionContext())
    assert (attempt.ok, attempt.retryable) == (False, False)
    assert attempt.detail == "refused: 127.0.0.1 is a loopback address, which is not on --webhook-allowlist"
    assert target.posts == []


async def test_a_name_is_sent_to_its_checked_address_with_its_own_host_header(
    target: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNAI_SECRET_HOOK", "Bearer from-the-environment")
    port = target.url.split(":")[2].split("/")[0]
    options = Webhook.model_validate(
        {"url": f"http://localhost:{port}/hook", "headers": {"Authorization": {"secretEnv": "CNAI_SECRET_HOOK"}}}
    )
    context = AdmissionContext(webhook_allowlist=("localhost",))
    async with httpx.AsyncClient() as http:
        attempt = await post_webhook(http, options, "k", {"monitor": "m"}, context)
    assert attempt.ok, attempt.detail
    [(_, _, headers)] = target.posts
    assert headers["Host"] == f"localhost:{port}"
    assert headers["Authorization"] == "Bearer from-the-environment"
    monkeypatch.delenv("CNAI_SECRET_HOOK")
    async with httpx.AsyncClient() as http:
        missing = await post_webhook(http, options, "k", {"monitor": "m"}, context)
    assert missing.detail == "header Authorization: CNAI_SECRET_HOOK is not set on the server"
    assert len(target.posts) == 1
