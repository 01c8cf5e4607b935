"""The localizer's logic with a scripted engine (the embedded model cannot translate, so only a
script can show a retry that succeeds): retry with the gates' feedback, flagging, glossary
placeholders, the translation memory, the title rewrite. The embedded model runs end to end in
test_listing_pipeline.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from pasar.apps.listing.localize import LocalizeConfig, Localizer
from pasar.apps.listing.memory import TranslationMemory
from pasar.models.engine import Engine, SamplingParams
from pasar.models.types import ChatChunk, ChatResult, Message, Usage


class ScriptedEngine(Engine):
    """Answers with ``answer(messages)``; records every conversation it was sent."""

    kind = "scripted"

    def __init__(self, answer: Callable[[list[Message]], str]):
        super().__init__("scripted")
        self.answer = answer
        self.sent: list[list[Message]] = []

    def _complete(self, messages, params: SamplingParams, json_schema, tools) -> ChatResult:
        self.sent.append(messages)
        return ChatResult(self.answer(messages), "stop", Usage(1, 1), self.name)

    def _stream(self, messages, params, json_schema) -> Iterator[ChatChunk]:
        yield ChatChunk(self.answer(messages), "stop")


def source_text(messages: list[Message]) -> str:
    return messages[1]["content"].split(":\n", 1)[1]


ITEM = {
    "id": "bag",
    "title": "Starter Yoga Bag ST1004, 100% polyester",
    "brand": "Starter",
    "description": "",
}
GOOD_ID = "Tas Yoga [T0] [T1], bahan 100% poliester"


def localizer(answer: Callable[[list[Message]], str], **config: Any) -> Localizer:
    settings = {"targets": ("id",), "rewrite": False, "fuzzy": False, **config}
    return Localizer(LocalizeConfig(**settings), engine=ScriptedEngine(answer))


def test_retry_with_feedback_then_pass() -> None:
    def answer(messages: list[Message]) -> str:
        return GOOD_ID if len(messages) > 2 else "Starter Yoga Bag ST1004, 100% polyester"

    run = localizer(answer)
    [result] = run([ITEM])
    assert result["fields"]["title_id"] == "Tas Yoga Starter ST1004, bahan 100% poliester"
    assert result["fields"]["status_id"] == "ok"
    title = result["report"]["languages"]["id"]["fields"]["title"]
    assert title["attempts"] == 2 and title["passed"]
    retry = run.engine.sent[1]  # type: ignore[attr-defined]
    assert retry[-2] == {"role": "assistant", "content": "Starter Yoga Bag ST1004, 100% polyester"}
    assert "rejected" in retry[-1]["content"] and "Indonesian" in retry[-1]["content"]


def test_failing_field_is_flagged_and_left_empty() -> None:
    run = localizer(lambda messages: "Starter Yoga Bag ST1004, 100% polyester", retries=2)
    [result] = run([ITEM])
    assert result["fields"]["title_id"] is None
    assert result["fields"]["status_id"] == "flagged"
    assert "wrong_language" in result["fields"]["issues_id"].split()
    title = result["report"]["languages"]["id"]["fields"]["title"]
    assert title["attempts"] == 3 and not title["passed"]
    assert title["output"] == "Starter Yoga Bag ST1004, 100% polyester"  # kept for review


def test_glossary_terms_travel_as_placeholders(tmp_path) -> None:
    glossary = tmp_path / "glossary.csv"
    glossary.write_text("term,id\nYoga Bag,Tas Yoga\npolyester,\n")
    seen = []

    def answer(messages: list[Message]) -> str:
        seen.append(source_text(messages))
        return "[T1] [T2] [T3], terbuat dari bahan 100% [T0] yang ringan"  # any order

    run = localizer(answer, glossary=glossary, retries=0)
    [result] = run([ITEM])
    assert "Starter" not in seen[0] and "ST1004" not in seen[0] and "[T0]" in seen[0]
    assert result["fields"]["status_id"] == "ok", result["report"]
    output = result["fields"]["title_id"]
    assert "Tas Yoga" in output and "Starter" in output and "ST1004" in output
    assert "polyester" in output


def test_a_lost_placeholder_is_caught() -> None:
    run = localizer(lambda messages: "Tas yoga bahan 100% poliester [T1]", retries=0)
    [result] = run([ITEM])
    assert result["fields"]["status_id"] == "flagged"
    codes = result["fields"]["issues_id"].split()
    assert "brand_dropped" in codes or "model_number_changed" in codes


def test_exact_memory_translates_a_repeated_string_once() -> None:
    items = [
        {"id": str(i), "title": f"Kettle number {i}", "description": "Glass kettle, 1.5 L."}
        for i in range(3)
    ]

    def answer(messages: list[Message]) -> str:
        text = source_text(messages)
        if text.startswith("Kettle"):
            return f"Ketel listrik nomor {text.split()[-1]}"
        return "Ketel kaca, 1,5 L."

    run = localizer(answer)
    results = run(items[:1]) + run(items[1:])
    asked = [source_text(m) for m in run.engine.sent]  # type: ignore[attr-defined]
    assert asked.count("Glass kettle, 1.5 L.") == 1
    assert {r["fields"]["description_id"] for r in results} == {"Ketel kaca, 1,5 L."}
    memory = [r["report"]["languages"]["id"]["fields"]["description"]["memory"] for r in results]
    assert memory == [None, "exact", "exact"]


def test_fuzzy_memory_gives_a_close_example() -> None:
    memory = TranslationMemory(fuzzy=True, threshold=0.85)
    memory.add(
        [("Glass electric kettle, 1.5 liters", "Ketel listrik kaca, 1,5 liter")], ("en", "id")
    )
    near, far = memory.examples(
        ["Glass electric kettle, 1.7 liters", "Hiking boots, waterproof, size 10"], ("en", "id")
    )
    assert near == ("Glass electric kettle, 1.5 liters", "Ketel listrik kaca, 1,5 liter")
    assert far is None


def test_rewrite_is_checked_and_a_bad_one_keeps_the_original() -> None:
    def answer(messages: list[Message]) -> str:
        if "Answer in JSON" in messages[0]["content"]:
            title = "Starter Yoga Bag ST1004 polyester 100%"
            if "Mat" in messages[1]["content"]:
                title = "Starter Yoga Mat 6mm 6mm 6mm"  # invents a number, repeats
            if "Towel" in messages[1]["content"]:
                title = "Yoga Towel by Starter ST1004, 100% polyester"  # brand not first
            return json.dumps({"title": title, "bullets": ["Lightweight, fast-drying"]})
        return "Tas Yoga [T0] [T1], bahan 100% poliester"

    run = localizer(answer, rewrite=True, retries=0)
    mat = {**ITEM, "id": "mat", "title": "Starter Yoga Mat ST1004, 100% polyester"}
    towel = {**ITEM, "id": "towel", "title": "Starter Yoga Towel ST1004, 100% polyester"}
    bag, bad, late_brand = run([ITEM, mat, towel])
    assert bag["fields"]["title_rewritten"] == "Starter Yoga Bag ST1004 polyester 100%"
    assert bag["fields"]["bullet_points_rewritten"] == ["Lightweight, fast-drying"]
    assert "title_rewritten" not in bad["fields"]
    rejected = {i["code"] for i in bad["report"]["rewrite"]["issues"]}
    assert {"number_changed", "repetition"} <= rejected
    assert [i["code"] for i in late_brand["report"]["rewrite"]["issues"]] == ["brand_not_first"]


def test_a_recording_run_records_each_attempt_in_the_store() -> None:
    from pasar.store.db import open_configured_store
    from pasar.store.interactions import get_conversation, list_conversations

    def answer(messages: list[Message]) -> str:
        return GOOD_ID if len(messages) > 2 else "Starter Yoga Bag ST1004, 100% polyester"

    localizer(answer, record=True)([ITEM])
    store = open_configured_store()
    # Each batch call's conversations are their own: the first attempt, then the retry.
    first, retry = sorted(list_conversations(store), key=lambda c: c["message_count"])
    first_messages = get_conversation(store, conversation_id=first["id"])["messages"]
    assert first_messages[-1]["content"] == "Starter Yoga Bag ST1004, 100% polyester"
    messages = get_conversation(store, conversation_id=retry["id"])["messages"]
    assert [m["role"] for m in messages][-3:] == ["assistant", "user", "assistant"]
    assert "rejected" in messages[-2]["content"]  # the gates' feedback the retry was given
    assert messages[-1]["content"] == GOOD_ID and messages[-1]["engine"] == "scripted"
