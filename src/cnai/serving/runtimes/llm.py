"""GGUF language models through llama.cpp, with continuous batching across requests.

One llama.cpp context holds ``slots`` sequences (``n_seq_max``); an engine thread decodes them
together: every step is one ``llama_decode`` with the next token of each running sequence plus
chunks of the prompts being read (chunked prefill), and each sequence samples from its own logits
with its own sampler chain (its seed, temperature, top-p). A request that arrives while others
generate joins at the next step, a finished or cancelled one leaves and frees its slot at once.

We drive llama.cpp's C API (llama-cpp-python's ctypes bindings) rather than its high-level
``Llama`` class, which has one sequence per context and so serialises concurrent requests.

Requests wait in a bounded queue when all slots are busy; beyond ``max_waiting`` ``submit``
refuses with ``QueueFull`` (the server answers 429 with Retry-After), so an answer is never
dropped or cut short silently. Results reach the event loop as events on an asyncio queue, those
of one step in one hand-over.

A finished sequence leaves its tokens' keys and values in its slot's cache (each slot owns
``ctx_per_slot`` cells, ``kv_unified=False``); a new request takes the free slot whose cached
tokens share the longest prefix with its prompt and only reads the rest, as llama.cpp's server
does with its prompt cache. Chat prompts begin with the same rendered system turn, which is then
read once per slot instead of once per request.
"""

from __future__ import annotations

import asyncio
import codecs
import ctypes
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnai.errors import InvalidArgument, Unavailable
from cnai.serving.runtimes.cpu_share import CpuShare

log = logging.getLogger("cnai.serving")

GGUF_MAGIC = b"GGUF"
# A gap in the running sequence ids costs an extra pass over the weights in every step (see
# ``_fill_batch``; about 7 ms a step for SmolLM2-135M on 2 cores), reading a prompt token about 2 ms:
# a slot off the consecutive run is worth taking for a cached prefix at least this much longer.
_PREFIX_WORTH_A_GAP = 64


class QueueFull(Unavailable):
    """Every slot is busy and the waiting queue is full: retry later (HTTP 429)."""

    code = "QUEUE_FULL"


class ContextExceeded(InvalidArgument):
    """The prompt does not fit the context of one sequence."""

    code = "CONTEXT_LENGTH_EXCEEDED"


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == GGUF_MAGIC
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finished:
    """The last event of a generation."""

    finish_reason: str  # "stop" (end of generation or a stop string) or "length"
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float  # submit to first token
    decode_s: float  # first token to last
    cached_tokens: int = 0  # prompt tokens found in the slot's cache, not read again


@dataclass(frozen=True, slots=True)
class Failed:
    message: str


Event = str | Finished | Failed  # text pieces, then one Finished or Failed


@dataclass(eq=False)
class Generation:
    """One request's sequence; its events arrive on ``events`` (an asyncio queue)."""

    prompt: list[int]
    params: SamplingParams
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    cancelled: bool = False
    submitted: float = field(default_factory=time.perf_counter)

    def emit(self, event: Event) -> None:
        _hand_over(self.loop, [(self, event)])


def _hand_over(loop: asyncio.AbstractEventLoop, items: list[tuple[Generation, Event]]) -> None:
    try:
        loop.call_soon_threadsafe(_deliver, items)
    except RuntimeError:  # the event loop is gone (server stopping): nobody waits for these
        pass


def _deliver(items: list[tuple[Generation, Event]]) -> None:
    for gen, event in items:
        gen.events.put_nowait(event)


@dataclass(eq=False)
class _Seq:
    gen: Generation
    seq_id: int
    sampler: Any
    fed: int = 0  # prompt tokens already decoded (or found in the slot's cache)
    pos: int = 0
    cached: int = 0  # prompt tokens found in the slot's cache
    out: list[int] = field(default_factory=list)  # generated tokens decoded into the cache
    last: int = -1  # the sampled token to decode next
    generated: int = 0
    first_at: float = 0.0
    held: str = ""  # text held back: it may be the start of a stop string
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace"))

    @property
    def prefilling(self) -> bool:
        return self.fed < len(self.gen.prompt)


