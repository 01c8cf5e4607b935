"""OpenAI-compatible API: GET /v1/models, POST /v1/chat/completions (SSE streaming, tools,
JSON schema, n, stop, seed, usage, images as data URLs for vision models). Every exchange is
recorded in the store."""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import SQLAlchemyError

from pasar.apps.taskbot.serving import CALLER, Caller
from pasar.errors import PasarError
from pasar.models.embedded import CARDS
from pasar.models.engine import REQUESTER, Engine, image_parts
from pasar.models.types import ChatChunk, ChatResult, StreamedAnswer, ToolCall
from pasar.serve.deps import CallerDep, StateDep, TokenClientDep, reserve_tokens, visible_to
from pasar.serve.errors import APIError, error_body, log, status_of
from pasar.serve.schemas import ChatCompletionRequest
from pasar.store.interactions import (
    check_conversation_access,
    choice_message_ids,
    new_conversation_id,
)
from pasar.store.keys import KeyInfo
from pasar.store.recorder import Recorder, sampling_record

router = APIRouter(prefix="/v1", tags=["openai"])


@router.get("/models")
def list_models(state: StateDep, _: CallerDep) -> dict[str, Any]:
    """OpenAI's model list; an embedded model also carries its card's sampling defaults
    (``sampling``), which the web UI starts from."""
    return {
        "object": "list",
        "data": [
            {"id": n, "object": "model", "created": 0, "owned_by": "pasar"}
            | ({"sampling": card.sampling_defaults} if (card := CARDS.get(n)) else {})
            for n in state.models.names()
        ],
    }


def openai_tool_calls(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
        }
        for c in calls
    ]


def engine_messages(body: ChatCompletionRequest) -> list[dict[str, Any]]:
    messages = []
    for m in body.messages:
        message = m.model_dump(exclude_none=True)
        if message["role"] == "developer":  # OpenAI's newer name for the system role
            message["role"] = "system"
        messages.append(message)
    return messages


def default_temperature(engine: Engine) -> float:
    """A request without a temperature gets the model card's (what the model's makers advise),
    else OpenAI's default, 1.0."""
    card = engine.spec.card if engine.spec is not None else None
    return card.temperature if card is not None else 1.0


def taskbot_caller(
    caller: KeyInfo | None, conversation_id: str, customer: str | None, demo_sign_in: bool
) -> Caller:
    """Who the Taskbot serves. With keys the marketplace has signed the customer in already: a
    backend key names them in X-Pasar-Customer; sign-in by chat is for a demo mode only."""
    if customer is not None and caller is not None and caller.scope not in ("backend", "admin"):
        raise APIError(
            403,
            "X-Pasar-Customer names the signed-in customer, and only a backend key may send it "
            "(`pasar keys create NAME --scope backend`, held by the marketplace's server)",
            code="backend_scope_required",
        )
    if customer is None and caller is not None and not demo_sign_in:
        raise APIError(
            403,
            "the Taskbot serves a signed-in customer: send X-Pasar-Customer: USER_ID with a "
            "backend key, or, for a demo, let users sign in by chat (email, or name and zip) "
            "with PASAR_TASKBOT_DEMO_SIGN_IN=true",
            code="customer_required",
        )
    key = str(caller.id) if caller else ""
    return Caller(key, conversation_id, customer, chat_sign_in=customer is None)


