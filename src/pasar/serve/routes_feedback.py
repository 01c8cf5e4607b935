"""Feedback and the interaction log: POST /v1/feedback, conversations, stats, export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from pasar.data.feedback import FORMATS, feedback_rows
from pasar.data.files import jsonl_line
from pasar.data.redact import redact_rows
from pasar.serve.deps import AdminDep, CallerDep, StateDep, visible_to
from pasar.serve.errors import APIError
from pasar.serve.schemas import FeedbackCreate, FeedbackPublic
from pasar.store.interactions import (
    add_feedback,
    feedback_counts_by_model_and_day,
    feedback_examples,
    get_conversation,
    list_conversations,
    recent_thumbs_down,
)

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post("/feedback", status_code=201)
def create_feedback(body: FeedbackCreate, state: StateDep, caller: CallerDep) -> FeedbackPublic:
    feedback_id = add_feedback(
        state.store,
        message_id=body.message_id,
        choice=body.choice_index,
        rating=body.rating,
        correction=body.correction,
        comment=body.comment,
        tags=body.tags,
        api_key_id=caller.id if caller else None,
        visible_to=visible_to(caller),
    )
    state.metrics.feedback.labels(
        body.rating or ("correction" if body.correction else "comment")
    ).inc()
    return FeedbackPublic(
        id=feedback_id,
        message_id=body.message_id,
        choice_index=body.choice_index,
        rating=body.rating,
        correction=body.correction,
        comment=body.comment,
        tags=body.tags,
    )


@router.get("/conversations")
def conversations(
    state: StateDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """The caller's conversations (an admin key: everyone's)."""
    rows = list_conversations(
        state.store, limit=limit, offset=offset, visible_to=visible_to(caller)
    )
    return {"object": "list", "data": rows}


@router.get("/conversations/{conversation_id}")
def conversation(conversation_id: str, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    """One of the caller's conversations; another key's answers 404, as a missing one."""
    return get_conversation(
        state.store, conversation_id=conversation_id, visible_to=visible_to(caller)
    )


@router.get("/admin/stats")
def admin_stats(state: StateDep, _: AdminDep) -> dict[str, Any]:
    return {
        "feedback_by_model_and_day": feedback_counts_by_model_and_day(state.store),
        "recent_thumbs_down": recent_thumbs_down(state.store, limit=20),
    }


@router.get("/admin/export")
def export(
    state: StateDep,
    caller: AdminDep,
    format: Annotated[str, Query(description=f"One of {', '.join(FORMATS)}")] = "sft",
    since: datetime | None = None,
    model: str | None = None,
    redact: Annotated[
        bool,
        Query(
            description="Replace emails, phone numbers, street addresses, card numbers and "
            "order/user ids with {{EMAIL}}, {{PHONE}}, … (default true). false needs an "
            "admin key."
        ),
    ] = True,
) -> Response:
    """Feedback as a JSONL training file, redacted of personal data (``pasar.data.redact``).

    The whole endpoint needs an admin key (``AdminDep``: a user or disputes key gets 403).
    ``redact=false`` is honoured only for a caller that presented an admin-scope key: on a
    server without keys (local use, or ``--insecure-open``) nobody is authenticated, so it is
    refused with 403 and the raw text is never sent; the machine's owner has
    ``pasar feedback export --no-redact`` for that. The ``X-Pasar-Redacted`` header says which
    one was sent."""
    if not redact and (caller is None or caller.scope != "admin"):
        raise APIError(
            403,
            "redact=false needs an admin key (`pasar keys create NAME --scope admin`); "
            "without keys, use `pasar feedback export --no-redact` on the server's machine",
            code="admin_required",
        )
    rows = feedback_rows(feedback_examples(state.store, since=since, model=model), format)
    if redact:
        rows = redact_rows(rows)
    body = "".join(map(jsonl_line, rows))
    return Response(
        body,
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": f'attachment; filename="feedback-{format}.jsonl"',
            "X-Pasar-Redacted": "true" if redact else "false",
        },
    )
