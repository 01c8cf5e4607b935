"""The llama.cpp engine (llama-cpp-python): the default for generation on CPU, GGUF files only.

Requests run through a ``DecodeLoop`` (``batching.py``): with ``parallel`` > 1, concurrent
requests share each decoding step (continuous batching) and their common prompt prefixes.
JSON schemas become llama.cpp grammars; the chat template comes from the GGUF's metadata.

Tools take one of two forms (``tool_format``). ``json``, for every model: pasar's portable
protocol (``schema.py``): the tool list in a system message, and the answer constrained to JSON
that is either calls or a reply; tool results in the ``tool`` role where the chat template has
one (Qwen2.5: a ``<tool_response>`` turn), else as user messages. ``template``, for models whose
chat template renders tools in the Hermes form (Qwen2.5, and others that write ``<tool_call>``
tags): the template itself renders the tool list, earlier calls and ``tool`` results in the
roles the model was trained on; the answer is free text until the model opens ``<tool_call>``
(or opens the answer with ``{``: Qwen2.5-Coder writes calls as bare JSON), and from there a lazy
grammar holds it to one valid call of one of the tools (what llama.cpp's server does with
``--jinja``).
Sampling is plain temperature + top-p (llama.cpp's extra top-k and min-p filters are switched
off so that the same settings mean the same thing on every engine). The one exception is the
repetition penalty, a property of the model (its card in ``embedded.py``; 1.0 = off): without
it the 135M model repeats one sentence until ``max_tokens`` at temperature 0. It applies to free
text only, never under a grammar.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import llama_cpp
from llama_cpp import llama_chat_format

from pasar.cache import BoundedCache
from pasar.errors import InvalidSchemaError
from pasar.models.batching import DecodeLoop, Generation, Request
from pasar.models.engine import REQUESTER, Engine, SamplingParams
from pasar.models.schema import handles_tool_role, tool_choice_schema
from pasar.models.types import ChatChunk, ChatResult, Message, ToolCall, Usage

GRAMMAR_CACHE_ITEMS = 64  # compiled JSON-schema grammars kept per engine
GRAMMAR_CACHE_BYTES = 16 * 1024 * 1024  # schema and grammar text, all of them together
TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
TOOL_FORMATS = ("json", "template")
# An answer that opens with "{", or with a markdown fence and then "{" (Qwen2.5-Coder-1.5B writes
# its calls as ```json blocks): the grammar holds it from the brace on.
BARE_CALL_PATTERN = r"\s*(?:```(?:json)?\s*)?(\{[\s\S]*)"


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
        tool_format: str = "json",
        verbose: bool = False,
    ):
        super().__init__(name)
        if repeat_penalty <= 0:
            raise ValueError(f"repeat_penalty={repeat_penalty}: must be > 0 (1.0 = off)")
        if tool_format not in TOOL_FORMATS:
            raise ValueError(f"tool_format={tool_format!r}: use one of {', '.join(TOOL_FORMATS)}")
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
        self.tool_role = handles_tool_role(self.llm.metadata.get("tokenizer.chat_template"))
        if tool_format == "template" and not renders_tool_calls(self.llm):
            raise ValueError(
                f"{name}'s chat template does not render tools as <tool_call> tags: use "
                "tool_format='json' (PASAR_TOOL_FORMAT=json), pasar's portable tool protocol"
            )
        self.tool_format = tool_format
        self._openers: tuple[int, ...] | None = None
        self.native_tools = tool_format == "template"
        # Keyed by the schema a client sent: bounded, or distinct schemas grow it forever.
        self._grammars: BoundedCache[str, llama_cpp.LlamaGrammar] = BoundedCache(
            GRAMMAR_CACHE_ITEMS, GRAMMAR_CACHE_BYTES
        )

    def _grammar(self, schema: dict[str, Any]) -> llama_cpp.LlamaGrammar:
        key = json.dumps(schema, sort_keys=True)
        grammar = self._grammars.get(key)
        if grammar is None:
            refuse_escaped_patterns(schema)
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
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None = None,
    ) -> Generation:
        formatted = (
            self._template(messages=template_messages(messages), tools=tools)
            if tools
            else self._template(messages=messages)
        )
        prompt = self.llm.tokenize(
            formatted.prompt.encode(), add_bos=not formatted.added_special, special=True
        )
        template_stops = formatted.stop or []
        stops = list(params.stop) + (
            [template_stops] if isinstance(template_stops, str) else list(template_stops)
        )
        grammar: llama_cpp.LlamaGrammar | None = None
        triggers: tuple[int, ...] = ()
        tags: tuple[int, ...] = ()
        if tools:
            grammar = self._grammar_text(tool_call_grammar(tools))
            triggers = tuple(self.llm.tokenize(TOOL_CALL_OPEN.encode(), False, True))
            tags = triggers + tuple(self.llm.tokenize(TOOL_CALL_CLOSE.encode(), False, True))
        elif json_schema is not None:
            grammar = self._grammar(json_schema)
        request = Request(
            prompt=prompt,
            params=params,
            stop=tuple(stops),
            grammar=grammar,
            grammar_triggers=triggers if len(triggers) == 1 else (),
            # A call written as bare JSON (Qwen2.5-Coder often leaves out the tags) is held
            # to a valid call as well.
            grammar_trigger_patterns=(BARE_CALL_PATTERN,) if tools else (),
            shown_special=tags,
            banned=self._unsafe_openers() if tools else (),
            # Not under a grammar: JSON and tool calls must copy ids and values exactly.
            repeat_penalty=self.repeat_penalty if grammar is None else 1.0,
            owner=REQUESTER.get(),
        )
        return self.loop.submit(request)

    def _unsafe_openers(self) -> tuple[int, ...]:
        """``unsafe_call_openers`` of this model's vocabulary, found once (about a second)."""
        if self._openers is None:
            vocab = self.llm._model
            self._openers = unsafe_call_openers(
                (t, vocab.token_to_piece(t).rstrip(b"\0").decode("utf-8", "replace"))
                for t in range(vocab.n_vocab())
            )
        return self._openers

    def _grammar_text(self, gbnf: str) -> llama_cpp.LlamaGrammar:
        grammar = self._grammars.get(gbnf)
        if grammar is None:
            grammar = llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False)
            self._grammars.put(gbnf, grammar, size=2 * len(gbnf))
        return grammar

    def _complete(
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
    ) -> ChatResult:
        result = self._result(self._generation(messages, params, json_schema, tools))
        if tools:
            result.text, result.tool_calls = parse_tool_call_tags(result.text)
            if result.tool_calls:
                result.finish_reason = "tool_calls"
        return result

    def _complete_batch(
        self,
        conversations: list[list[Message]],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
    ) -> list[ChatResult]:
        """All submitted at once: with ``parallel`` > 1 they are decoded together."""
        generations = [self._generation(m, params, json_schema) for m in conversations]
        return [self._result(generation) for generation in generations]

    def _result(self, generation: Generation) -> ChatResult:
        """A whole answer from its chunks (the last carries finish_reason and usage)."""
        chunks = list(generation)
        return ChatResult(
            text="".join(c.text for c in chunks),
            finish_reason=chunks[-1].finish_reason or "stop",
            usage=chunks[-1].usage or Usage(0, 0),
            model=self.name,
        )

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


