"""Continuous batching for llama.cpp: many conversations share each decoding step.

Decoding a small model is bound by reading its weights once per step where compute is plentiful,
so one step that advances eight sequences can cost little more than one that advances one (on
two CPU cores it is compute that binds: see the README's serving benchmark). ``DecodeLoop`` owns
a llama.cpp context with ``slots`` sequences; the process's one decoding thread (``Decoder``,
shared by every model) runs, step after step:

1. admits waiting requests into free slots, the owner with the fewest sequences running first
   (each key's fair share of the batch), reusing the longest prompt prefix already in the cache
   (its own slot's, or copied from another slot's: the system prompt and tool list are computed
   once);
2. builds one batch: the next token of every generating sequence, then prompt chunks of the
   joining ones, up to ``n_batch`` tokens;
3. decodes it and samples each sequence with its own sampler chain (temperature, top-p, seed,
   repetition penalty, grammar), checks its stop strings and end-of-generation token, and hands
   the new text to the request's queue.

A request whose reader goes away (``Generation.cancel``) leaves the batch at the next step. The
queue of waiting requests is bounded: beyond ``queue_limit`` ``submit`` raises ``ServerBusyError``.
This is the scheduling of llama.cpp's own server (slots, prompt-cache reuse, chunked prefill),
in Python around llama-cpp-python's low-level API.
"""

from __future__ import annotations

import codecs
import ctypes
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import llama_cpp
from llama_cpp import _internals as internals

from pasar.errors import ContextLengthError, PasarError, ServerBusyError
from pasar.models.engine import SamplingParams
from pasar.models.types import ChatChunk, FinishReason, Usage

PENALTY_LAST_N = 64  # tokens the repetition penalty looks back over (llama-cpp-python's default)


class LoopObserver(Protocol):
    """Where the loop reports what a server's metrics count (``serve/metrics.py``)."""

    def step(self, sequences: int, tokens: int) -> None: ...

    def sequence_done(self, first_token_s: float | None, tokens: int, seconds: float) -> None: ...


@dataclass
class Request:
    """One sequence to generate: the prompt's tokens and how to sample after it."""

    prompt: list[int]
    params: SamplingParams
    stop: tuple[str, ...] = ()
    grammar: llama_cpp.LlamaGrammar | None = None
    # With trigger tokens the grammar is lazy: text is free until the model samples one of
    # them (a tool-call opening tag), and from there on the grammar holds.
    grammar_triggers: tuple[int, ...] = ()
    grammar_trigger_patterns: tuple[str, ...] = ()  # regexes over the text, from its start
    shown_special: tuple[int, ...] = ()  # special tokens written out as text (tool-call tags)
    banned: tuple[int, ...] = ()  # tokens never sampled (see llamacpp.unsafe_call_openers)
    repeat_penalty: float = 1.0
    owner: str = ""  # whose share of the batch this counts against (an API key, an address)
    submitted: float = field(default_factory=time.perf_counter)
    events: queue.SimpleQueue[ChatChunk | BaseException] = field(default_factory=queue.SimpleQueue)
    cancelled: threading.Event = field(default_factory=threading.Event)


