"""The llama.cpp engine (llama-cpp-python): the default for generation on CPU, GGUF files only.

Requests run through a ``DecodeLoop`` (``batching.py``): with ``parallel`` > 1, concurrent
requests share each decoding step (continuous batching) and their common prompt prefixes.
JSON schemas become llama.cpp grammars; the chat template comes from the GGUF's metadata.
Sampling is plain temperature + top-p (llama.cpp's extra top-k and min-p filters are switched
off so that the same settings mean the same thing on every engine). The one exception is the
repetition penalty, a property of the model (its card in ``embedded.py``; 1.0 = off): without
it the 135M model repeats one sentence until ``max_tokens`` at temperature 0. It applies to free
text only, never under a grammar.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import llama_cpp
from llama_cpp import llama_chat_format

from pasar.cache import BoundedCache
from pasar.errors import InvalidSchemaError
from pasar.models.batching import DecodeLoop, Generation, Request
from pasar.models.engine import REQUESTER, Engine, SamplingParams
from pasar.models.types import ChatChunk, ChatResult, Message, Usage

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
        parallel: int = 1,
        queue_limit: int = 64,
        verbose: bool = False,
    ):
        super().__init__(name)
        if repeat_penalty <= 0:
            raise ValueError(f"repeat_penalty={repeat_penalty}: must be > 0 (1.0 = off)")
        self.path = path
        self.repeat_penalty = repeat_penalty
        # The model, its tokenizer and chat template. Its own context serves the scorecard's
        # batch-1 speed probe; answers are decoded by the loop's context.
        self.llm = llama_cpp.Llama(
            model_path=path,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_gpu_layers=n_gpu_layers,
            verbose=verbose,
        )
        self.n_ctx = n_ctx
        self.loop = DecodeLoop(
            self.llm, slots=parallel, n_ctx=n_ctx, n_threads=n_threads, queue_limit=queue_limit
        )
        self._template = chat_template(self.llm)
        # Keyed by the schema a client sent: bounded, or distinct schemas grow it forever.
        self._grammars: BoundedCache[str, llama_cpp.LlamaGrammar] = BoundedCache(
            GRAMMAR_CACHE_ITEMS, GRAMMAR_CACHE_BYTES
        )

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

    def _generation(
        self, messages: list[Message], params: SamplingParams, json_schema: dict[str, Any] | None
    ) -> Generation:
        formatted = self._template(messages=messages)
        prompt = self.llm.tokenize(
            formatted.prompt.encode(), add_bos=not formatted.added_special, special=True
        )
        template_stops = formatted.stop or []
        stops = list(params.stop) + (
            [template_stops] if isinstance(template_stops, str) else list(template_stops)
        )
        request = Request(
            prompt=prompt,
            params=params,
            stop=tuple(stops),
            grammar=self._grammar(json_schema) if json_schema is not None else None,
            # Not under a grammar: JSON and tool calls must copy ids and values exactly.
            repeat_penalty=self.repeat_penalty if json_schema is None else 1.0,
            owner=REQUESTER.get(),
        )
        return self.loop.submit(request)

    def _complete(
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
    ) -> ChatResult:
        text, last = [], ChatChunk("")
        for chunk in self._generation(messages, params, json_schema):
            text.append(chunk.text)
            last = chunk
        return ChatResult(
            text="".join(text),
            finish_reason=last.finish_reason or "stop",
            usage=last.usage or Usage(0, 0),
            model=self.name,
        )

    def _complete_batch(
        self,
        conversations: list[list[Message]],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
    ) -> list[ChatResult]:
        """All submitted at once: with ``parallel`` > 1 they are decoded together."""
        generations = [self._generation(m, params, json_schema) for m in conversations]
        results = []
        for generation in generations:
            chunks = list(generation)
            results.append(
                ChatResult(
                    text="".join(c.text for c in chunks),
                    finish_reason=chunks[-1].finish_reason or "stop",
                    usage=chunks[-1].usage or Usage(0, 0),
                    model=self.name,
                )
            )
        return results

    def _stream(
        self, messages: list[Message], params: SamplingParams, json_schema: dict[str, Any] | None
    ) -> Iterator[ChatChunk]:
        yield from self._generation(messages, params, json_schema)

    def close(self) -> None:
        self.loop.close()
        self.llm.close()


def chat_template(llm: llama_cpp.Llama) -> Any:
    """The prompt formatter llama-cpp-python would use: the GGUF's own chat template, else
    (a base model without one) its Llama-2 fallback."""
    template = llm.metadata.get("tokenizer.chat_template")
    if template is None:
        return llama_chat_format.format_llama2
    eos, bos = llm.token_eos(), llm.token_bos()
    return llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llm._model.token_get_text(bos) if bos != -1 else "",
    )
