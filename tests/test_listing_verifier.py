"""The listing-title verifier on hand-checked titles (each rule can fail), and its prompts."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_DATA

from pasar.evaluate.listing import TitleTask, title_tasks, verify_title

DB = json.loads((SHARED_DATA / "retail" / "db.json").read_text())


def shirt(language: str) -> TitleTask:
    return TitleTask(
        id="t",
        language=language,
        product_id="9523456873",
        item_id="9612497925",
        name="T-Shirt",
        options={"color": "red", "size": "M", "material": "cotton", "style": "crew neck"},
        other_values={
            "color": ["black", "blue", "purple"],
            "size": ["L", "S", "XL"],
            "material": ["polyester"],
            "style": ["v-neck"],
        },
        max_chars=80,
        prompt="",
        split="train",
    )


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("en", "Red Cotton Crew Neck T-Shirt, Size M"),
        ("id", "Kaos Katun Merah Crew Neck Ukuran M"),
        ("vi", "Áo thun cotton màu đỏ cổ tròn crew neck size M"),
        ("th", "เสื้อยืดผ้าฝ้ายสีแดง คอกลม crew neck ไซส์ M"),
    ],
)
def test_good_titles_pass(language, title):
    verdict = verify_title(shirt(language), title)
    assert verdict.passed, verdict.problems
    assert verdict.score == 1.0


@pytest.mark.parametrize(
    ("title", "failed", "problem"),
    [
        (
            "Red Cotton Crew Neck T-Shirt, Size M, soft breathable everyday classic fit for all",
            "length",
            "characters",
        ),
        (
            "Kaos red cotton crew neck ukuran M untuk pria dan wanita, nyaman dipakai",
            "language",
            "language id instead of en",
        ),
        ("Red Crew Neck T-Shirt, Size M", "options_present", "missing ['cotton']"),
        ("Red Cotton Crew Neck T-Shirt, Size M, also in Blue", "none_invented", "['blue']"),
        ("Red Cotton Cotton Cotton Crew Neck T-Shirt Size M", "no_repetition", "repeats"),
    ],
)
def test_each_rule_can_fail(title, failed, problem):
    verdict = verify_title(shirt("en"), title)
    assert not verdict.passed
    assert [name for name, ok in verdict.checks.items() if not ok] == [failed]
    assert problem in " ".join(verdict.problems)
    assert verdict.score == pytest.approx(0.8)


def test_the_correct_value_inside_another_does_not_count_as_invented():
    task = shirt("en")
    task = TitleTask(
        **{**task.to_dict(), "options": {"color": "rose gold"}, "other_values": {"color": ["gold"]}}
    )
    assert verify_title(task, "Rose Gold Watch").checks["none_invented"]


def test_prompts_are_deterministic_and_held_out_by_product():
    first = title_tasks(DB, per_language=40, seed=3)
    assert first == title_tasks(DB, per_language=40, seed=3)
    assert first != title_tasks(DB, per_language=40, seed=4)
    assert {t.language for t in first} == {"en", "id", "ms", "th", "vi", "tl"}
    train = {t.product_id for t in first if t.split == "train"}
    heldout = {t.product_id for t in first if t.split == "heldout"}
    assert train and heldout and not train & heldout
    thai = next(t for t in first if t.language == "th")
    assert thai.prompt.startswith("เขียนชื่อสินค้าเป็นภาษาไทย") and thai.name in thai.prompt
    with pytest.raises(ValueError, match="unknown languages"):
        title_tasks(DB, per_language=1, languages=("fr",))
