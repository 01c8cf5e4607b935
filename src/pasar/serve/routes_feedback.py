"""Feedback and the interaction log: POST /v1/feedback, conversations, stats, export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from pasar.data.feedback import FORMATS, feedback_rows
from pasar.data.files import jsonl_line
from pasar.serve.deps import AdminDep, CallerDep, StateDep, visible_to
from pasar.serve.schemas import FeedbackCreate, FeedbackPublic
from pasar.store.interactions import (
    add_feedback,
    choice_message_id,
    feedback_counts_by_model_and_day,
    feedback_examples,
    get_conversation,
    list_conversations,
    recent_thumbs_down,
)

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post("/feedback", status_code=201)
def create_feedback(body: FeedbackCreate, state: StateDep, caller: CallerDep) -> FeedbackPublic:
    message_id = choice_message_id(body.message_id, body.choice_index)
    feedback_id = add_feedback(
        state.store,
        message_id=message_id,
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
        message_id=message_id,
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
    _: AdminDep,
    format: Annotated[str, Query(description=f"One of {', '.join(FORMATS)}")] = "sft",
    since: datetime | None = None,
    model: str | None = None,
) -> Response:
    rows = feedback_rows(feedback_examples(state.store, since=since, model=model), format)
    body = "".join(map(jsonl_line, rows))
    return Response(
        body,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="feedback-{format}.jsonl"'},
    )
