"""Where an LLM step's time goes: raw llama.cpp (llama-cpp-python's C API, no server) on SmolLM2-135M.

The numbers behind the engine's choices in ``cnai.serving.runtimes.llm``:

- reading a 40-token prompt on 1 and 2 threads (time to first token is mostly this);
- one decode step for 1, 4 and 8 sequences on 1 and 2 threads (what batching gains: with Q4_1
  weights llama.cpp's cost grows with the tokens of a step, so only a second thread adds throughput);
- the same 8 sequences written in ascending and in descending sequence id (llama.cpp splits a batch
  over per-sequence caches at every break in the ids);
- one sample (temperature 0.7) from the 49,152 logits of one sequence.

    python bench/llm_steps.py            # writes bench/results/llm-steps.md
"""

from __future__ import annotations

import ctypes
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS_DIR, bench_lock, load_average, machine_summary, now_utc
from llm import gguf_path, prompts_of

SLOTS, CTX = 8, 2048


class Raw:
    def __init__(self, threads: int) -> None:
        import llama_cpp as lc

        self.lc = lc
        lc.llama_backend_init()
        self._quiet = lc.llama_log_callback(lambda level, text, data: None)
        lc.llama_log_set(self._quiet, ctypes.c_void_p(0))
        self.model = lc.llama_model_load_from_file(str(gguf_path()).encode(), lc.llama_model_default_params())
        self.vocab = lc.llama_model_get_vocab(self.model)
        p = lc.llama_context_default_params()
        p.n_ctx, p.n_batch, p.n_ubatch, p.n_seq_max = CTX * SLOTS, 512, 512, SLOTS
        p.n_threads = p.n_threads_batch = threads
        p.kv_unified, p.no_perf = False, True  # as the engine
        self.ctx = lc.llama_init_from_model(self.model, p)
        self.mem = lc.llama_get_memory(self.ctx)
        self.batch = lc.llama_batch_init(512, 0, 1)

    def tokens(self, text: str) -> list[int]:
        buf = (self.lc.llama_token * 512)()
        n = self.lc.llama_tokenize(self.vocab, text.encode(), len(text.encode()), buf, 512, True, True)
        return list(buf[:n])

    def decode(self, items: list[tuple[int, int, int, bool]]) -> float:
        b = self.batch
        for i, (token, pos, seq, logits) in enumerate(items):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
            b.seq_id[i][0] = seq
        b.n_tokens = len(items)
        start = time.perf_counter()
        if self.lc.llama_decode(self.ctx, b) != 0:
            raise RuntimeError("llama_decode failed")
        return time.perf_counter() - start

    def clear(self) -> None:
        for s in range(SLOTS):
            self.lc.llama_memory_seq_rm(self.mem, s, -1, -1)

    def prefill_ms(self, prompts: list[list[int]]) -> float:
        times = []
        for prompt in prompts:
            self.clear()
            times.append(self.decode([(t, i, 0, i == len(prompt) - 1) for i, t in enumerate(prompt)]))
        return statistics.median(times[1:]) * 1000

    def step_ms(self, seqs: list[int], prompt: list[int], steps: int = 24) -> float:
        self.clear()
        for s in seqs:
            self.decode([(t, i, s, False) for i, t in enumerate(prompt)])
        pos, times = len(prompt), []
        for k in range(steps):
            times.append(self.decode([(prompt[k % len(prompt)], pos, s, True) for s in seqs]))
            pos += 1
        return statistics.median(times[2:]) * 1000

    def sample_ms(self) -> float:
        lc = self.lc
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(0.7))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(1))
        times = []
        for _ in range(50):
            start = time.perf_counter()
            lc.llama_sampler_sample(chain, self.ctx, -1)
            times.append(time.perf_counter() - start)
        lc.llama_sampler_free(chain)
        return statistics.median(times) * 1000

    def close(self) -> None:
        self.lc.llama_batch_free(self.batch)
        self.lc.llama_free(self.ctx)
        self.lc.llama_model_free(self.model)


def main() -> None:
    texts = prompts_of(40, 8)
    rows: dict[int, dict[str, Any]] = {}
    with bench_lock():
        load_start = load_average()
        for threads in (1, 2):
            raw = Raw(threads)
            prompts = [raw.tokens(t)[:40] for t in texts]
            r = {"prefill": raw.prefill_ms(prompts)}
            for k in (1, 4, 8):
                r[f"step{k}"] = raw.step_ms(list(range(k)), prompts[0])
            r["desc8"] = raw.step_ms(list(range(7, -1, -1)), prompts[0])
            r["sample"] = raw.sample_ms()
            rows[threads] = r
            raw.close()
            print(threads, r, flush=True)
        load_end = load_average()
    lines = [
        f"Run {now_utc()} on {machine_summary()}; load average at start {load_start}, at end {load_end}.",
        "`python bench/llm_steps.py`: raw llama.cpp, SmolLM2-135M-Instruct Q4_1, the engine's context "
        f"({SLOTS} sequences of {CTX} tokens, a cache per sequence); medians, ms.",
        "",
        "| threads | 40-token prompt | step, 1 sequence | step, 4 | step, 8 | step, 8 in descending ids | one sample |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for threads, r in rows.items():
        lines.append(
            f"| {threads} | {r['prefill']:.1f} | {r['step1']:.1f} | {r['step4']:.1f} | {r['step8']:.1f} "
            f"| {r['desc8']:.1f} | {r['sample']:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    target = RESULTS_DIR / "llm-steps.md"
    target.write_text(text)
    print(text)
    print(f"written to {target}")


if __name__ == "__main__":
    main()
