"""Store functions for the interaction log: exchanges, feedback, conversations.

Each function is keyword-only, opens its own session and commits before it returns, so that
whatever a caller was told was saved is on disk.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, func, select, true
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from pasar.errors import NotFoundError
from pasar.models.types import ChatResult, Message
from pasar.store.db import Store
from pasar.store.schema import Conversation, Feedback, utcnow
from pasar.store.schema import Message as MessageRow


def new_conversation_id() -> str:
    return f"conv_{uuid.uuid4().hex}"


def choice_message_ids(completion_id: str, n: int) -> list[str]:
    """The stored ids of a completion's ``n`` choices: the completion id for the first (what
    OpenAI clients hold), a new message id for each further one."""
    return [completion_id] + [f"msg_{uuid.uuid4().hex}" for _ in range(n - 1)]


@dataclass(frozen=True)
class ExchangeRecord:
    """How an answer was produced, stored with it."""

    model: str
    model_version: str | None
    engine: str
    sampling: dict[str, Any]


def record_exchange(
    db: Store,
    *,
    conversation_id: str | None,
    request_messages: Sequence[Message],
    completion_id: str,
    answers: Sequence[ChatResult],
    record: ExchangeRecord,
    api_key_id: int | None = None,
    visible_to: int | None = None,
    message_ids: Sequence[str] | None = None,
) -> str:
    """Store the request's new messages and the answers (choices share one position, and
    ``completion_id``); returns the conversation id. The answers' ids are ``message_ids``
    (default ``choice_message_ids``).

    Messages already stored for the conversation are not stored again: clients send the whole
    history with each request, so only the ones past the stored length are new. With
    ``visible_to`` (a key id), a conversation that key does not own is not found: one key
    cannot append to another's conversation (see ``owned_by``).

    Concurrent requests on one conversation take turns: the conversation is created if missing
    (a request that loses the race to create a client-chosen id appends to it instead) and its
    row stays locked until the new messages are committed, so each one reads the positions the
    previous one wrote. On SQLite the creating statement takes the database's write lock.
    """
    conversation_id = conversation_id or new_conversation_id()
    first_user = next((m for m in request_messages if m.get("role") == "user"), None)
    with db.session() as session, session.begin():
        session.execute(
            insert_if_missing(session, Conversation).values(
                id=conversation_id,
                title=str(first_user.get("content", ""))[:200] if first_user else "",
                api_key_id=api_key_id,
            )
        )
        conversation = session.scalars(
            select(Conversation).where(Conversation.id == conversation_id).with_for_update()
        ).one()
        if not owned_by(conversation, visible_to):
            raise NotFoundError(f"no conversation with id {conversation_id!r}")
        stored = (
            session.scalar(
                select(func.coalesce(func.max(MessageRow.position) + 1, 0)).where(
                    MessageRow.conversation_id == conversation.id
                )
            )
            or 0
        )
        position = stored
        for message in request_messages[stored:]:
            session.add(
                MessageRow(
                    id=f"msg_{uuid.uuid4().hex}",
                    conversation_id=conversation.id,
                    position=position,
                    role=message["role"],
                    content=str(message.get("content") or ""),
                    tool_calls=message.get("tool_calls"),
                    tool_call_id=message.get("tool_call_id"),
                )
            )
            position += 1
        ids = message_ids or choice_message_ids(completion_id, len(answers))
        for index, (answer, message_id) in enumerate(zip(answers, ids, strict=True)):
            session.add(
                MessageRow(
                    id=message_id,
                    conversation_id=conversation.id,
                    position=position,
                    choice=index,
                    completion_id=completion_id,
                    role="assistant",
                    content=answer.text,
                    tool_calls=[
                        {"id": c.id, "name": c.name, "arguments": c.arguments}
                        for c in answer.tool_calls
                    ]
                    or None,
                    model=record.model,
                    model_version=record.model_version,
                    engine=record.engine,
                    sampling=record.sampling,
                    finish_reason=answer.finish_reason,
                    prompt_tokens=answer.usage.prompt_tokens,
                    completion_tokens=answer.usage.completion_tokens,
                    latency_ms=round(answer.latency_s * 1000, 3),
                )
            )
        conversation.updated_at = utcnow()
        return conversation.id


def insert_if_missing(session: Session, table: type[Conversation]) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING, in the store's dialect (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing()


def add_feedback(
    db: Store,
    *,
    message_id: str,
    rating: str | None,
    correction: str | None = None,
    comment: str | None = None,
    tags: Sequence[str] = (),
    api_key_id: int | None = None,
    visible_to: int | None = None,
    choice: int = 0,
) -> int:
    """Record feedback on an assistant message: ``message_id`` is its id, or with ``choice``
    the id of its completion; returns the feedback id. With ``visible_to`` (a key id) a
    message of a conversation that key does not own is not found."""
    with db.session() as session, session.begin():
        message = (
            session.get(MessageRow, message_id)
            if choice == 0
            else session.scalars(
                select(MessageRow).where(
                    MessageRow.completion_id == message_id, MessageRow.choice == choice
                )
            ).first()
        )
        if (
            message is None
            or message.role != "assistant"
            or not owned_by(message.conversation, visible_to)
        ):
            raise NotFoundError(
                f"no assistant message with id {message_id!r}"
                + (f" and choice {choice}" if choice else "")
                + ": give the `id` of a chat completion returned by this server"
            )
        feedback = Feedback(
            message_id=message.id,
            rating=rating,
            correction=correction,
            comment=comment,
            tags=list(tags),
            api_key_id=api_key_id,
        )
        session.add(feedback)
        session.flush()
        return feedback.id


def owned_by(conversation: Conversation, visible_to: int | None) -> bool:
    """Whether a caller sees a conversation: ``visible_to`` None sees all (no keys on the
    server, or an admin key); a key id sees only the conversations it created."""
    return visible_to is None or conversation.api_key_id == visible_to


def check_conversation_access(db: Store, *, conversation_id: str, visible_to: int | None) -> None:
    """NotFoundError when ``conversation_id`` exists and belongs to another key (a new id is
    fine: the request will create it). Checked before generating, so another key's
    conversation costs no compute and reveals nothing."""
    with db.session() as session:
        conversation = session.get(Conversation, conversation_id)
        if conversation is not None and not owned_by(conversation, visible_to):
            raise NotFoundError(f"no conversation with id {conversation_id!r}")


def list_conversations(
    db: Store, *, limit: int = 50, offset: int = 0, visible_to: int | None = None
) -> list[dict[str, Any]]:
    """The newest conversations first; with ``visible_to``, only that key's."""
    with db.session() as session:
        counts = (
            select(MessageRow.conversation_id, func.count().label("n"))
            .group_by(MessageRow.conversation_id)
            .subquery()
        )
        rows = session.execute(
            select(Conversation, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.conversation_id == Conversation.id)
            .where(true() if visible_to is None else Conversation.api_key_id == visible_to)
            .order_by(Conversation.updated_at.desc(), Conversation.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return [
            {
                "id": c.id,
                "title": c.title,
                "created_at": c.created_at.isoformat(),
                "updated_at": c.updated_at.isoformat(),
                "message_count": n,
            }
            for c, n in rows
        ]


def message_dict(message: MessageRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": message.id,
        "position": message.position,
        **stored_message(message),
        "created_at": message.created_at.isoformat(),
    }
    if message.role == "assistant":
        out |= {
            "completion_id": message.completion_id,
            "choice": message.choice,
            "model": message.model,
            "model_version": message.model_version,
            "engine": message.engine,
            "sampling": message.sampling,
            "finish_reason": message.finish_reason,
            "usage": {
                "prompt_tokens": message.prompt_tokens,
                "completion_tokens": message.completion_tokens,
            },
            "latency_ms": message.latency_ms,
            "feedback": [
                {
                    "id": f.id,
                    "rating": f.rating,
                    "correction": f.correction,
                    "comment": f.comment,
                    "tags": f.tags,
                    "created_at": f.created_at.isoformat(),
                }
                for f in message.feedback
            ],
        }
    return out


def get_conversation(
    db: Store, *, conversation_id: str, visible_to: int | None = None
) -> dict[str, Any]:
    """A conversation with its messages and feedback; another key's is not found."""
    with db.session() as session:
        conversation = session.scalar(
            select(Conversation)
            .where(Conversation.id == conversation_id)
            .options(selectinload(Conversation.messages).selectinload(MessageRow.feedback))
        )
        if conversation is None or not owned_by(conversation, visible_to):
            raise NotFoundError(f"no conversation with id {conversation_id!r}")
        return {
            "id": conversation.id,
            "title": conversation.title,
            "created_at": conversation.created_at.isoformat(),
            "messages": [message_dict(m) for m in conversation.messages],
        }


def feedback_counts_by_model_and_day(db: Store) -> list[dict[str, Any]]:
    day = func.date(Feedback.created_at)
    with db.session() as session:
        rows = session.execute(
            select(
                MessageRow.model,
                day.label("day"),
                func.count().filter(Feedback.rating == "up"),
                func.count().filter(Feedback.rating == "down"),
                func.count(Feedback.correction),
            )
            .join(MessageRow, MessageRow.id == Feedback.message_id)
            .group_by(MessageRow.model, day)
            .order_by(day.desc(), MessageRow.model)
        ).all()
        return [
            {"model": m, "day": str(d), "up": up, "down": down, "corrections": c}
            for m, d, up, down, c in rows
        ]


@dataclass(frozen=True)
class FeedbackExample:
    """An assistant answer with what users thought of it, and the conversation before it."""

    message_id: str
    model: str | None
    prompt: list[Message]  # with tool calls and tool results as stored (see data/feedback.py)
    answer: str
    rating: str | None  # the latest rating given
    correction: str | None  # the latest correction given
    created_at: datetime
    answer_tool_calls: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None  # the tools the model was offered for this answer


def feedback_examples(
    db: Store,
    *,
    since: datetime | None = None,
    model: str | None = None,
    model_version: str | None = None,
) -> list[FeedbackExample]:
    """Every answer that got feedback (filtered by date of the feedback, by model name and by
    the version of the weights that wrote it)."""
    with db.session() as session:
        query = (
            select(Feedback)
            .join(MessageRow, MessageRow.id == Feedback.message_id)
            .order_by(Feedback.created_at, Feedback.id)
        )
        if since is not None:
            query = query.where(Feedback.created_at >= since)
        if model is not None:
            query = query.where(MessageRow.model == model)
        if model_version is not None:
            query = query.where(MessageRow.model_version == model_version)
        latest: dict[str, dict[str, Any]] = {}
        for feedback in session.scalars(query):
            entry = latest.setdefault(feedback.message_id, {"rating": None, "correction": None})
            entry["rating"] = feedback.rating or entry["rating"]
            entry["correction"] = feedback.correction or entry["correction"]
            entry["created_at"] = feedback.created_at
        examples = []
        for message_id, entry in latest.items():
            message = session.get_one(MessageRow, message_id)
            earlier = session.scalars(
                select(MessageRow)
                .where(
                    MessageRow.conversation_id == message.conversation_id,
                    MessageRow.position < message.position,
                    MessageRow.choice == 0,  # alternative choices (n > 1) are not history
                )
                .order_by(MessageRow.position)
            )
            prompt = [stored_message(m) for m in earlier]
            examples.append(
                FeedbackExample(
                    message_id=message_id,
                    model=message.model,
                    prompt=prompt,
                    answer=message.content,
                    rating=entry["rating"],
                    correction=entry["correction"],
                    created_at=entry["created_at"],
                    answer_tool_calls=message.tool_calls,
                    tools=(message.sampling or {}).get("tools"),
                )
            )
        return examples


def stored_message(row: MessageRow) -> Message:
    """A stored message as an OpenAI-style dict: role, content, and its tool calls or the id
    of the call it answers."""
    message: Message = {"role": row.role, "content": row.content}
    if row.tool_calls:
        message["tool_calls"] = row.tool_calls
    if row.tool_call_id:
        message["tool_call_id"] = row.tool_call_id
    return message


def recent_thumbs_down(db: Store, *, limit: int = 20) -> list[dict[str, Any]]:
    """The latest negative feedback, with the answer and any correction, for the admin page."""
    with db.session() as session:
        rows = session.execute(
            select(Feedback, MessageRow)
            .join(MessageRow, MessageRow.id == Feedback.message_id)
            .where(Feedback.rating == "down")
            .order_by(Feedback.created_at.desc(), Feedback.id.desc())
            .limit(limit)
        ).all()
        return [
            {
                "message_id": m.id,
                "conversation_id": m.conversation_id,
                "model": m.model,
                "answer": m.content,
                "correction": f.correction,
                "comment": f.comment,
                "created_at": f.created_at.isoformat(timespec="seconds"),
            }
            for f, m in rows
        ]