class LlamaEngine:
    """A GGUF model and the thread that decodes its sequences together."""

    flavor = "gguf"

    def __init__(
        self,
        path: Path,
        *,
        slots: int = 8,
        ctx_per_slot: int = 2048,
        max_waiting: int = 32,
        n_batch: int = 512,
        threads: int | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> None:
        import llama_cpp as lc

        self._lc = lc
        self.path = path
        self.slots = slots
        self.max_waiting = max_waiting
        self.n_batch = n_batch
        self.on_step = on_step  # called with the number of sequences in each decode step
        lc.llama_backend_init()
        _silence_llama_log(lc)
        mparams = lc.llama_model_default_params()
        self._model = lc.llama_model_load_from_file(str(path).encode(), mparams)
        if not self._model:
            raise InvalidArgument(f"{path}: llama.cpp could not load this GGUF file")
        self._vocab = lc.llama_model_get_vocab(self._model)
        # Threads: every step, one token or many, gets the cores other processes leave idle
        # (CpuShare: threads meet at a barrier per operation, so one that loses its core stalls the
        # rest). On idle cores a second thread makes one stream's decode about 30% faster (measured
        # with raw llama-cpp-python, 73 against 97 tokens/s); beside a busy process it halves it.
        # ``threads`` fixes the count.
        cores = sorted(os.sched_getaffinity(0))
        self._share = CpuShare(cores) if not threads else None
        self._step_threads = threads or 1
        self._batch_threads = threads or 1
        cparams = lc.llama_context_default_params()
        train_ctx = lc.llama_model_n_ctx_train(self._model)
        self.ctx_per_slot = min(ctx_per_slot, train_ctx) if train_ctx > 0 else ctx_per_slot
        cparams.n_ctx = self.ctx_per_slot * slots
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_batch
        cparams.n_seq_max = slots
        cparams.n_threads = self._step_threads
        cparams.n_threads_batch = self._batch_threads
        cparams.kv_unified = False  # each sequence owns ctx_per_slot cells: one cannot starve another
        cparams.no_perf = True
        self._ctx = lc.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            lc.llama_model_free(self._model)
            raise Unavailable(f"{path}: llama.cpp could not create a context of {cparams.n_ctx} tokens")
        self._mem = lc.llama_get_memory(self._ctx)
        self._batch = lc.llama_batch_init(n_batch, 0, 1)
        self.chat_template = self._meta("tokenizer.chat_template")
        self.bos_text = self._piece(lc.llama_vocab_bos(self._vocab), special=True)
        self.eos_text = self._piece(lc.llama_vocab_eos(self._vocab), special=True)
        self._free = list(range(slots - 1, -1, -1))
        self._cache: list[list[int]] = [[] for _ in range(slots)]  # tokens in each slot's cells
        self._outbox: list[tuple[Generation, Event]] = []  # events of the current step
        self._running: list[_Seq] = []
        self._waiting: deque[Generation] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._tokenize_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"llm-{path.stem}", daemon=True)
        self._thread.start()

    # ---- what the server reads ----------------------------------------------------------------
    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Tokens of ``text``; ``special``: add BOS if the model wants it (raw completions)."""
        lc = self._lc
        data = text.encode()
        size = len(data) + 8
        buf = (lc.llama_token * size)()
        with self._tokenize_lock:
            n = lc.llama_tokenize(self._vocab, data, len(data), buf, size, special, True)
            if n < 0:
                size = -n
                buf = (lc.llama_token * size)()
                n = lc.llama_tokenize(self._vocab, data, len(data), buf, size, special, True)
        return list(buf[:n])

    def submit(self, prompt: list[int], params: SamplingParams) -> Generation:
        """Queue a generation; raises ``QueueFull`` or ``ContextExceeded`` rather than accept what it cannot do."""
        if not prompt:
            raise InvalidArgument("The prompt is empty")
        if len(prompt) >= self.ctx_per_slot:
            raise ContextExceeded(
                f"This model's context is {self.ctx_per_slot} tokens per request; the prompt has {len(prompt)} "
                "tokens. Shorten the prompt."
            )
        gen = Generation(prompt, params, asyncio.get_running_loop())
        with self._cond:
            if self._closed:
                raise Unavailable("The model is shutting down")
            if not self._free and len(self._waiting) >= self.max_waiting:
                raise QueueFull(
                    f"All {self.slots} slots are busy and {len(self._waiting)} requests wait: retry shortly"
                )
            self._waiting.append(gen)
            self._cond.notify()
        return gen

    def cancel(self, gen: Generation) -> None:
        """Stop a generation (its client left); its slot is freed at the next step."""
        with self._cond:
            gen.cancelled = True
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        lc = self._lc
        for seq in self._running:
            lc.llama_sampler_free(seq.sampler)
        lc.llama_batch_free(self._batch)
        lc.llama_free(self._ctx)
        lc.llama_model_free(self._model)

    # ---- the engine thread --------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._running and not self._waiting:
                    # idle: keep the measure of other processes' CPU use fresh for the next prompt
                    self._cond.wait(self._share.window_s if self._share else None)
                    if self._share:
                        self._share.threads()
                if self._closed:
                    for gen in self._waiting:
                        gen.emit(Failed("The model was unloaded"))
                    for seq in self._running:
                        seq.gen.emit(Failed("The model was unloaded"))
                    return
                self._admit()
            self._drop_cancelled()
            if self._running:
                self._step()
            self._send_outbox()

    def _step(self) -> None:
        try:
            outputs = self._fill_batch()
            self._set_threads()
            rc = self._lc.llama_decode(self._ctx, self._batch)
            if rc != 0:
                raise RuntimeError(f"llama_decode returned {rc}")
            if self.on_step is not None:
                self.on_step(len(self._running))
            for seq, idx in outputs:
                self._sample(seq, idx)
        except Exception as exc:  # a failing decode fails the requests in it, not the server
            log.exception("LLM decode step failed")
            for seq in list(self._running):
                self._emit(seq.gen, Failed(f"Generation failed: {exc}"))
                self._release(seq, keep_cache=False)  # what the failed step left in the cells is unknown

    def _set_threads(self) -> None:
        if self._share is None:
            return  # fixed counts
        threads = self._share.threads()
        if threads != self._batch_threads:  # llama.cpp runs one-token steps on n_threads, others on n_threads_batch
            self._step_threads = self._batch_threads = threads
            self._lc.llama_set_n_threads(self._ctx, threads, threads)

    def _emit(self, gen: Generation, event: Event) -> None:
        self._outbox.append((gen, event))

    def _send_outbox(self) -> None:
        """Hand this step's events to the event loop(s) at once: one wake-up per step, not per token."""
        if not self._outbox:
            return
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Generation, Event]]] = {}
        for item in self._outbox:
            by_loop.setdefault(item[0].loop, []).append(item)
        self._outbox = []
        for loop, items in by_loop.items():
            _hand_over(loop, items)

    def _admit(self) -> None:
        lc = self._lc
        while self._free and self._waiting:
            gen = self._waiting.popleft()
            if gen.cancelled:
                continue
            seq_id = self._free.pop(self._pick_slot(gen.prompt))
            cache = self._cache[seq_id]
            # keep at least the last prompt token to read: its logits give the first token
            keep = min(_common_prefix(cache, gen.prompt), len(gen.prompt) - 1)
            lc.llama_memory_seq_rm(self._mem, seq_id, keep, -1)
            del cache[keep:]
            seq = _Seq(gen, seq_id, self._sampler(gen.params), fed=keep, pos=keep, cached=keep)
            self._running.append(seq)

    def _pick_slot(self, prompt: list[int]) -> int:
        """Index in ``_free`` of the slot to use: the lowest free sequence id (running sequences then
        stay consecutive, see ``_fill_batch``), unless another free slot's cache shares a prefix
        with the prompt longer by ``_PREFIX_WORTH_A_GAP`` tokens (a conversation going on). After
        the first requests every slot holds the chat template's system turn, so the lowest slot
        usually saves that part anyway."""
        lowest = min(range(len(self._free)), key=lambda i: self._free[i])
        longest = max(range(len(self._free)), key=lambda i: _common_prefix(self._cache[self._free[i]], prompt))
        gain = _common_prefix(self._cache[self._free[longest]], prompt) - _common_prefix(
            self._cache[self._free[lowest]], prompt
        )
        return longest if gain >= _PREFIX_WORTH_A_GAP else lowest

    def _drop_cancelled(self) -> None:
        for seq in [s for s in self._running if s.gen.cancelled]:
            self._release(seq)

    def _sampler(self, params: SamplingParams) -> Any:
        lc = self._lc
        chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
        if params.temperature <= 0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
            return chain
        if params.top_p < 1.0:
            lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_p(params.top_p, 1))
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(params.temperature))
        seed = params.seed if params.seed is not None else int.from_bytes(os.urandom(4), "little")
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        return chain

    def _fill_batch(self) -> list[tuple[_Seq, int]]:
        """The next token of each generating sequence (they wait on it), then prompt chunks in
        arrival order up to ``n_batch``; written in ascending sequence id.

        The order matters: with a cache per sequence (``kv_unified=False``) llama.cpp computes a
        batch in one pass only over a run of consecutive, ascending sequence ids and splits it
        everywhere else. Measured here: 8 sequences decoded in ascending order 29 ms a step, in
        descending order 55 ms (8 passes of one token)."""
        quota: dict[int, int] = {}
        room = self.n_batch
        for seq in self._running:
            if not seq.prefilling:
                quota[seq.seq_id] = 1
                room -= 1
        for seq in self._running:
            if seq.prefilling and room > 0:
                quota[seq.seq_id] = take = min(len(seq.gen.prompt) - seq.fed, room)
                room -= take
        batch = self._batch
        n = 0
        outputs: list[tuple[_Seq, int]] = []
        for seq in sorted(self._running, key=lambda q: q.seq_id):
            take = quota.get(seq.seq_id, 0)
            if not take:
                continue
            if seq.prefilling:
                prompt = seq.gen.prompt
                tokens = prompt[seq.fed : seq.fed + take]
                seq.fed += take
                last = seq.fed == len(prompt)  # its logits give the first token
            else:
                seq.out.append(seq.last)
                tokens, last = [seq.last], True
            for i, token in enumerate(tokens):
                batch.token[n] = token
                batch.pos[n] = seq.pos + i
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq.seq_id
                batch.logits[n] = last and i == len(tokens) - 1
                n += 1
            seq.pos += len(tokens)
            if last:
                outputs.append((seq, n - 1))
        batch.n_tokens = n
        return outputs

    def _sample(self, seq: _Seq, idx: int) -> None:
        lc = self._lc
        token = lc.llama_sampler_sample(seq.sampler, self._ctx, idx)
        now = time.perf_counter()
        if seq.generated == 0:
            seq.first_at = now
        if lc.llama_vocab_is_eog(self._vocab, token):
            self._flush(seq)
            self._finish(seq, self._done(seq, "stop", now))
            return
        seq.generated += 1
        seq.last = token
        text = seq.decoder.decode(self._piece_bytes(token))
        if text and self._emit_text(seq, text):
            self._finish(seq, self._done(seq, "stop", now))
            return
        if seq.generated >= seq.gen.params.max_tokens or seq.pos >= self.ctx_per_slot:
            self._flush(seq)
            self._finish(seq, self._done(seq, "length", now))

    def _emit_text(self, seq: _Seq, text: str) -> bool:
        """Send what can no longer be part of a stop string; True when a stop string was reached."""
        stops = seq.gen.params.stop
        if not stops:
            self._emit(seq.gen, text)
            return False
        held = seq.held + text
        hits = [i for i in (held.find(s) for s in stops) if i >= 0]
        if hits:
            if min(hits) > 0:
                self._emit(seq.gen, held[: min(hits)])
            seq.held = ""
            return True
        keep = 0
        for stop in stops:
            for k in range(min(len(stop) - 1, len(held)), 0, -1):
                if held.endswith(stop[:k]):
                    keep = max(keep, k)
                    break
        if len(held) > keep:
            self._emit(seq.gen, held[: len(held) - keep])
        seq.held = held[len(held) - keep :]
        return False

    def _flush(self, seq: _Seq) -> None:
        rest = seq.held + seq.decoder.decode(b"", final=True)
        seq.held = ""
        if rest:
            self._emit(seq.gen, rest)

    def _done(self, seq: _Seq, reason: str, now: float) -> Finished:
        return Finished(
            finish_reason=reason,
            prompt_tokens=len(seq.gen.prompt),
            completion_tokens=seq.generated,
            ttft_s=seq.first_at - seq.gen.submitted,
            decode_s=now - seq.first_at,
            cached_tokens=seq.cached,
        )

    def _finish(self, seq: _Seq, event: Finished | Failed) -> None:
        self._emit(seq.gen, event)
        self._release(seq)

    def _release(self, seq: _Seq, *, keep_cache: bool = True) -> None:
        """Free the slot; its cells keep the tokens read so far for a next prompt that starts alike."""
        self._lc.llama_sampler_free(seq.sampler)
        if keep_cache:
            self._cache[seq.seq_id] = seq.gen.prompt[: seq.fed] + seq.out
        else:
            self._lc.llama_memory_seq_rm(self._mem, seq.seq_id, -1, -1)
            self._cache[seq.seq_id] = []
        with self._cond:  # at once, so no one sees the sequence gone but its slot not yet free
            self._running.remove(seq)
            self._free.append(seq.seq_id)

    # ---- vocabulary -------------------------------------------------------------------------
    def _piece_bytes(self, token: int, special: bool = False) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = self._lc.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._lc.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def _piece(self, token: int, special: bool = False) -> str:
        if token < 0:
            return ""
        return self._piece_bytes(token, special).decode("utf-8", errors="replace")

    def _meta(self, key: str) -> str | None:
        size = 1 << 16
        buf = ctypes.create_string_buffer(size)
        n = self._lc.llama_model_meta_val_str(self._model, key.encode(), buf, size)
        if n < 0:
            return None
        if n >= size:
            buf = ctypes.create_string_buffer(n + 1)
            self._lc.llama_model_meta_val_str(self._model, key.encode(), buf, n + 1)
        return buf.value.decode("utf-8", errors="replace")


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


_LOG_CALLBACK: Any = None  # kept referenced: llama.cpp calls it for the life of the process


def _silence_llama_log(lc: Any) -> None:
    """llama.cpp logs every tensor it loads to stderr; keep only errors (GGML_LOG_LEVEL_ERROR = 4)."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is None:

        def forward(level: int, text: bytes | None, user_data: Any) -> None:
            if level == 4 and text:
                log.error("llama.cpp: %s", text.decode("utf-8", errors="replace").rstrip())

        _LOG_CALLBACK = lc.llama_log_callback(forward)
    lc.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))