def renders_tool_calls(llm: llama_cpp.Llama) -> bool:
    """Whether the GGUF's chat template takes ``tools`` and writes calls in <tool_call> tags
    (the Hermes form of Qwen2.5 and others) with a single token opening them."""
    template = llm.metadata.get("tokenizer.chat_template") or ""
    opening = llm.tokenize(TOOL_CALL_OPEN.encode(), add_bos=False, special=True)
    return "tools" in template and TOOL_CALL_OPEN in template and len(opening) == 1


def template_messages(messages: list[Message]) -> list[Message]:
    """OpenAI messages as chat templates read them: a call's arguments as an object (OpenAI
    sends a JSON string, which templates would quote twice)."""
    rendered = []
    for message in messages:
        calls = message.get("tool_calls")
        if message.get("role") == "assistant" and calls:
            message = {
                **message,
                "tool_calls": [
                    {
                        **c,
                        "function": {
                            **c["function"],
                            "arguments": json.loads(c["function"]["arguments"])
                            if isinstance(c["function"]["arguments"], str)
                            else c["function"]["arguments"],
                        },
                    }
                    for c in calls
                ],
            }
        rendered.append(message)
    return rendered


# llama.cpp's whitespace between JSON tokens: newlines and indentation too. llama-cpp-python's
# schema converter allows one space only, and a pretty-printed bare call ("{\n  ...") that
# triggered the lazy grammar was then rejected, which aborts the process.
JSON_SPACE = 'space ::= | " " | "\\n"{1,2} [ \\t]{0,20}'
# What may follow "{" in one token that opens a bare call: the grammar's space, then the
# start of "name" (the first key of every call).
SAFE_OPENING = re.compile(r'( |\n{1,2}[ \t]{0,20})?(?:"(?:n(?:a(?:m(?:e"?)?)?)?)?)?')


