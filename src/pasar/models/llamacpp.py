"""The llama.cpp engine (llama-cpp-python): the default for generation on CPU, GGUF files only.

JSON schemas become llama.cpp grammars; the chat template comes from the GGUF's metadata.
Sampling is plain temperature + top-p (llama.cpp's extra top-k and min-p filters are switched
off so that the same settings mean the same thing on every engine). The one exception is the
repetition penalty, a property of the model (its card in ``embedded.py``; 1.0 = off): without
it the 135M model repeats one sentence until ``max_tokens`` at temperature 0. It applies to free
text only, never under a grammar.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import llama_cpp
import numpy as np

from pasar.cache import BoundedCache
from pasar.errors import ContextLengthError, InvalidSchemaError
from pasar.models.engine import Engine, SamplingParams
from pasar.models.types import ChatChunk, ChatResult, Message, Usage

NEUTRAL_SAMPLING = {"top_k": 0, "min_p": 0.0}
GRAMMAR_CACHE_ITEMS = 64  # compiled JSON-schema grammars kept per engine
GRAMMAR_CACHE_BYTES = 16 * 1024 * 1024  # schema and grammar text, all of them together


class LlamaCppEngine(Engine):
    kind = "llamacpp"

    def __init__(
        self,
        name: str,
        path: str,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_gpu_layers: int = -1,  # offload everything when llama.cpp was built with a GPU backend
        repeat_penalty: float = 1.0,
        verbose: bool = False,
    ):
        super().__init__(name)
        if repeat_penalty <= 0:
            raise ValueError(f"repeat_penalty={repeat_penalty}: must be > 0 (1.0 = off)")
        self.path = path
        self.repeat_penalty = repeat_penalty
        self.llm = llama_cpp.Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_gpu_layers=n_gpu_layers,
            verbose=verbose,
        )
        self.n_ctx = n_ctx
        # Keyed by the schema a client sent: bounded, or distinct schemas grow it forever.
        self._grammars: BoundedCache[str, llama_cpp.LlamaGrammar] = BoundedCache(
            GRAMMAR_CACHE_ITEMS, GRAMMAR_CACHE_BYTES
        )
        # One llama.cpp context serves one request at a time.
        self._lock = threading.Lock()

    def _grammar(self, schema: dict[str, Any]) -> llama_cpp.LlamaGrammar:
        key = json.dumps(schema, sort_keys=True)
        grammar = self._grammars.get(key)
        if grammar is None:
            try:
                grammar = llama_cpp.LlamaGrammar.from_json_schema(key, verbose=False)
            except (ValueError, KeyError, NotImplementedError, RuntimeError) as exc:
                raise InvalidSchemaError(
                    f"llama.cpp cannot turn this JSON schema into a grammar: {exc}. "
                    "Simplify the schema (plain types, properties, enums, arrays)"
                ) from exc
            self._grammars.put(key, grammar, size=len(key) + len(grammar._grammar))
        return grammar

    def _request(
        self, messages: list[Message], params: SamplingParams, json_schema: dict[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "messages": messages,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stop": list(params.stop),
            "seed": params.seed,
            "grammar": self._grammar(json_schema) if json_schema is not None else None,
            # Not under a grammar: JSON and tool calls must copy ids and values exactly.
            "repeat_penalty": self.repeat_penalty if json_schema is None else 1.0,
            **NEUTRAL_SAMPLING,
        }

    def _context_error(self, exc: ValueError) -> ContextLengthError:
        return ContextLengthError(
            f"the prompt does not fit the context window of {self.n_ctx} tokens ({exc}). "
            "Shorten the conversation, or raise the window with PASAR_N_CTX / n_ctx "
            "(SmolLM2 was trained on 8192)"
        )

    def _complete(
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
    ) -> ChatResult:
        with self._lock:
            try:
                response: Any = self.llm.create_chat_completion(
                    **self._request(messages, params, json_schema)
                )
            except ValueError as exc:
                if "context window" in str(exc):
                    raise self._context_error(exc) from exc
                raise
        choice = response["choices"][0]
        usage = response["usage"]
        return ChatResult(
            text=choice["message"]["content"] or "",
            finish_reason=choice["finish_reason"] or "stop",
            usage=Usage(usage["prompt_tokens"], usage["completion_tokens"]),
            model=self.name,
        )

    def _stream(
        self, messages: list[Message], params: SamplingParams, json_schema: dict[str, Any] | None
    ) -> Iterator[ChatChunk]:
        # llama-cpp-python's stream carries no usage. The prompt length is read exactly from the
        # first sampling step; completion tokens are counted by tokenizing the streamed text.
        prompt_len: list[int] = []

        def record_prompt_length(input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
            if not prompt_len:
                prompt_len.append(len(input_ids))
            return scores

        request = self._request(messages, params, json_schema)
        request["logits_processor"] = llama_cpp.LogitsProcessorList([record_prompt_length])
        text = []
        with self._lock:
            try:
                chunks: Any = self.llm.create_chat_completion(**request, stream=True)
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    delta = choice["delta"].get("content") or ""
                    finish = choice.get("finish_reason")
                    if finish is None:
                        if delta:
                            text.append(delta)
                            yield ChatChunk(delta)
                        continue
                    full = "".join(text) + delta
                    completion = len(self.llm.tokenize(full.encode(), add_bos=False, special=True))
                    usage = Usage(prompt_len[0] if prompt_len else 0, completion)
                    yield ChatChunk(delta, finish_reason=finish, usage=usage)
            except ValueError as exc:
                if "context window" in str(exc):
                    raise self._context_error(exc) from exc
                raise

    def close(self) -> None:
        self.llm.close()
