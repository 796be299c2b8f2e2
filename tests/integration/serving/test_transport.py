"""Transport limits on both servers (cnai serve and cnai server), tried with raw sockets as an attacker would.

Slowloris (half a request line, then nothing) is disconnected after the head deadline; a 100 KB
header gets 431; a client that stops in the middle of its body gets 408 and the connection closed.
Normal requests and keep-alive connections still work. The timeouts are 1 s here; the socket
reads give up after 10 s, long before which the old servers had still not closed anything.
"""

from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.fixtures import serving_models as sm
from tests.fixtures.servers import ServerProcess, start_server_process
from tests.integration.serving.conftest import serve_settings

pytestmark = pytest.mark.integration

READ_GIVE_UP_S = 10.0


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("transport-models")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = sm.save_exploding(root / "m")
    settings = serve_settings(
        tmp_path_factory.mktemp("transport-home"),
        {"m": model},
        header_timeout_seconds=1,
        body_timeout_seconds=1,
        inference_log=False,
    )
    live = sm.start_serving(settings)
    yield live.url
    live.stop()


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("transport-plane")
    with pytest.MonkeyPatch.context() as mp:  # cnai server reads its limits from CNAI_* like any setting
        mp.setenv("CNAI_HEADER_TIMEOUT_SECONDS", "1")
        mp.setenv("CNAI_BODY_TIMEOUT_SECONDS", "1")
        server: ServerProcess = start_server_process(home, f"sqlite:///{home / 'cnai.db'}", str(home / "artifacts"))
    yield server.url
    server.stop()


@pytest.fixture(params=["serving", "control_plane"])
def server(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(url, a POST path that reads a JSON body) of each server."""
    path = "/invocations" if request.param == "serving" else "/api/2.0/mlflow/experiments/create"
    return str(request.getfixturevalue(request.param)), path


@pytest.fixture
def url(server: tuple[str, str]) -> str:
    return server[0]


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=READ_GIVE_UP_S)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; TimeoutError if it never does."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_response(sock: socket.socket) -> bytes:
    """One response with a content-length body, leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")) if k.lower() == b"content-length"
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_slowloris_half_a_request_line_is_disconnected(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /health HT")
        answer = _read_until_closed(sock)  # the old servers held the connection: TimeoutError here
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")


def test_half_the_headers_then_nothing_is_disconnected(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: a")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_a_connection_that_never_sends_is_closed(url: str) -> None:
    with _connect(url) as sock:
        assert _read_until_closed(sock) == b""


def test_100_kb_header_is_431(url: str) -> None:
    with _connect(url) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_many_small_headers_adding_up_are_431(url: str) -> None:
    headers = b"".join(b"x-h%d: %s\r\n" % (i, b"v" * 90) for i in range(1000))  # ~100 KB
    with _connect(url) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n" + headers + b"\r\n")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_body_that_stops_midway_gets_408_and_is_closed(server: tuple[str, str]) -> None:
    url, path = server
    with _connect(url) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            "content-type: application/json\r\ncontent-length: 100\r\n\r\n".encode()
            + b'{"name": "'
        )
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]


def test_keep_alive_and_slow_but_steady_bodies_still_work(server: tuple[str, str]) -> None:
    url, path = server
    with _connect(url) as sock:
        for _ in range(3):  # three requests on one connection
            sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        # Idle between requests for less than the keep-alive timeout (longer than the head deadline).
        time.sleep(1.5)
        if path == "/invocations":
            body = b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}'
        else:
            body = b'{"name": "trickled-%d"}' % time.time_ns()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n".encode()
        )
        for i in range(0, len(body), 20):  # a body trickling in, never pausing for 1 s
            sock.sendall(body[i : i + 20])
            time.sleep(0.3)
        answer = _read_response(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
