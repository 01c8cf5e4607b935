"""The order-answer verifier on hand-checked replies (each rule can fail), and its prompts."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_DATA

from pasar.evaluate.orders import OrderTask, order_tasks, stated_statuses, verify_order_answer
from pasar.evaluate.prompts import make_prompts, read_prompts, verify

DB = json.loads((SHARED_DATA / "retail" / "db.json").read_text())


def order(language: str, status: str = "processed", tracking: tuple[str, ...] = ("357962501027",)):
    return OrderTask(
        id="o",
        language=language,
        user_id="james_li_5688",
        order_id="#W2611340",
        status=status,
        items=["Water Bottle", "Office Chair"],
        tracking_ids=list(tracking),
        messages=[],
        split="train",
    )


GOOD = {
    "en": "Your order #W2611340 has been processed. It contains a Water Bottle and an Office "
    "Chair, and the tracking number is 357962501027.",
    "id": "Pesanan #W2611340 Anda sudah diproses. Isinya Water Bottle dan Office Chair, dengan "
    "nomor resi 357962501027.",
    "vi": "Đơn hàng #W2611340 của bạn đã xử lý. Trong đơn có Water Bottle và Office Chair, mã "
    "vận đơn là 357962501027.",
    "th": "คำสั่งซื้อ #W2611340 ของคุณดำเนินการแล้ว มีสินค้า Water Bottle และ Office Chair "
    "เลขพัสดุคือ 357962501027",
    "tl": "Ang order mo na #W2611340 ay naproseso na. Laman nito ang Water Bottle at Office "
    "Chair, at ang tracking number ay 357962501027.",
}


@pytest.mark.parametrize("language", sorted(GOOD))
def test_good_replies_pass(language):
    verdict = verify_order_answer(order(language), GOOD[language])
    assert verdict.passed, verdict.problems
    assert verdict.score == 1.0


@pytest.mark.parametrize(
    ("reply", "failed", "problem"),
    [
        (GOOD["en"].replace("has been processed", "is with us"), "status", "not stated"),
        (GOOD["en"].replace(" and an Office Chair", ""), "items", "Office Chair"),
        (GOOD["en"].replace("357962501027", "coming soon"), "tracking", "357962501027"),
        (
            GOOD["en"] + " It was delivered yesterday.",
            "no_contradiction",
            "other statuses: ['delivered']",
        ),
        (GOOD["en"] + " Or try 123456789012.", "no_contradiction", "123456789012"),
        (
            "Pesanan #W2611340 has been processed: Water Bottle and Office Chair, tracking "
            "357962501027.",
            "language",
            "instead of id",
        ),
    ],
)
def test_each_rule_can_fail(reply, failed, problem):
    language = "id" if failed == "language" else "en"
    verdict = verify_order_answer(order(language), reply)
    assert not verdict.passed
    assert [name for name, ok in verdict.checks.items() if not ok] == [failed]
    assert problem in " ".join(verdict.problems)
    assert verdict.score == pytest.approx(0.8)


def test_negated_and_nested_statuses_are_not_contradictions():
    assert stated_statuses("It has not been delivered yet; it is pending.", "en") == {"pending"}
    # "belum diproses" (not yet processed) is pending, not processed
    assert stated_statuses("Pesanan Anda belum diproses.", "id") == {"pending"}
    assert stated_statuses("Đơn hàng đã hủy.", "vi") == {"cancelled"}
    pending = order("en", status="pending", tracking=())
    reply = "Order #W2611340 (Water Bottle, Office Chair) is pending; it has not shipped yet."
    assert verify_order_answer(pending, reply).passed


def test_plural_item_names_count():
    reply = GOOD["en"].replace("a Water Bottle", "two Water Bottles")
    assert verify_order_answer(order("en"), reply).checks["items"]


def test_prompts_are_deterministic_and_held_out_by_customer(tmp_path):
    first = order_tasks(DB, per_language=40, seed=3)
    assert first == order_tasks(DB, per_language=40, seed=3)
    assert {t.language for t in first} == {"en", "id", "ms", "th", "vi", "tl"}
    train = {t.user_id for t in first if t.split == "train"}
    heldout = {t.user_id for t in first if t.split == "heldout"}
    assert train and heldout and not train & heldout
    task = first[0]
    real = DB["orders"][task.order_id]
    assert f"status: {real['status']}" in task.messages[0]["content"]
    assert task.order_id in task.messages[1]["content"]
    # The record in the prompt is what the verifier checks against.
    assert verify_order_answer(task, task.messages[0]["content"]).checks["items"]


def test_prompt_rows_round_trip_through_a_file(tmp_path):
    from pasar.data.files import write_jsonl

    rows = make_prompts(DB, per_language=3, seed=1)
    assert {r["task"] for r in rows} == {"title", "order"} and len(rows) == 36
    path = tmp_path / "p.jsonl"
    write_jsonl(rows, path)
    heldout = read_prompts(path, "heldout")
    assert heldout and all(r["split"] == "heldout" for r in heldout)
    assert len(read_prompts(path, "all")) == 36
    title = next(r for r in rows if r["task"] == "title")
    assert verify(title, "x").score < 1
    with pytest.raises(ValueError, match="no verifier"):
        verify({"id": "p", "messages": [], "task": "chat"}, "x")
    (tmp_path / "bad.jsonl").write_text('{"id": "a"}\n')
    with pytest.raises(ValueError, match="needs an 'id' and 'messages'"):
        read_prompts(tmp_path / "bad.jsonl")
