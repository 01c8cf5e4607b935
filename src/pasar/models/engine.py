"""The engine contract: one interface for every way of running a model.

    engine.chat(messages, *, max_tokens, temperature, stop, tools=None, json_schema=None)
    engine.stream(...)   -> iterator of ChatChunk, the last one with finish_reason and usage
    engine.batch([messages, ...], ...) -> list of ChatResult

Subclasses implement ``_complete`` and ``_stream`` for plain and schema-constrained text;
this base class checks the arguments and turns ``tools`` into constrained JSON for engines
without native tool calling (see ``schema.py``).
"""

from __future__ import annotations

import contextvars
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pasar.errors import PasarError
from pasar.models.schema import (
    check_json_schema,
    parse_tool_output,
    tool_choice_schema,
    with_tools,
)
from pasar.models.types import ChatChunk, ChatResult, Message

if TYPE_CHECKING:
    from pasar.models.registry import ModelSpec

ROLES = {"system", "user", "assistant", "tool"}

# Whose share of a batching engine's sequences a request counts against: `pasar serve` sets the
# client (API key, or address) in the request's context; unset, all requests are one owner's.
REQUESTER: contextvars.ContextVar[str] = contextvars.ContextVar("pasar_requester", default="")


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. temperature 0 means greedy (deterministic for local engines)."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens={self.max_tokens}: must be at least 1")
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature}: must be >= 0 (0 = greedy)")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p}: must be in (0, 1]")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ValueError(f"stop={list(self.stop)!r}: stop strings must be non-empty strings")


class TextOnlyModelError(PasarError, ValueError):
    """Image content parts sent to a model that reads text only."""


def is_image_part(part: Any) -> bool:
    """An OpenAI image content part: ``{"type": "image_url", "image_url": {"url": ...}}``."""
    return isinstance(part, dict) and part.get("type") == "image_url"


def image_parts(messages: Sequence[Message]) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(message index, part index, part) of every image content part, in order."""
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for j, part in enumerate(content):
                if is_image_part(part):
                    yield i, j, part


def message_text(content: Any, image: Callable[[dict[str, Any]], str] | None = None) -> str:
    """Text of an OpenAI message content: a string, None, or a list of content parts.

    Each image part becomes ``image(part)`` on a line of its own (a vision model's placeholder,
    or a reference for the log). Without ``image`` an image part is an error: a model must not
    answer as if it had seen a photo that was dropped.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ValueError(
            f"message content must be a string or a list of parts, got {content!r:.80}"
        )
    text, after_image = "", False
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            continue
        if is_image_part(part):
            if image is None:
                raise TextOnlyModelError(
                    f"content[{j}] is an image, and this model reads text only"
                )
            text += ("\n" if text and not text.endswith("\n") else "") + image(part) + "\n"
            after_image = True
        else:
            text += part.get("text", "")
            after_image = False
    return text.removesuffix("\n") if after_image else text


def check_messages(messages: Sequence[Message], *, keep_images: bool = False) -> list[Message]:
    """Validate OpenAI-format messages and flatten content parts to text.

    With ``keep_images`` (an engine that reads images) a content list holding an image part is
    kept as it is, for the engine to read; otherwise image parts are refused with an error
    that names the message and says where images can go.
    """
    if not messages:
        raise ValueError("messages is empty: give at least one {'role': 'user', 'content': ...}")
    checked = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ValueError(
                f"messages[{i}] must be a dict with a role in {sorted(ROLES)}, got {message!r:.80}"
            )
        content = message.get("content")
        if isinstance(content, list) and any(is_image_part(p) for p in content):
            if keep_images:
                checked.append(message)
                continue
            j = next(j for j, p in enumerate(content) if is_image_part(p))
            raise TextOnlyModelError(
                f"messages[{i}].content[{j}] is an image, and this model reads text only: send "
                "images to a vision model (a folder made by `pasar vision train`, registered "
                "with `pasar models add NAME FOLDER`)"
            )
        checked.append({**message, "content": message_text(content)})
    return checked


