"""The http engine: any OpenAI-compatible server (vLLM, Ollama, llama-server, hosted APIs).

Built on the official ``openai`` client. JSON schemas travel as ``response_format``, tools
natively; server errors become EngineRequestError with the server's status and message.

One model may run on several servers (replicas: ``source`` holds their base URLs,
comma-separated). ``Replicas`` hands each request to the next one in turn and skips those that
are down; a request that fails on one before its first token moves to the next.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import chain
from typing import Any

import openai

from pasar.errors import (
    ContextLengthError,
    EngineRequestError,
    EngineUnavailableError,
    PasarError,
)
from pasar.models.engine import Engine, SamplingParams
from pasar.models.types import ChatChunk, ChatResult, Message, ToolCall, Usage


def server_error(url: str, exc: openai.APIError) -> PasarError:
    """The pasar error for what the server at ``url`` answered (or that it did not)."""
    if isinstance(exc, openai.APIConnectionError):
        return EngineUnavailableError(
            f"cannot reach the OpenAI-compatible server at {url} "
            f"({exc.__cause__ or exc}). Check that it is running and that the URL "
            "(with its /v1) is right"
        )
    if isinstance(exc, openai.APIStatusError):
        message = str(exc.message)
        if "context" in message.lower() and exc.status_code == 400:
            return ContextLengthError(f"{url}: {message}")
        return EngineRequestError(
            f"the server at {url} answered {exc.status_code}: {message}",
            status_code=exc.status_code,
        )
    return EngineRequestError(f"the server at {url} failed: {exc}")


def replica_failed(exc: openai.APIError) -> bool:
    """Is this the server's fault rather than the request's: no connection, or a 5xx."""
    return isinstance(exc, openai.APIConnectionError) or (
        isinstance(exc, openai.APIStatusError) and exc.status_code >= 500
    )


class Replica:
    """One server of a model. ``down``: why it was marked down (None while it is up)."""

    def __init__(self, url: str, client: openai.OpenAI):
        self.url, self.client = url, client
        self.down: PasarError | None = None
        self.check_at = 0.0  # while down: when a request may health-check it again


class Replicas:
    """The servers of one model, used in turn (round robin); safe to share between threads.

    A server that cannot be reached or answers 5xx is marked down and skipped while another is
    up. Once ``cooldown`` seconds have passed, the next request checks it (GET {url}/models,
    ``check_timeout`` seconds at most) and puts it back in turn if it answers. When every
    server up has failed a request, those down are checked at once, as a last resort: a request
    fails only when no server could answer it just now.
    """

    def __init__(self, replicas: list[Replica], *, cooldown: float, check_timeout: float):
        if not replicas:
            raise ValueError("an http model needs at least one base URL")
        self.replicas = replicas
        self.cooldown, self.check_timeout = cooldown, check_timeout
        self._lock = threading.Lock()
        self._turn = 0

    def __len__(self) -> int:
        return len(self.replicas)

    def attempts(self, failures: dict[str, PasarError]) -> Iterator[Replica]:
        """The servers to try for one request, in order: those up, starting one further along
        than the previous request, then those down that pass a health check now. Failed
        checks are recorded in ``failures`` (url: error)."""
        now = time.monotonic()
        with self._lock:
            start = self._turn % len(self.replicas)
            self._turn += 1
            ordered = self.replicas[start:] + self.replicas[:start]
            due = [r for r in ordered if r.down is not None and r.check_at <= now]
            for replica in due:  # this request checks them; the others meanwhile skip them
                replica.check_at = now + self.cooldown
        for replica in due:
            self.check(replica, failures)
        with self._lock:
            up = [r for r in ordered if r.down is None]
            down = [r for r in ordered if r.down is not None and r not in due]
        yield from up
        for replica in down:
            if self.check(replica, failures):
                yield replica

    def check(self, replica: Replica, failures: dict[str, PasarError]) -> bool:
        """Health-check a server: up if it answers GET /models with anything but a 5xx."""
        try:
            replica.client.with_options(timeout=self.check_timeout, max_retries=0).models.list()
        except openai.APIError as exc:
            if replica_failed(exc):
                failures[replica.url] = server_error(replica.url, exc)
                self.failed(replica, failures[replica.url])
                return False
        with self._lock:
            replica.down = None
        return True

    def failed(self, replica: Replica, error: PasarError) -> None:
        """Mark a server down: skipped until ``cooldown`` has passed and a check passes."""
        with self._lock:
            replica.down = error
            replica.check_at = time.monotonic() + self.cooldown

    def unavailable(self, name: str, failures: dict[str, PasarError]) -> EngineUnavailableError:
        """The error when no server could answer: each one and what it answered."""
        return EngineUnavailableError(
            f"none of the {len(failures)} servers of model {name!r} could answer: "
            + "; ".join(str(error) for error in failures.values())
            + f". Servers that come back are used again within {self.cooldown:g} s"
        )


class HTTPEngine(Engine):
    kind = "http"
    native_tools = True

    def __init__(
        self,
        name: str,
        base_url: str | Sequence[str],
        *,
        remote_model: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int | None = None,
        cooldown: float = 10.0,
        check_timeout: float = 2.0,
    ):
        """``base_url``: one server's base URL, or several (a list, or comma-separated), all
        serving the same model. ``max_retries``: the client's own retries on each server
        (default 1 for a single server, 0 for several: the next server is the retry);
        ``cooldown``: seconds a failed server is skipped before it is checked again."""
        super().__init__(name)
        urls = base_url.split(",") if isinstance(base_url, str) else list(base_url)
        urls = [url.strip() for url in urls if url.strip()]
        self.base_url = ",".join(urls)
        retries = max_retries if max_retries is not None else (1 if len(urls) == 1 else 0)
        # Local servers usually need no key, but the client insists on one.
        key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
        self.replicas = Replicas(
            [
                Replica(
                    url,
                    openai.OpenAI(base_url=url, api_key=key, timeout=timeout, max_retries=retries),
                )
                for url in urls
            ],
            cooldown=cooldown,
            check_timeout=min(check_timeout, timeout),
        )
        self._remote_model = remote_model
        # OpenAI's form first; llama-cpp-python's server and older llama-server only take
        # {"type": "json_object", "schema": ...}. The first form a server accepts is kept.
        self._schema_styles = ["json_schema", "json_object"]

    @property
    def remote_model(self) -> str:
        """The model id sent to the server: given, or the first the server lists."""
        if self._remote_model is None:
            replica, models = self._call(lambda r: (r, r.client.models.list().data))
            if not models:
                raise EngineRequestError(f"the server at {replica.url} lists no models")
            self._remote_model = models[0].id
        return self._remote_model

    def _call(self, use: Callable[[Replica], Any]) -> Any:
        """``use(replica)`` on the next server in turn; on the next one if that one cannot be
        reached or answers 5xx (marked down). Other errors are the request's: raised at once."""
        failures: dict[str, PasarError] = {}
        for replica in self.replicas.attempts(failures):
            try:
                return use(replica)
            except openai.APIError as exc:
                error = server_error(replica.url, exc)
                if replica_failed(exc):
                    self.replicas.failed(replica, error)
                if not replica_failed(exc) or len(self.replicas) == 1:
                    raise error from exc
                failures[replica.url] = error
        if len(self.replicas) == 1:  # one server: its own error, as it was
            raise next(iter(failures.values()))
        raise self.replicas.unavailable(self.name, failures)

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

    def _create(self, request: dict[str, Any]) -> tuple[Replica, Any]:
        """The server that answered, and its answer: a response, or for ``stream`` the stream
        and its chunks. A stream counts as answered at its first chunk: a server that fails
        before it failed the request, which moves to the next server."""

        def attempt(replica: Replica) -> tuple[Replica, Any]:
            response = replica.client.chat.completions.create(**request)
            if not request.get("stream"):
                return replica, response
            chunks = iter(response)
            first = next(chunks, None)
            return replica, (response, chunks if first is None else chain([first], chunks))

        try:
            return self._call(attempt)
        except EngineRequestError as exc:
            rejected_format = "response_format" in str(exc) and len(self._schema_styles) > 1
            if not rejected_format or "response_format" not in request:
                raise
            self._schema_styles = ["json_object"]  # a reassignment: safe between threads
            request["response_format"] = {
                "type": "json_object",
                "schema": request["response_format"]["json_schema"]["schema"],
            }
            return self._call(attempt)

    def _complete(
        self,
        messages: list[Message],
        params: SamplingParams,
        json_schema: dict[str, Any] | None,
        tools: list[dict[str, Any]] | None,
    ) -> ChatResult:
        _, response = self._create(self._request(messages, params, json_schema, tools))
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
        replica, (response, chunks) = self._create(request)
        finish: Any = None
        usage: Usage | None = None  # stays None if the server does not report stream usage
        try:
            for chunk in chunks:
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    if choice.delta.content:
                        yield ChatChunk(choice.delta.content)
        except openai.APIError as exc:
            # Tokens were sent already: the answer cannot move to another server.
            error = EngineRequestError(
                f"the stream from {replica.url} failed: {exc.__cause__ or exc}; ask again"
            )
            if replica_failed(exc):
                self.replicas.failed(replica, error)
            raise error from exc
        finally:
            response.close()  # a stream stopped early frees the server's connection
        yield ChatChunk("", finish_reason=finish or "stop", usage=usage)

    def close(self) -> None:
        for replica in self.replicas.replicas:
            replica.client.close()
