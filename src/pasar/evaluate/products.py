"""Product questions: a shopper asks whether one variant of a product is in stock and what it
costs; the reply is checked against the product record.

The assistant is given the product's record (every variant: options, price, in stock or not)
and the question in one of six languages. The verifier checks, against the database only:
  * price: the variant's price appears (``54.04``, ``54,04`` and ``$54.04`` all count);
  * stock: the reply says in stock when it is and out of stock when it is not (a phrase of
    the reply's language or English; an out-of-stock phrase wins over an in-stock one, so
    "not available" is not also "available");
  * no contradiction: no price that is not this variant's;
  * language: lingua (restricted to pasar's six) finds the shopper's language.
Prompts are made deterministically with a seed and split into train and held-out by product.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from typing import Any

from pasar.evaluate.listing import Verdict, held_out, language_without
from pasar.languages import LANGUAGE_NAMES, LANGUAGES, check_languages

QUESTIONS = {
    "en": "Hi, is the {product} ({options}) in stock? How much is it?",
    "id": "Halo, apakah {product} ({options}) masih tersedia? Berapa harganya?",
    "ms": "Hai, adakah {product} ({options}) masih ada stok? Berapa harganya?",
    "th": "สวัสดีค่ะ {product} ({options}) ยังมีสินค้าอยู่ไหมคะ ราคาเท่าไหร่",
    "vi": "Chào shop, {product} ({options}) còn hàng không? Giá bao nhiêu vậy?",
    "tl": "Hi po, may stock pa ba ng {product} ({options})? Magkano po ito?",
}
SYSTEM = (
    "You are the shopping assistant of an online store. Answer the shopper in {language}, "
    "using only this product record.\n{record}"
)
IN_STOCK = {
    "en": ("in stock", "available"),
    "id": ("tersedia", "masih ada", "ada stok", "stok ada", "ready"),
    "ms": ("tersedia", "masih ada", "ada stok", "stok ada"),
    "th": ("มีสินค้า", "มีของ", "มีจำหน่าย", "ยังมี"),
    "vi": ("còn hàng", "có sẵn", "vẫn còn"),
    "tl": ("may stock", "mayroon", "meron", "available"),
}
OUT_OF_STOCK = {
    "en": ("out of stock", "not available", "unavailable", "sold out", "not in stock"),
    "id": ("tidak tersedia", "habis", "stok kosong", "kosong", "tidak ada stok"),
    "ms": ("tidak tersedia", "habis", "kehabisan stok", "tiada stok", "tidak ada stok"),
    "th": ("ไม่มีสินค้า", "สินค้าหมด", "หมดแล้ว", "ไม่มีของ", "หมด"),
    "vi": ("hết hàng", "không có sẵn", "không còn", "đã hết"),
    "tl": ("wala nang stock", "walang stock", "ubos na", "out of stock", "hindi available"),
}
PRICE_LIKE = re.compile(r"(?<![\d.,])\d{1,5}[.,]\d{2}(?![\d])")


@dataclass(frozen=True)
class ProductTask:
    id: str
    language: str
    product_id: str
    product: str
    item_id: str
    options: dict[str, str]
    price: float
    available: bool
    messages: list[dict[str, str]]
    split: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def product_record(product: dict[str, Any]) -> str:
    lines = [f"product: {product['name']} (id {product['product_id']})"]
    for variant in product["variants"].values():
        options = ", ".join(f"{k} {v}" for k, v in variant["options"].items())
        stock = "in stock" if variant["available"] else "out of stock"
        lines.append(f"- {options}: {variant['price']:.2f} USD, {stock}")
    return "\n".join(lines)


def product_tasks(
    db: dict[str, Any],
    *,
    per_language: int,
    seed: int = 0,
    held_out_fraction: float = 0.2,
    languages: tuple[str, ...] = tuple(LANGUAGES),
) -> list[ProductTask]:
    """``per_language`` questions per language, each about a random variant of a random
    product (of at most 12 variants, so the record stays short)."""
    check_languages(languages)
    rng = random.Random(seed)
    products = sorted(
        (p for p in db["products"].values() if 0 < len(p["variants"]) <= 12),
        key=lambda p: p["product_id"],
    )
    tasks = []
    for language in languages:
        for i in range(per_language):
            product = rng.choice(products)
            variant = rng.choice(sorted(product["variants"].values(), key=lambda v: v["item_id"]))
            options = ", ".join(variant["options"].values())
            system = SYSTEM.format(
                language=LANGUAGE_NAMES[language], record=product_record(product)
            )
            question = QUESTIONS[language].format(product=product["name"], options=options)
            tasks.append(
                ProductTask(
                    id=f"product-{language}-{seed}-{i}",
                    language=language,
                    product_id=product["product_id"],
                    product=product["name"],
                    item_id=variant["item_id"],
                    options=dict(variant["options"]),
                    price=float(variant["price"]),
                    available=bool(variant["available"]),
                    messages=[
                        {"role": "system", "content": system},
                        {"role": "user", "content": question},
                    ],
                    split="heldout"
                    if held_out(f"product:{product['product_id']}", held_out_fraction)
                    else "train",
                )
            )
    return tasks


def stated_prices(text: str) -> set[float]:
    """Every amount with two decimals in ``text`` (a decimal comma read as a point)."""
    return {float(m.replace(",", ".")) for m in PRICE_LIKE.findall(text)}


def stated_stock(text: str, language: str) -> bool | None:
    """True (in stock), False (out of stock) or None (not said), in ``language`` or English."""
    lowered = text.lower()
    for phrases, said in ((OUT_OF_STOCK, False), (IN_STOCK, True)):
        if any(p in lowered for p in {*phrases["en"], *phrases[language]}):
            return said
    return None


def verify_product_answer(task: ProductTask, reply: str) -> Verdict:
    reply = reply.strip()
    problems = []
    prices = stated_prices(reply)
    checks = {"price": round(task.price, 2) in prices}
    if not checks["price"]:
        problems.append(f"price {task.price:.2f} not stated")
    stock = stated_stock(reply, task.language)
    checks["stock"] = stock is task.available
    if not checks["stock"]:
        said = {None: "nothing", True: "in stock", False: "out of stock"}[stock]
        truth = "in stock" if task.available else "out of stock"
        problems.append(f"says {said} about stock; it is {truth}")
    wrong = sorted(p for p in prices if p != round(task.price, 2))
    checks["no_contradiction"] = not wrong
    if wrong:
        problems.append(f"prices not this variant's: {wrong}")
    found = language_without(reply, [task.product, *task.options.values()])
    checks["language"] = found == task.language
    if not checks["language"]:
        problems.append(f"language {found} instead of {task.language}")
    return Verdict.of(checks, problems)