class Engine(ABC):
    """A loaded model. ``name`` is what the user called it; ``kind`` the engine that runs it;
    ``spec`` and ``version`` the model ``load_engine`` loaded and its weights version (None for
    an engine made directly)."""

    kind: ClassVar[str]
    native_tools: bool = False  # tools reach _complete as given (else: constrained JSON)
    tool_role: bool = False  # its chat template renders ``tool`` messages (else: as user text)
    reads_images: ClassVar[bool] = False  # image content parts reach _complete/_stream as given
    spec: ModelSpec | None = None
    _version: str | None = None
    _version_of: Callable[[], str | None] | None = None

    def __init__(self, name: str):
        self.name = name

    @property
    def version(self) -> str | None:
        """The weights version (``registry.model_version``), computed when first asked."""
        if self._version_of is not None:
            self._version, self._version_of = self._version_of(), None
        return self._version

    def set_version(self, version: str | None | Callable[[], str | None]) -> None:
        """Set the version, or how to compute it when first asked (hashing weights takes time)."""
        if callable(version):
            self._version, self._version_of = None, version
        else:
            self._version, self._version_of = version, None

    # -- what subclasses implement -------------------------------------------------------------
    @abstractmethod
    def _complete(
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
    ) -> ChatResult: ...

    @abstractmethod
    def _stream(
        self, messages: list[Message], params: SamplingParams, json_schema: dict[str, Any] | None
    ) -> Iterator[ChatChunk]: ...

    def _complete_batch(
        self,
        conversations: list[list[Message]],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
    ) -> list[ChatResult]:
        return [self._complete(m, params, json_schema, None) for m in conversations]

    # -- the contract --------------------------------------------------------------------------
    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Literal["auto", "none"] = "auto",
        json_schema: dict[str, Any] | None = None,
        allowed_tools: list[dict[str, Any]] | None = None,
    ) -> ChatResult:
        """One answer. With ``tools``, the answer is tool calls or a reply (``tool_choice``
        ``auto``), or a reply only (``none``, OpenAI's ``tool_choice="none"``: under pasar's
        JSON protocol the model still sees the tools and its earlier calls; an engine on its
        chat template's protocol renders the conversation without the tool list).

        ``allowed_tools``: the tools the answer may call now, a subset of ``tools`` whose
        parameter schemas may be narrower (OpenAI's ``allowed_tools`` idea): under pasar's JSON
        protocol decoding is held to them while the model sees ``tools`` (the prompt, and its
        cache, stay the same); none left means a reply. Engines on a native protocol ignore
        it: check the call."""
        if tool_choice not in ("auto", "none"):
            raise ValueError(f"tool_choice={tool_choice!r}: use 'auto' or 'none'")
        params = SamplingParams(max_tokens, temperature, top_p, tuple(stop or ()), seed)
        checked = check_messages(messages, keep_images=self.reads_images)
        schema = check_json_schema(json_schema) if json_schema is not None else None
        started = time.perf_counter()
        if tools and not self.native_tools:
            if schema is not None:
                raise ValueError("give either tools or json_schema, not both")
            may_call = tools if allowed_tools is None else allowed_tools
            result = self._complete(
                with_tools(checked, tools, self.tool_role),
                params,
                tool_choice_schema(may_call, tool_choice if may_call else "none"),
                None,
            )
            result.text, result.tool_calls = parse_tool_output(result.text)
            if result.tool_calls:
                result.finish_reason = "tool_calls"
        else:
            callable_tools = (tools or None) if tool_choice == "auto" else None
            result = self._complete(checked, params, schema, callable_tools)
        result.latency_s = time.perf_counter() - started
        return result

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: Literal["auto", "none"] = "auto",
        json_schema: dict[str, Any] | None = None,
    ) -> Iterator[ChatChunk]:
        if tools:
            # A tool call is only usable whole: answer at once, as one chunk.
            result = self.chat(
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                stop=stop,
                seed=seed,
                tools=tools,
                tool_choice=tool_choice,
                json_schema=json_schema,
            )
            yield ChatChunk(result.text, result.finish_reason, result.usage, result.tool_calls)
            return
        params = SamplingParams(max_tokens, temperature, top_p, tuple(stop or ()), seed)
        schema = check_json_schema(json_schema) if json_schema is not None else None
        yield from self._stream(
            check_messages(messages, keep_images=self.reads_images), params, schema
        )

    def batch(
        self,
        conversations: Sequence[Sequence[Message]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        json_schema: dict[str, Any] | None = None,
    ) -> list[ChatResult]:
        """Answer many conversations; engines that can batch on the device do so."""
        params = SamplingParams(max_tokens, temperature, top_p, tuple(stop or ()), seed)
        schema = check_json_schema(json_schema) if json_schema is not None else None
        started = time.perf_counter()
        checked = [check_messages(m, keep_images=self.reads_images) for m in conversations]
        results = self._complete_batch(checked, params, schema)
        for result in results:
            result.latency_s = time.perf_counter() - started
        return results

    def close(self) -> None:  # noqa: B027 - engines with nothing to free need not override
        """Free the model's memory or connections."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
