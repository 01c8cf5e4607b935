"""The http engine: any OpenAI-compatible server (vLLM, Ollama, llama-server, hosted APIs).

Built on the official ``openai`` client. JSON schemas travel as ``response_format``, tools
natively; server errors become EngineRequestError with the server's status and message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import openai

from pasar.errors import ContextLengthError, EngineRequestError, EngineUnavailableError
from pasar.models.engine import Engine, SamplingParams
from pasar.models.types import ChatChunk, ChatResult, Message, ToolCall, Usage


class HTTPEngine(Engine):
    kind = "http"
    native_tools = True

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        remote_model: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 1,
    ):
        super().__init__(name)
        self.base_url = base_url
        self.client = openai.OpenAI(
            base_url=base_url,
            # Local servers usually need no key, but the client insists on one.
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
            timeout=timeout,
            max_retries=max_retries,
        )
        self._remote_model = remote_model
        # OpenAI's form first; llama-cpp-python's server and older llama-server only take
        # {"type": "json_object", "schema": ...}. The first form a server accepts is kept.
        self._schema_styles = ["json_schema", "json_object"]

    @property
    def remote_model(self) -> str:
        """The model id sent to the server: given, or the first the server lists."""
        if self._remote_model is None:
            models = self._call(self.client.models.list).data
            if not models:
                raise EngineRequestError(f"the server at {self.base_url} lists no models")
            self._remote_model = models[0].id
        return self._remote_model

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except openai.APIConnectionError as exc:
            raise EngineUnavailableError(
                f"cannot reach the OpenAI-compatible server at {self.base_url} "
                f"({exc.__cause__ or exc}). Check that it is running and that the URL "
                "(with its /v1) is right"
            ) from exc
        except openai.APIStatusError as exc:
            message = str(exc.message)
            if "context" in message.lower() and exc.status_code == 400:
                raise ContextLengthError(f"{self.base_url}: {message}") from exc
            raise EngineRequestError(
                f"the server at {self.base_url} answered {exc.status_code}: {message}",
                status_code=exc.status_code,
            ) from exc

    def _request(
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.remote_model,
            "messages": messages,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            request["stop"] = list(params.stop)
        if params.seed is not None:
            request["seed"] = params.seed
        if tools:
            request["tools"] = tools
        if json_schema is not None:
            request["response_format"] = (
                {"type": "json_schema", "json_schema": {"name": "output", "schema": json_schema}}
                if self._schema_styles[0] == "json_schema"
                else {"type": "json_object", "schema": json_schema}
            )
        return request

    def _create(self, request: dict[str, Any]) -> Any:
        try:
            return self._call(self.client.chat.completions.create, **request)
        except EngineRequestError as exc:
            rejected_format = "response_format" in str(exc) and len(self._schema_styles) > 1
            if not rejected_format or "response_format" not in request:
                raise
            self._schema_styles.pop(0)
            request["response_format"] = {
                "type": "json_object",
                "schema": request["response_format"]["json_schema"]["schema"],
            }
            return self._call(self.client.chat.completions.create, **request)

    def _complete(
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
    ) -> ChatResult:
        response = self._create(self._request(messages, params, json_schema, tools))
        choice = response.choices[0]
        calls = [
            ToolCall(c.id, c.function.name, json.loads(c.function.arguments or "{}"))
            for c in choice.message.tool_calls or []
        ]
        usage = response.usage
        return ChatResult(
            text=choice.message.content or "",
            finish_reason="tool_calls" if calls else (choice.finish_reason or "stop"),
            usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(0, 0),
            model=self.name,
            tool_calls=calls,
        )

    def _stream(
        self, messages: list[Message], params: SamplingParams, json_schema: dict[str, Any] | None
    ) -> Iterator[ChatChunk]:
        request = self._request(messages, params, json_schema)
        request |= {"stream": True, "stream_options": {"include_usage": True}}
        finish: Any = None
        usage: Usage | None = None  # stays None if the server does not report stream usage
        try:
            for chunk in self._create(request):
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    if choice.delta.content:
                        yield ChatChunk(choice.delta.content)
        except openai.APIError as exc:
            raise EngineRequestError(f"the stream from {self.base_url} failed: {exc}") from exc
        yield ChatChunk("", finish_reason=finish or "stop", usage=usage)

    def close(self) -> None:
        self.client.close()