class Generation:
    """The reader's side of a request: iterate for ChatChunks (the last has finish_reason and
    usage); ``cancel`` frees its slot."""

    def __init__(self, request: Request, loop: DecodeLoop):
        self.request, self._loop = request, loop

    def __iter__(self) -> Iterator[ChatChunk]:
        try:
            while True:
                item = self.request.events.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            self.cancel()

    def cancel(self) -> None:
        if not self.request.cancelled.is_set():
            self.request.cancelled.set()
            self._loop.wake()


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def held_back(text: str, stops: Sequence[str]) -> int:
    """How many characters at the end of ``text`` could begin a stop string (not sent yet)."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


def utf8_decoder() -> codecs.IncrementalDecoder:
    """Token bytes to text; a model may write bytes that are not UTF-8: shown as U+FFFD, not
    an error."""
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


class Slot:
    """One sequence of the llama.cpp context: what its cache holds and who is using it."""

    def __init__(self, seq_id: int):
        self.seq_id = seq_id
        self.cached: list[int] = []  # tokens whose keys and values the cache holds, in order
        self.next_token: int | None = None  # sampled, to be decoded with the next step
        self.request: Request | None = None
        self.pending: list[int] = []  # prompt tokens still to decode
        self.sampler: internals.LlamaSampler | None = None
        self.generated = 0
        self.text = ""  # decoded and not yet sent (it may begin a stop string)
        self.decoder = utf8_decoder()
        self.first_token_at: float | None = None
        self.last_used = 0.0

    @property
    def busy(self) -> bool:
        return self.request is not None


class Decoder:
    """The one thread that runs every model's decoding steps, in turn.

    llama.cpp parallelises each step with OpenMP, and OpenMP keeps a team of threads per
    calling thread: a second model decoding on a thread of its own leaves its team beside the
    first one's, and on two cores one model's answers slowed several times over once another
    had answered. One thread, one team.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.loops: list[DecodeLoop] = []
        self._thread: threading.Thread | None = None

    def add(self, loop: DecodeLoop) -> None:
        with self.cond:
            self.loops.append(loop)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pasar-decode", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not (busy := [loop for loop in self.loops if loop._has_work()]):
                    self.cond.wait()
                for loop in busy:
                    loop._admit()
                    loop._stepping = True
            try:
                for loop in busy:
                    try:
                        loop._step()
                    except Exception as exc:  # noqa: BLE001 - its answers fail, the thread goes on
                        for slot in loop.slots:
                            if slot.busy:
                                loop._fail(slot, exc)
            finally:
                with self.cond:
                    for loop in busy:
                        loop._stepping = False
                    self.cond.notify_all()


DECODER = Decoder()


