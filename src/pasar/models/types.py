"""The result types every engine returns, whatever runs the model."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

# OpenAI chat format: {"role": "system"|"user"|"assistant"|"tool", "content": str, ...}
Message = dict[str, Any]
FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True)
class Usage:
    """Token counts, counted by the model's own tokenizer (or reported by the remote server)."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class ChatResult:
    """One assistant answer."""

    text: str
    finish_reason: FinishReason
    usage: Usage
    model: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    latency_s: float = 0.0

    def json(self) -> Any:
        """The answer parsed as JSON (for calls made with ``json_schema``)."""
        return json.loads(self.text)


@dataclass(frozen=True)
class ChatChunk:
    """A piece of a streamed answer. The last chunk has ``finish_reason`` set, and ``usage``
    unless a remote server does not report usage in streams (llama-cpp-python's does not)."""

    text: str
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass
class StreamedAnswer:
    """A streamed answer put together from its chunks, as far as it went: ``add`` each chunk as
    it is passed on, ``result`` at the end (finish reason ``length`` when the stream was cut
    before its last chunk)."""

    model: str
    parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    started: float = field(default_factory=time.perf_counter)

    def add(self, chunk: ChatChunk) -> ChatChunk:
        self.parts.append(chunk.text)
        self.tool_calls.extend(chunk.tool_calls)
        if chunk.finish_reason is not None:
            self.finish_reason, self.usage = chunk.finish_reason, chunk.usage or self.usage
        return chunk

    def result(self) -> ChatResult:
        return ChatResult(
            text="".join(self.parts),
            finish_reason=self.finish_reason or "length",
            usage=self.usage or Usage(0, 0),
            model=self.model,
            tool_calls=list(self.tool_calls),
            latency_s=time.perf_counter() - self.started,
        )
