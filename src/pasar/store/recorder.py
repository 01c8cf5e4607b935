"""The one place that records answers in the interaction log.

``Recorder`` stores the exchanges of one conversation: the request's new messages and the
answers, with the model, weights version, engine and sampling that produced them. The server
uses one per request; everything else wraps its engine in a ``RecordedEngine``, which records
each ``chat``, ``stream`` (the answer as far as it went, even when the reader stopped early) and
``batch`` (each conversation its own) as it answers: ``pasar chat``, the Taskbot agents, the
listing, disputes and vision commands. Their ``--no-log`` leaves the engine unwrapped.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, cast

from pasar.models.engine import Engine, message_text
from pasar.models.images import data_url_bytes
from pasar.models.types import ChatChunk, ChatResult, Message, StreamedAnswer
from pasar.store.db import Store
from pasar.store.interactions import ExchangeRecord, record_exchange


def image_reference(part: dict[str, Any]) -> str:
    """What the log keeps of an image content part: ``[image image/png, 5123 bytes, sha256 …]``,
    the hash of the decoded file (what ``sha256sum photo.png`` prints).

    Not the data URL itself: stored messages are text that exports turn into prompts and the
    web UI shows, and megabytes of base64 in them would swell every export and page; a photo a
    customer sends may also show a person or an address the log need not keep. The hash, media
    type and size let a team that keeps its photos find which one was asked about; the pixels
    are not in the store.
    """
    url = str(part["image_url"]["url"])  # recorded once answered: the engine has read it
    media = url.removeprefix("data:").split(";")[0]
    raw = data_url_bytes(url)
    return f"[image {media}, {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}]"


def recorded_messages(messages: Sequence[Message]) -> list[Message]:
    """Messages as the store keeps them: content parts as text, each image as its
    ``image_reference`` on a line of its own."""
    return [
        {**m, "content": message_text(m["content"], image_reference)}
        if isinstance(m.get("content"), list)
        else dict(m)
        for m in messages
    ]


def sampling_record(options: dict[str, Any]) -> dict[str, Any]:
    """The request's options as stored: a JSON schema only as whether one was given (it is the
    caller's), the tools offered as given (the model read them: an export of this answer must
    show them to the model it trains, `data/feedback.py`), the tools it was allowed to call by
    name (their narrowed schemas only held decoding)."""
    kept = {k: v for k, v in options.items() if k not in ("json_schema", "tools", "allowed_tools")}
    allowed = options.get("allowed_tools")
    return (
        kept
        | {"json_schema": options.get("json_schema") is not None}
        | ({"tools": options["tools"]} if options.get("tools") else {})
        | (
            {"allowed_tools": [t["function"]["name"] for t in allowed]}
            if allowed is not None
            else {}
        )
    )


def continues(history: Sequence[Message], messages: Sequence[Message]) -> bool:
    """Whether ``messages`` carry on from ``history`` (the same turns, then more). Assistant
    turns match by role only: callers may resend the model's answer in another form (the
    Taskbot agent shows a local model its replies as the JSON it writes)."""
    return len(messages) > len(history) and all(
        old["role"] == new["role"]
        and (old["role"] == "assistant" or old.get("content") == new.get("content"))
        for old, new in zip(history, messages, strict=False)
    )


class Recorder:
    """Records the exchanges of one conversation; the first one creates it (a new id unless
    ``conversation_id`` names one). ``api_key_id`` owns a conversation it creates;
    ``visible_to`` (a key id) refuses one it does not own, as the store's functions do."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        *,
        model: str | None = None,
        conversation_id: str | None = None,
        api_key_id: int | None = None,
        visible_to: int | None = None,
    ):
        self.store = store
        self.engine = engine
        self.model = model or engine.name
        self.conversation_id = conversation_id
        self.api_key_id = api_key_id
        self.visible_to = visible_to
        self.message_id: str | None = None  # the last answer's (first choice's) id

    def save(
        self,
        messages: Sequence[Message],
        answers: Sequence[ChatResult],
        sampling: dict[str, Any],
        *,
        completion_id: str | None = None,
        message_ids: Sequence[str] | None = None,
    ) -> str:
        """Store the messages not stored yet and the answers (choices of one completion, with
        ``message_ids`` when the caller chose them); returns the completion id, which is the
        first choice's message id."""
        completion_id = completion_id or f"chatcmpl-{uuid.uuid4().hex}"
        self.conversation_id = record_exchange(
            self.store,
            conversation_id=self.conversation_id,
            request_messages=recorded_messages(messages),
            completion_id=completion_id,
            answers=answers,
            record=ExchangeRecord(
                model=self.model,
                model_version=self.engine.version,
                engine=self.engine.kind,
                sampling=sampling,
            ),
            api_key_id=self.api_key_id,
            visible_to=self.visible_to,
            message_ids=message_ids,
        )
        self.message_id = completion_id
        return completion_id


def recording(engine: Engine, store: Store | None) -> Engine:
    """``engine`` with its answers recorded in ``store``; unchanged when ``store`` is None
    (a command's ``--no-log``)."""
    return engine if store is None else RecordedEngine(engine, store).as_engine()


class RecordedEngine:
    """An engine whose every answer is recorded; otherwise the engine itself (its name, kind,
    spec, version and the rest pass through).

    Calls that continue the last one's messages (a chat session, an agent's episode) are one
    conversation: only the messages past what is stored are added, tool calls and tool
    results included. A call that does not continue it (another prompt) starts a new
    conversation, as does ``new_conversation``; ``batch`` records each of its conversations as
    a conversation of its own.
    """

    def __init__(self, engine: Engine, store: Store, *, conversation_id: str | None = None):
        self.engine = engine
        self.store = store
        self.recorder = Recorder(store, engine, conversation_id=conversation_id)
        self.history: list[Message] = []  # the last call's messages and its answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    @property
    def conversation_id(self) -> str | None:
        return self.recorder.conversation_id

    @property
    def message_id(self) -> str | None:
        """The id of the last answer recorded (for `pasar feedback give`)."""
        return self.recorder.message_id

    def as_engine(self) -> Engine:
        """This, where an ``Engine`` is expected (it answers every call one does)."""
        return cast(Engine, self)

    def new_conversation(self) -> None:
        self.recorder = Recorder(self.store, self.engine)
        self.history = []

    def _save(self, messages: Sequence[Message], result: ChatResult, options: Any) -> None:
        if self.history and not continues(self.history, messages):
            self.new_conversation()
        self.recorder.save(messages, [result], sampling_record(options))
        self.history = [*messages, {"role": "assistant", "content": result.text}]

    def chat(self, messages: Sequence[Message], **options: Any) -> ChatResult:
        result = self.engine.chat(messages, **options)
        self._save(messages, result, options)
        return result

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[ChatChunk]:
        answer = StreamedAnswer(self.engine.name)
        answered = False
        try:
            for chunk in self.engine.stream(messages, **options):
                answered = True
                yield answer.add(chunk)
        finally:  # what was generated was generated: recorded even when the reader stopped
            if answered:  # (a request refused before its first chunk answered nothing)
                self._save(messages, answer.result(), options)

    def batch(self, conversations: Sequence[Sequence[Message]], **options: Any) -> list[ChatResult]:
        results = self.engine.batch(conversations, **options)
        for messages, result in zip(conversations, results, strict=True):
            Recorder(self.store, self.engine).save(messages, [result], sampling_record(options))
        return results

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> RecordedEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
