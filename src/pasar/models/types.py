"""The result types every engine returns, whatever runs the model."""

from __future__ import annotations

import json
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
