"""A recording proxy and a zero-cost replay server for the MLflow REST API, to measure the client.

    python bench/_tracking_replay.py record --port P --upstream http://127.0.0.1:Q --tape FILE
    python bench/_tracking_replay.py replay --port P --tape FILE

`record` forwards every request to a real tracking server and keeps the last response per request
key; `replay` answers each request with the recorded bytes and does nothing else, so a client
driven against it spends what the client itself costs (plus uvicorn's, as the real server pays
it too). The key is the method, path, query string and the body fields that decide a response's
content (a search's filter, page size and token); run ids and timestamps are left out, so (c)'s
200 distinct runs replay as one recorded run and (d)'s searches replay by filter.

A raw ASGI app under uvicorn with uvloop and httptools: the same HTTP stack as `cnai server`,
without a framework in between.
"""

from __future__ import annotations

import argparse
import json
import pickle
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import uvicorn

Key = tuple[str, str, str, str]
Recorded = tuple[int, bytes, bytes]  # status, content type, body
KEY_FIELDS = ("filter", "max_results", "page_token", "order_by", "experiment_ids", "run_view_type")


def request_key(method: str, path: str, query: str, body: bytes) -> Key:
    fields = ""
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            fields = json.dumps({k: parsed.get(k) for k in KEY_FIELDS if k in parsed}, sort_keys=True)
    return method, path, query, fields


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(send: Any, status: int, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def recorder(upstream: str, tape: Path) -> Any:
    recorded: dict[Key, Recorded] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _body(receive)
        query = scope["query_string"].decode()
        url = upstream + scope["path"] + (f"?{query}" if query else "")
        headers = {"Content-Type": "application/json"} if body else {}
        request = urllib.request.Request(url, data=body or None, method=scope["method"], headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                status, content_type, data = resp.status, resp.headers.get("content-type", ""), resp.read()
        except urllib.error.HTTPError as exc:
            status, content_type, data = exc.code, exc.headers.get("content-type", ""), exc.read()
        recorded[request_key(scope["method"], scope["path"], query, body)] = (status, content_type.encode(), data)
        tape.write_bytes(pickle.dumps(recorded))  # small; rewritten so a stopped proxy leaves a full tape
        await _send(send, status, content_type.encode(), data)

    return app


def replayer(tape: Path) -> Any:
    recorded: dict[Key, Recorded] = pickle.loads(tape.read_bytes())

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _body(receive)
        key = request_key(scope["method"], scope["path"], scope["query_string"].decode(), body)
        found = recorded.get(key)
        if found is None:
            await _send(send, 404, b"text/plain", f"not recorded: {key}".encode())
            return
        await _send(send, *found)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["record", "replay"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tape", type=Path, required=True)
    parser.add_argument("--upstream", help="record: the real server's base URL")
    args = parser.parse_args()
    app = recorder(args.upstream.rstrip("/"), args.tape) if args.mode == "record" else replayer(args.tape)
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
