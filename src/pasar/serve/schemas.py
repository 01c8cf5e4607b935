"""Pydantic schemas at the API's edge: OpenAI's chat completion request, and pasar's feedback."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Limits on what one request may ask for: a hostile client must not buy unbounded compute or
# memory with one body (the body itself is capped by PASAR_MAX_REQUEST_BYTES).
MAX_ANSWER_TOKENS = 8192  # no local model here has a larger context window
MAX_CHOICES = 8
MAX_STOPS, MAX_STOP_CHARS = 4, 64  # OpenAI's own limit is 4 stop strings
MAX_SCHEMA_BYTES = 32_000  # a JSON schema or tool list: grammars grow with it


def _no_nul(text: str, where: str) -> None:
    if "\x00" in text:
        raise ValueError(f"{where} contains a NUL character (\\u0000); remove it")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _check_content(self) -> ChatMessage:
        if isinstance(self.content, str):
            _no_nul(self.content, "content")
        for j, part in enumerate(self.content if isinstance(self.content, list) else []):
            if part.get("type") == "text":
                if not isinstance(part.get("text"), str):
                    raise ValueError(f"content[{j}].text must be a string")
                _no_nul(part["text"], f"content[{j}].text")
        return self


class JSONSchemaFormat(BaseModel):
    name: str = "output"
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")  # llama.cpp's json_object form

    def schema_for_engine(self) -> dict[str, Any] | None:
        if self.type == "json_schema":
            if self.json_schema is None:
                raise ValueError("response_format.json_schema is required with type json_schema")
            return self.json_schema.schema_
        if self.type == "json_object":
            return self.schema_ or {"type": "object"}
        return None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body. Parameters pasar does not use are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=MAX_ANSWER_TOKENS)
    max_completion_tokens: int | None = Field(None, ge=1, le=MAX_ANSWER_TOKENS)
    # Unset: the model card's (Qwen2.5 0.7, SmolLM2 0.2), else OpenAI's 1.0.
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1, le=MAX_CHOICES)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: ResponseFormat | None = None
    # pasar's extension: continue a stored conversation (also the X-Pasar-Conversation header).
    conversation_id: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _check(self) -> ChatCompletionRequest:
        if self.stream and self.n > 1:
            raise ValueError("n > 1 cannot be streamed; use stream=false or n=1")
        if len(self.stop_list) > MAX_STOPS:
            raise ValueError(f"give at most {MAX_STOPS} stop strings")
        for stop in self.stop_list:
            if len(stop) > MAX_STOP_CHARS:
                raise ValueError(f"a stop string may have at most {MAX_STOP_CHARS} characters")
        for name, value in (
            ("tools", self.tools),
            ("response_format", self.response_format and self.response_format.model_dump()),
        ):
            if value and len(json.dumps(value, default=str)) > MAX_SCHEMA_BYTES:
                raise ValueError(
                    f"{name} is larger than {MAX_SCHEMA_BYTES} bytes as JSON; send a smaller "
                    "schema (constrained decoding compiles it into a grammar)"
                )
        return self

    @property
    def stop_list(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    @property
    def answer_tokens(self) -> int:
        return self.max_completion_tokens or self.max_tokens or 512

    @property
    def tool_choice_for_engine(self) -> Literal["auto", "none"]:
        """OpenAI's "none" (the tools stay in view, no call is made); anything else lets the
        model choose."""
        return "none" if self.tool_choice == "none" else "auto"


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(
        min_length=1, max_length=80, description="The `id` of a chat completion from this server."
    )
    choice_index: int = Field(0, ge=0, description="Which choice, when the request had n > 1.")
    rating: Literal["up", "down"] | None = None
    correction: str | None = Field(None, max_length=100_000, description="The answer wanted.")
    comment: str | None = Field(None, max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _something_said(self) -> FeedbackCreate:
        if self.rating is None and not self.correction and not self.comment:
            raise ValueError("give a rating (up/down), a correction or a comment")
        return self


class FeedbackPublic(BaseModel):
    id: int
    message_id: str
    choice_index: int = 0
    rating: str | None
    correction: str | None
    comment: str | None
    tags: list[str]