@router.post("/chat/completions", response_model=None)
def chat_completions(
    body: ChatCompletionRequest,
    state: StateDep,
    caller: CallerDep,
    token_client: TokenClientDep,
    x_pasar_conversation: Annotated[str | None, Header(max_length=64)] = None,
    x_pasar_customer: Annotated[str | None, Header(max_length=64)] = None,
) -> dict[str, Any] | StreamingResponse:
    engine = state.models.get(body.model)
    REQUESTER.set(token_client)  # its fair share of a batching engine's sequences
    messages = engine_messages(body)
    image = next(image_parts(messages), None)
    if image is not None and not engine.reads_images:
        vision = state.models.vision_names()
        where = f"messages[{image[0]}].content[{image[1]}]"
        raise APIError(
            400,
            f"{where} is an image, and model {body.model!r} reads text only. "
            + (
                f"Send images to a vision model served here: {', '.join(vision)}"
                if vision
                else "No vision model is served here: train one with `pasar vision train --out "
                "FOLDER`, register it with `pasar models add NAME FOLDER` and ask for NAME"
            ),
            code="image_not_supported",
            param=where,
        )
    options: dict[str, Any] = {
        "max_tokens": body.answer_tokens,
        "temperature": default_temperature(engine)
        if body.temperature is None
        else body.temperature,
        "top_p": body.top_p,
        "stop": body.stop_list,
    }
    schema = body.response_format.schema_for_engine() if body.response_format else None
    tools, tool_choice = body.tools, body.tool_choice_for_engine
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    message_ids = choice_message_ids(completion_id, body.n)
    created = int(time.time())
    conversation_id = body.conversation_id or x_pasar_conversation or new_conversation_id()
    check_conversation_access(
        state.store, conversation_id=conversation_id, visible_to=visible_to(caller)
    )
    if engine.kind == "taskbot":
        demo = state.settings.taskbot_demo_sign_in
        CALLER.set(taskbot_caller(caller, conversation_id, x_pasar_customer, demo))
    recorder = Recorder(
        state.store,
        engine,
        model=body.model,
        conversation_id=conversation_id,
        api_key_id=caller.id if caller else None,
        visible_to=visible_to(caller),
    )
    sampling = sampling_record(
        options
        | {"seed": body.seed, "n": body.n, "json_schema": schema}
        | ({"tools": tools, "tool_choice": tool_choice} if tools else {})
    )

    def save(answers: list[ChatResult]) -> None:
        counted = all(a.usage.prompt_tokens or a.usage.completion_tokens for a in answers)
        used = answers[0].usage.prompt_tokens + sum(a.usage.completion_tokens for a in answers)
        charge.settle(used if counted else None)
        recorder.save(
            messages, answers, sampling, completion_id=completion_id, message_ids=message_ids
        )
        for answer in answers:
            state.metrics.tokens.labels(body.model, "prompt").inc(answer.usage.prompt_tokens)
            state.metrics.tokens.labels(body.model, "completion").inc(
                answer.usage.completion_tokens
            )

    headers = {"X-Pasar-Conversation-Id": conversation_id}
    charge = reserve_tokens(state, token_client, body.answer_tokens * body.n)
    if body.stream:
        chunks = engine.stream(
            messages,
            seed=body.seed,
            tools=tools,
            tool_choice=tool_choice,
            json_schema=schema,
            **options,
        )
        try:
            first = next(chunks)  # errors before the first token (context, schema) are plain
        except BaseException:  # HTTP errors, and cost nothing
            charge.settle(0)
            raise
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        rest = Prefetch(chunks)
        events = sse_events(first, rest, completion_id, created, body.model, include_usage, save)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)

    try:
        answers = [
            engine.chat(
                messages,
                seed=None if body.seed is None else body.seed + i,
                tools=tools,
                tool_choice=tool_choice,
                json_schema=schema,
                **options,
            )
            for i in range(body.n)
        ]
    except BaseException:
        charge.settle(0)
        raise
    save(answers)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": body.model,
        "conversation_id": conversation_id,
        "choices": [
            {
                "index": i,
                "message": {
                    "role": "assistant",
                    "content": a.text if not a.tool_calls else (a.text or None),
                    **({"tool_calls": openai_tool_calls(a.tool_calls)} if a.tool_calls else {}),
                },
                "message_id": message_ids[i],
                "finish_reason": a.finish_reason,
            }
            for i, a in enumerate(answers)
        ],
        "usage": {
            "prompt_tokens": answers[0].usage.prompt_tokens,
            "completion_tokens": sum(a.usage.completion_tokens for a in answers),
            "total_tokens": answers[0].usage.prompt_tokens
            + sum(a.usage.completion_tokens for a in answers),
        },
    }


class Prefetch:
    """An engine's stream, run to its end in a thread of its own, into a buffer the response
    reads from.

    A model has a few sequences (``PASAR_PARALLEL``; some engines one). Generating only as fast
    as the client reads would let a client that stops reading hold a sequence, and the requests
    waiting for it, for as long as it keeps the connection open. Here the sequence is held only
    while generating: a slow client's answer waits in memory instead, at most ``max_tokens``
    chunks (as llama.cpp's own server does). ``cancel`` (the
    client went away) stops the generation after the current token.
    """

    _END = object()

    def __init__(self, chunks: Iterator[ChatChunk]):
        self._buffer: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        thread = threading.Thread(target=self._run, args=(chunks,), name="pasar-stream")
        thread.daemon = True
        thread.start()

    def _run(self, chunks: Iterator[ChatChunk]) -> None:
        try:
            for chunk in chunks:
                self._buffer.put(chunk)
                if self._cancelled.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - raised again in the reading thread
            self._buffer.put(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a generator stopped early releases the engine's lock here
            self._buffer.put(self._END)

    def __iter__(self) -> Iterator[ChatChunk]:
        while (item := self._buffer.get()) is not self._END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def cancel(self) -> None:
        self._cancelled.set()


def sse_events(
    first: ChatChunk,
    rest: Prefetch,
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
    save: Any,
) -> Iterator[str]:
    def event(payload: dict[str, Any]) -> str:
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return event(
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    answer = StreamedAnswer(model)
    yield chunk({"role": "assistant", "content": ""})
    try:
        for piece in itertools.chain([first], rest):
            answer.add(piece)
            if piece.tool_calls:
                yield chunk(
                    {
                        "tool_calls": [
                            {"index": i, **call}
                            for i, call in enumerate(openai_tool_calls(piece.tool_calls))
                        ]
                    }
                )
            if piece.text:
                yield chunk({"content": piece.text})
        yield chunk({}, answer.finish_reason or "stop")
        usage = answer.usage
        if include_usage and usage is not None:
            yield event(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "total_tokens": usage.total_tokens,
                    },
                }
            )
    except PasarError as exc:
        status, code = status_of(exc)
        yield event(error_body(status, str(exc), code))
    finally:
        rest.cancel()  # the client went away: stop generating (a no-op once the stream ended)
        # Saved even when the client went away mid-stream: what was generated was generated.
        try:
            save([answer.result()])
            saved = True
        except SQLAlchemyError:  # the answer was sent: say so in the stream, not by a cut
            log.error("store error recording streamed completion %s", completion_id, exc_info=True)
            saved = False
    if not saved:
        message = "the store could not record this answer; the server's log has the details"
        yield event(error_body(500, message, "store_error"))
    yield "data: [DONE]\n\n"
