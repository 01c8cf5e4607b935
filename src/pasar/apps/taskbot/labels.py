"""The judge's verdicts as feedback on the agent's recorded conversations, so that episodes
become training data by the same road as users' feedback (`pasar feedback export`).

`pasar taskbot eval` records each LLM agent episode as a conversation (tool calls and results
included) and writes its id into the episode. Labelling an episodes file then gives, on the
model's own answers in that conversation:

* a thumbs down to every answer whose tool call came back as an error, a policy refusal,
  "already answered", "already held", "already done" or "already tried", and to every reply
  the agent did not send because it repeated an earlier one (the failure is located there);
* in an episode the judge passed (final database state and facts), a thumbs up to every other
  answer: the trajectory a smaller model should learn;
* in an episode the judge failed with no located failure, a thumbs down to its last answer,
  and nothing to the others (which of them went wrong is not known).

Feedback is tagged ``taskbot-judge`` and the scenario id; an answer labelled before is left as
it is, so labelling a file again adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pasar.apps.taskbot.llm_agent import REPEATED_CALL, REPEATED_REPLY_NOTE
from pasar.store.db import Store
from pasar.store.interactions import add_feedback, get_conversation

TAG = "taskbot-judge"
FAILED = ("Error:", "Refused by policy:", *REPEATED_CALL)


def answer_labels(messages: list[dict[str, Any]], success: bool) -> dict[str, str]:
    """``{message id: "up" | "down"}`` for the model's answers among a conversation's
    messages, by the rules above."""
    answers = [m for m in messages if m["role"] == "assistant" and m.get("model")]
    caller = {c["id"]: m["id"] for m in answers for c in m.get("tool_calls") or []}
    failed = {
        caller[m["tool_call_id"]]
        for m in messages
        if m["role"] == "tool"
        and m.get("tool_call_id") in caller
        and m["content"].startswith(FAILED)
    }
    answer_ids = {m["id"] for m in answers}
    failed |= {  # a reply followed by the agent's note that it repeated one: not sent
        m["id"]
        for m, after in zip(messages, messages[1:], strict=False)
        if m["id"] in answer_ids
        and after["role"] == "user"
        and after["content"].startswith(REPEATED_REPLY_NOTE)
    }
    labels = dict.fromkeys(failed, "down")
    if success:
        labels |= {m["id"]: "up" for m in answers if m["id"] not in failed}
    elif not failed and answers:
        labels[answers[-1]["id"]] = "down"
    return labels


def label_episodes(db: Store, episodes: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Give the judge's feedback on each recorded episode; returns counts (episodes labelled,
    episodes not recorded, thumbs up, thumbs down)."""
    counts = {"episodes": 0, "not_recorded": 0, "up": 0, "down": 0}
    for episode in episodes:
        if not episode.get("conversation_id"):
            counts["not_recorded"] += 1
            continue
        conversation = get_conversation(db, conversation_id=episode["conversation_id"])
        messages = conversation["messages"]
        labelled = {
            m["id"] for m in messages if any(TAG in f["tags"] for f in m.get("feedback", []))
        }
        for message_id, rating in answer_labels(messages, episode["success"]).items():
            if message_id in labelled:
                continue
            add_feedback(db, message_id=message_id, rating=rating, tags=[TAG, episode["scenario"]])
            counts[rating] += 1
        counts["episodes"] += 1
    return counts
