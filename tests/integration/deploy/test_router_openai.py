"""The router on OpenAI routes, against a real replica-like server over real sockets: streamed
answers are relayed as they are written (never buffered), a client that leaves closes the
replica's connection, a replica that dies mid-stream ends the stream with an error event, and a
request naming a model the deployment does not serve gets OpenAI's 404 without reaching a replica.

The replica is a small ASGI app on uvicorn whose stream waits for the test's go-ahead between
events, so "the first event arrived while the rest was not written yet" is a fact, not a timing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from cnai.deploy.router import Backend, Router, RouterServer
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.integration

CHAT = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True})


@dataclass
class Replica:
    """Streams ``data: 1``, ``data: 2``, ``data: [DONE]``, each only once ``go`` is set again."""

    go: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    die_after_first: bool = False
    hold_head: bool = False  # wait for the go-ahead before even the response head

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass

        async def watch() -> None:
            if (await receive())["type"] == "http.disconnect":
                self.disconnected.set()

        watcher = asyncio.create_task(watch())
        self.started.set()
        if self.hold_head:
            await self.disconnected.wait()
            return
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for event in (b"1", b"2", b"[DONE]"):
            go = asyncio.ensure_future(self.go.wait())
            await asyncio.wait([go, watcher], return_when=asyncio.FIRST_COMPLETED)
            if self.disconnected.is_set():  # as the LLM routes do: a client gone ends the generation
                go.cancel()
                return
            self.go.clear()
            if self.die_after_first and event == b"2":
                raise ConnectionAbortedError("replica died")  # uvicorn cuts the connection mid-body
            await send({"type": "http.response.body", "body": b"data: " + event + b"\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        watcher.cancel()


@contextlib.asynccontextmanager
async def serving(app: Replica) -> AsyncIterator[tuple[str, Router]]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    router = Router("chat")
    router.models = frozenset({"chat"})
    router.set_backends([Backend("primary-1", "127.0.0.1", port, "3")], [], 0)
    front = RouterServer(router, "127.0.0.1", 0)
    await front.start()
    try:
        yield front.url, router
    finally:
        await front.stop()
        server.should_exit = True
        await task


async def test_a_stream_is_relayed_as_written_and_counted_when_it_ends() -> None:
    replica = Replica()
    async with serving(replica) as (url, router), httpx.AsyncClient(timeout=10) as client:
        async with client.stream("POST", f"{url}/v1/chat/completions", content=CHAT) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream"
            assert response.headers["x-cnai-target"] == "primary"
            assert response.headers["x-cnai-model-version"] == "3"
            lines = response.aiter_lines()
            replica.go.set()
            assert await anext(lines) == "data: 1"  # while the replica waits to write the rest
            assert router.stats["primary"].in_flight == 1  # busy until the stream ends
            replica.go.set()
            assert await anext(lines) == ""
            assert await anext(lines) == "data: 2"
            replica.go.set()
            rest = [line async for line in lines]
        assert rest == ["", "data: [DONE]", ""]
        assert (router.stats["primary"].requests, router.stats["primary"].errors) == (1, 0)
        assert router.stats["primary"].in_flight == 0


async def test_a_client_that_leaves_mid_stream_disconnects_the_replica() -> None:
    replica = Replica()
    async with serving(replica) as (url, router):
        async with httpx.AsyncClient(timeout=10) as client:
            async with client.stream("POST", f"{url}/v1/chat/completions", content=CHAT) as response:
                replica.go.set()
                assert await anext(response.aiter_lines()) == "data: 1"
        # The client closed its connection: the replica must see its own connection go.
        await asyncio.wait_for(replica.disconnected.wait(), 10)
        for _ in range(100):
            if router.stats["primary"].in_flight == 0:
                break
            await asyncio.sleep(0.02)
        assert router.stats["primary"].in_flight == 0


async def test_a_client_that_leaves_before_the_answer_disconnects_the_replica() -> None:
    replica = Replica(hold_head=True)  # a non-streamed generation: nothing is sent until it is done
    async with serving(replica) as (url, router):
        async with httpx.AsyncClient(timeout=10) as client:
            body = orjson.dumps({"model": "chat", "prompt": "hi"})
            request = asyncio.create_task(client.post(f"{url}/v1/completions", content=body))
            await asyncio.wait_for(replica.started.wait(), 10)
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await request
        await asyncio.wait_for(replica.disconnected.wait(), 10)
        for _ in range(100):
            if router.stats["primary"].in_flight == 0:
                break
            await asyncio.sleep(0.02)
        assert router.stats["primary"].in_flight == 0
        assert router.stats["primary"].requests == 0  # abandoned, not counted as an answer


async def test_an_unknown_model_is_a_404_in_openai_shape_and_never_reaches_a_replica() -> None:
    replica = Replica()
    async with serving(replica) as (url, router), httpx.AsyncClient(timeout=10) as client:
        body = orjson.dumps({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]})
        response = await client.post(f"{url}/v1/chat/completions", content=body)
        assert response.status_code == 404
        error = response.json()["error"]
        assert (error["code"], error["param"], error["type"]) == ("model_not_found", "model", "invalid_request_error")
        assert "'gpt-4'" in error["message"]
        assert "chat" in error["message"]
        assert not replica.started.is_set()
        assert router.stats["primary"].requests == 0


async def test_a_replica_that_dies_mid_stream_ends_it_with_an_error_event() -> None:
    replica = Replica(die_after_first=True)
    async with serving(replica) as (url, router), httpx.AsyncClient(timeout=10) as client:
        async with client.stream("POST", f"{url}/v1/chat/completions", content=CHAT) as response:
            lines = response.aiter_lines()
            replica.go.set()
            assert await anext(lines) == "data: 1"
            replica.go.set()
            rest = [line async for line in lines if line]
        assert len(rest) == 1
        assert rest[0].startswith("data: ")
        assert "stream broke" in orjson.loads(rest[0].removeprefix("data: "))["error"]["message"]
        assert "[DONE]" not in "".join(rest)
        assert (router.stats["primary"].requests, router.stats["primary"].errors) == (1, 1)
