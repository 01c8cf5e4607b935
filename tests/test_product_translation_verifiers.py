"""The product-question and translation verifiers on hand-written replies (each rule can fail),
and their prompts: deterministic, balanced over the six languages, held out by product and by
NTREX sentence, never on the scorecard's sentences."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_DATA

from pasar.evaluate.judges import VerifierJudge
from pasar.evaluate.products import ProductTask, stated_stock, verify_product_answer
from pasar.evaluate.prompts import make_prompts, verify
from pasar.evaluate.translation import PROMPT_LINES, TranslationTask, verify_translation

DB = json.loads((SHARED_DATA / "retail" / "db.json").read_text())


def product(language: str, available: bool = True) -> ProductTask:
    return ProductTask(
        id="p",
        language=language,
        product_id="9523456873",
        product="T-Shirt",
        item_id="9612497925",
        options={"color": "blue", "size": "M"},
        price=50.88,
        available=available,
        messages=[],
        split="train",
    )


GOOD = {
    "en": "Yes, the blue T-Shirt in size M is in stock, and it costs 50.88 USD.",
    "id": "Ya, T-Shirt warna blue ukuran M masih tersedia, dan harganya 50,88 USD.",
    "ms": "Ya, T-Shirt blue saiz M masih ada stok dan harganya ialah 50.88 USD sahaja.",
    "th": "สวัสดีค่ะ T-Shirt สี blue ไซส์ M ยังมีสินค้าอยู่ค่ะ ราคา 50.88 ดอลลาร์ค่ะ",
    "vi": "Dạ, áo T-Shirt màu blue size M vẫn còn hàng ạ, giá là 50.88 USD.",
    "tl": "Opo, may stock pa po ng T-Shirt na blue, size M, at ang presyo nito ay 50.88 USD.",
}


@pytest.mark.parametrize("language", sorted(GOOD))
def test_good_product_answers_pass(language):
    verdict = verify_product_answer(product(language), GOOD[language])
    assert verdict.passed, verdict.problems


@pytest.mark.parametrize(
    ("reply", "available", "failed"),
    [
        ("The blue T-Shirt is in stock.", True, "price"),
        ("The blue T-Shirt costs 50.88 USD.", True, "stock"),
        ("Sorry, the blue T-Shirt is not available; it was 50.88 USD.", True, "stock"),
        ("The blue T-Shirt is available for 50.88 USD.", False, "stock"),
        ("It is in stock at 50.88 USD, or 46.85 USD in red.", True, "no_contradiction"),
        ("Ya, T-Shirt ini tersedia dengan harga 50.88 USD.", True, "language"),
    ],
)
def test_each_product_rule_can_fail(reply, available, failed):
    verdict = verify_product_answer(product("en", available), reply)
    assert not verdict.checks[failed] and not verdict.passed, verdict.checks


def test_out_of_stock_wins_over_in_stock_words():
    assert stated_stock("Maaf, stoknya tidak tersedia.", "id") is False
    assert stated_stock("Ya, masih tersedia.", "id") is True
    assert stated_stock("Harganya 50.88.", "id") is None


def translation(language: str = "id") -> TranslationTask:
    return TranslationTask(
        id="t",
        language=language,
        source_language="en",
        source="The shop opens at nine in the morning.",
        reference="Toko itu buka pukul sembilan pagi.",
        line=1500,
        messages=[],
        split="train",
    )


def test_translation_is_scored_by_chrf_against_the_reference():
    exact = verify_translation(translation(), "Toko itu buka pukul sembilan pagi.")
    close = verify_translation(translation(), "Toko tersebut buka jam sembilan pagi.")
    copied = verify_translation(translation(), "The shop opens at nine in the morning.")
    assert exact.passed and exact.score == 1.0
    assert exact.score > close.score > copied.score
    assert not copied.checks["language"] and not copied.passed


def test_prompts_for_every_task_are_deterministic_and_held_out(tmp_path):
    ntrex = SHARED_DATA / "ntrex"
    tasks = ("product", "translation")
    rows = make_prompts(DB, per_language=6, seed=3, tasks=tasks, ntrex=ntrex)
    again = make_prompts(DB, per_language=6, seed=3, tasks=tasks, ntrex=ntrex)
    assert rows == again and len(rows) == 2 * 6 * 6
    for task in tasks:
        languages = [r["language"] for r in rows if r["task"] == task]
        assert sorted(set(languages)) == ["en", "id", "ms", "th", "tl", "vi"]
        assert all(languages.count(lang) == 6 for lang in set(languages))
    sentences = [r for r in rows if r["task"] == "translation"]
    assert all(r["facts"]["line"] in PROMPT_LINES for r in sentences)  # not the scorecard's
    into_english = [r["facts"]["source_language"] for r in sentences if r["language"] == "en"]
    assert set(into_english) == {"id", "ms", "th", "vi", "tl"}
    by_product: dict[str, set[str]] = {}
    for r in rows:
        if r["task"] == "product":
            by_product.setdefault(r["facts"]["product_id"], set()).add(r["split"])
    assert all(len(splits) == 1 for splits in by_product.values())  # a product is on one side
    first = next(r for r in rows if r["task"] == "product")
    facts = first["facts"]
    stock = "in stock" if facts["available"] else "out of stock"
    reply = f"The {facts['product']} is {stock} and costs {facts['price']:.2f} USD."
    assert first["language"] == "en" and verify(first, reply).passed
    good, bad = VerifierJudge().score([first, first], [reply, "No idea."])
    assert good == 1.0 > bad
