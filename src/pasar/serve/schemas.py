"""Pydantic schemas at the API's edge: OpenAI's chat completion request, and pasar's feedback."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


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
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    n: int = Field(1, ge=1, le=16)
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
        return self

    @property
    def stop_list(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    @property
    def answer_tokens(self) -> int:
        return self.max_completion_tokens or self.max_tokens or 512

    @property
    def tools_for_engine(self) -> list[dict[str, Any]] | None:
        return None if self.tool_choice == "none" else self.tools


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
    rating: str | None
    correction: str | None
    comment: str | None
    tags: list[str]