# A letter after a backslash in a regex (\d, \w, \s, \b, \p...): llama-cpp-python's schema
# converter copies it into the grammar, llama.cpp cannot parse it, and the broken grammar then
# crashes the process (a segfault): one request could take the server down.
ESCAPED_CLASS = re.compile(r"\\[A-Za-z]")


def refuse_escaped_patterns(schema: Any) -> None:
    """Raise ``InvalidSchemaError`` for a ``pattern`` anywhere in the schema that uses a
    backslash-letter escape, naming the character class to write instead."""
    if isinstance(schema, list):
        for item in schema:
            refuse_escaped_patterns(item)
    elif isinstance(schema, dict):
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and ESCAPED_CLASS.search(pattern):
            raise InvalidSchemaError(
                f"pattern {pattern!r} uses a backslash escape (\\d, \\w, \\s...), which "
                "llama.cpp's grammar cannot take: write the class out ([0-9], [A-Za-z0-9_], "
                "[ \\t\\n])"
            )
        for value in schema.values():
            refuse_escaped_patterns(value)


def tool_call_grammar(tools: list[dict[str, Any]]) -> str:
    """GBNF for one call in tags: ``<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>``
    where the name is one of the tools and the arguments follow its parameters' schema; JSON
    may be pretty-printed, as models write it."""
    calls = tool_choice_schema(tools)["anyOf"][0]["properties"]["tool_calls"]["items"]
    refuse_escaped_patterns(calls)
    body = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(calls), verbose=False)._grammar
    body = re.sub(r"(?m)^root ::=", "call ::=", body)
    body, spaces = re.subn(r"(?m)^space ::= .*$", lambda _: JSON_SPACE, body)
    if spaces != 1:
        raise RuntimeError("llama-cpp-python's JSON grammar has no space rule to widen")
    opening, closing = json.dumps(TOOL_CALL_OPEN), json.dumps(TOOL_CALL_CLOSE)
    return f'root ::= {opening} "\\n"? call "\\n"? {closing} | call\n{body}'


def unsafe_call_openers(pieces: Iterator[tuple[int, str]]) -> tuple[int, ...]:
    """Tokens that hold a ``{`` followed by more than the call grammar takes first (``{{``,
    ``{}``, ``{%``). A lazy grammar triggered by ``BARE_CALL_PATTERN`` is fed the whole token
    that opened the call, unchecked, and llama.cpp aborts the process on text its grammar
    rejects; these tokens are never sampled in a request with tools (after the trigger the
    grammar reaches the same text through other tokens)."""
    return tuple(
        token
        for token, piece in pieces
        if "{" in piece and not SAFE_OPENING.fullmatch(piece.split("{", 1)[1])
    )


def parse_tool_call_tags(text: str) -> tuple[str, list[ToolCall]]:
    """Split a template-format answer into (reply text, calls): calls in <tool_call> tags, or
    one bare JSON call as the whole answer. A call cut short by max_tokens stays text, as with
    the JSON protocol."""
    pattern = re.escape(TOOL_CALL_OPEN) + r"\s*(.*?)\s*" + re.escape(TOOL_CALL_CLOSE)
    bodies = [m.group(1) for m in re.finditer(pattern, text, re.S)]
    before = text[: text.index(TOOL_CALL_OPEN)].strip() if bodies else ""
    bare = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text)
    if not bodies and bare.startswith("{"):
        bodies = [bare.strip()]
    calls = []
    for body in bodies:
        try:
            data = json.loads(body)
            calls.append(
                ToolCall(
                    id=f"call_{uuid.uuid4().hex[:24]}",
                    name=data["name"],
                    arguments=data.get("arguments") or {},
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            return text, []
    return (before, calls) if calls else (text, [])