class DecodeLoop:
    def __init__(
        self,
        llm: llama_cpp.Llama,
        *,
        slots: int,
        n_ctx: int,
        n_threads: int | None = None,
        n_batch: int = 512,
        queue_limit: int = 64,
    ):
        if slots < 1:
            raise ValueError(f"slots={slots}: must be at least 1")
        if queue_limit < 0:
            raise ValueError(f"queue_limit={queue_limit}: must be >= 0")
        self.llm, self.n_ctx, self.n_batch, self.queue_limit = llm, n_ctx, n_batch, queue_limit
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx * slots
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = slots
        params.kv_unified = True  # one cache for all sequences, so a shared prefix is stored once
        if n_threads is not None:
            params.n_threads = params.n_threads_batch = n_threads
        self._model = llm._model
        self._ctx = internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._memory = llama_cpp.llama_get_memory(self._ctx.ctx)
        self._batch = internals.LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=1, verbose=False)
        self._vocab = self._model.vocab
        self.slots = [Slot(i) for i in range(slots)]
        self._waiting: list[Request] = []
        self._cond = DECODER.cond
        self._closed = False
        self._stepping = False
        self.observer: LoopObserver | None = None
        self.prompt_tokens_cached = 0  # prompt tokens taken from the cache instead of decoded
        self.prompt_tokens_decoded = 0
        DECODER.add(self)

    # -- the callers' side ---------------------------------------------------------------------
    def submit(self, request: Request) -> Generation:
        if len(request.prompt) >= self.n_ctx:
            raise ContextLengthError(
                f"the prompt does not fit the context window of {self.n_ctx} tokens (it has "
                f"{len(request.prompt)}). Shorten the conversation, or raise the window with "
                "PASAR_N_CTX / n_ctx"
            )
        with self._cond:
            if self._closed:
                raise PasarError("this model was closed; load it again")
            if len(self._waiting) >= self.queue_limit and not self._free_slot_exists():
                raise ServerBusyError(
                    f"{len(self._waiting)} requests are already waiting for this model's "
                    f"{len(self.slots)} sequences; retry in a few seconds, or raise "
                    "PASAR_PARALLEL / PASAR_QUEUE_LIMIT on the server",
                    retry_after_s=2,
                )
            self._waiting.append(request)
            self._cond.notify_all()
        return Generation(request, self)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return sum(s.busy for s in self.slots)

    def close(self) -> None:
        with self._cond:
            while self._stepping:
                self._cond.wait()
            self._closed = True
            DECODER.loops.remove(self)
            for request in self._waiting:
                request.events.put(PasarError("the model was closed"))
            for slot in self.slots:
                if slot.request is not None:
                    slot.request.events.put(PasarError("the model was closed"))
        for slot in self.slots:
            if slot.sampler is not None:
                slot.sampler.close()
        self._batch.close()
        self._ctx.close()

    # -- the loop ------------------------------------------------------------------------------
    def _free_slot_exists(self) -> bool:
        return any(not s.busy for s in self.slots)

    def _has_work(self) -> bool:
        self._drop_cancelled_waiting()
        return bool(self._waiting) or any(s.busy for s in self.slots)

    def _drop_cancelled_waiting(self) -> None:
        self._waiting = [r for r in self._waiting if not r.cancelled.is_set()]

    def _admit(self) -> None:
        while self._waiting and self._free_slot_exists():
            running = Counter(s.request.owner for s in self.slots if s.request is not None)
            request = min(self._waiting, key=lambda r: (running[r.owner], r.submitted))
            self._waiting.remove(request)
            self._start(request)

    def _start(self, request: Request) -> None:
        prompt = request.prompt
        # The longest prefix of this prompt already in the cache, in any slot.
        source = max(self.slots, key=lambda s: common_prefix(s.cached, prompt))
        shared = min(common_prefix(source.cached, prompt), len(prompt) - 1)  # keep one to decode
        free = [s for s in self.slots if not s.busy]
        slot = source if not source.busy else min(free, key=lambda s: s.last_used)
        mem = self._memory
        if slot is source:
            llama_cpp.llama_memory_seq_rm(mem, slot.seq_id, shared, -1)
        else:
            llama_cpp.llama_memory_seq_rm(mem, slot.seq_id, -1, -1)
            if shared > 0:
                llama_cpp.llama_memory_seq_cp(mem, source.seq_id, slot.seq_id, 0, shared)
        slot.cached = list(prompt[:shared])
        slot.pending = list(prompt[shared:])
        self.prompt_tokens_cached += shared
        slot.request = request
        slot.generated, slot.text, slot.first_token_at = 0, "", None
        slot.decoder = utf8_decoder()
        slot.sampler = self._sampler(request)

    def _sampler(self, request: Request) -> internals.LlamaSampler:
        sampler = internals.LlamaSampler()
        if request.banned:
            sampler.add_logit_bias(
                self._model.n_vocab(), dict.fromkeys(request.banned, float("-inf"))
            )
        if request.repeat_penalty != 1.0:
            sampler.add_penalties(
                n_vocab=self._model.n_vocab(),
                penalty_last_n=PENALTY_LAST_N,
                penalty_repeat=request.repeat_penalty,
                penalty_freq=0.0,
                penalty_present=0.0,
            )
        if request.grammar is not None and (
            request.grammar_triggers or request.grammar_trigger_patterns
        ):
            sampler.add_grammar_lazy_patterns(
                self._model,
                request.grammar,
                list(request.grammar_trigger_patterns),
                list(request.grammar_triggers),
            )
        elif request.grammar is not None:
            sampler.add_grammar(self._model, request.grammar)
        params = request.params
        if params.temperature == 0:
            sampler.add_greedy()
        else:
            sampler.add_top_p(params.top_p, 1)
            sampler.add_temp(params.temperature)
            seed = params.seed if params.seed is not None else random.getrandbits(32)
            sampler.add_dist(seed & 0xFFFFFFFF)
        return sampler

    def _step(self) -> None:
        batch = self._batch.batch
        n = 0
        sampled: list[tuple[Slot, int]] = []  # (slot, index of its logits in the batch)
        for slot in self.slots:
            if slot.request is not None and slot.request.cancelled.is_set():
                self._finish(slot, None)

        def add(slot: Slot, token: int, logits: bool) -> None:
            nonlocal n
            batch.token[n] = token
            batch.pos[n] = len(slot.cached)
            batch.seq_id[n][0] = slot.seq_id
            batch.n_seq_id[n] = 1
            batch.logits[n] = logits
            if logits:
                sampled.append((slot, n))
            slot.cached.append(token)
            n += 1

        for slot in self.slots:
            if slot.busy and slot.next_token is not None:
                add(slot, slot.next_token, True)
                slot.next_token = None
        joining = sorted(
            (s for s in self.slots if s.busy and s.pending),
            key=lambda s: s.request.submitted if s.request else 0.0,
        )
        for slot in joining:
            if n >= self.n_batch:
                break
            chunk = slot.pending[: self.n_batch - n]
            del slot.pending[: len(chunk)]
            for i, token in enumerate(chunk):
                add(slot, token, i == len(chunk) - 1 and not slot.pending)
            self.prompt_tokens_decoded += len(chunk)
        if n == 0:
            return
        batch.n_tokens = n
        status = llama_cpp.llama_decode(self._ctx.ctx, batch)
        if status != 0:
            for slot in {s for s in self.slots if s.busy}:
                self._fail(slot, PasarError(f"llama.cpp could not decode (status {status})"))
            return
        if self.observer is not None:
            self.observer.step(len(sampled), n)
        for slot, index in sampled:
            assert slot.sampler is not None
            token = slot.sampler.sample(self._ctx, index)  # also accepts it into the chain
            self._emit(slot, token)

    def _emit(self, slot: Slot, token: int) -> None:
        request = slot.request
        assert request is not None
        if slot.first_token_at is None:
            slot.first_token_at = time.perf_counter()
        if llama_cpp.llama_vocab_is_eog(self._vocab, token):
            self._send(slot, slot.text)
            self._finish(slot, "stop")
            return
        slot.generated += 1
        slot.next_token = token
        slot.text += slot.decoder.decode(self._piece(token, token in request.shown_special))
        stops = request.stop
        hits = [(slot.text.find(s), s) for s in stops if s in slot.text]
        if hits:
            at = min(hits)[0]
            self._send(slot, slot.text[:at])
            self._finish(slot, "stop")
            return
        keep = held_back(slot.text, stops)
        self._send(slot, slot.text[: len(slot.text) - keep])
        slot.text = slot.text[len(slot.text) - keep :]
        if slot.generated >= request.params.max_tokens or len(slot.cached) + 1 >= self.n_ctx:
            self._send(slot, slot.text)
            self._finish(slot, "length")

    def _piece(self, token: int, special: bool = False) -> bytes:
        """The token's text as bytes (a multi-byte character may span tokens)."""
        buffer = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, special)
        if n < 0:  # longer than the buffer: -n is its length
            buffer = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, special)
        return buffer.raw[:n]

    def _send(self, slot: Slot, text: str) -> None:
        assert slot.request is not None
        if text:
            slot.request.events.put(ChatChunk(text))
        slot.text = ""

    def _finish(self, slot: Slot, reason: FinishReason | None) -> None:
        request = slot.request
        assert request is not None
        if reason is not None:
            usage = Usage(len(request.prompt), slot.generated)
            request.events.put(ChatChunk("", finish_reason=reason, usage=usage))
        self._release(slot)
        if self.observer is not None:
            started = request.submitted
            first = None if slot.first_token_at is None else slot.first_token_at - started
            self.observer.sequence_done(first, slot.generated, time.perf_counter() - started)

    def _fail(self, slot: Slot, error: BaseException) -> None:
        assert slot.request is not None
        slot.request.events.put(error)
        llama_cpp.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
        slot.cached = []
        self._release(slot)

    def _release(self, slot: Slot) -> None:
        slot.request, slot.pending, slot.next_token = None, [], None
        if slot.sampler is not None:
            slot.sampler.close()
            slot.sampler = None
        slot.last_used = time.perf_counter()
