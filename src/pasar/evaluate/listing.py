"""Listing titles: prompts built from the retail catalogue, and a verifier that checks answers.

A prompt asks for a title, in one of six languages, for one product variant (its type and its
options). The verifier checks, against the database and nothing else:
  * length: at most ``max_chars`` characters;
  * language: lingua (restricted to pasar's six) finds the requested one;
  * options present: every option value of the variant appears, in English or a glossary spelling
    (values meaning "none" excepted);
  * none invented: no value of another variant of the same option (blue for a red shirt);
  * no repetition: no word of 3+ letters more than twice, no repeated word pair.
Prompts are generated deterministically with a seed and split into train and held-out sets by
product, so that no held-out product was trained on.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from pasar.evaluate.glossary import spellings
from pasar.languages import (
    LANGUAGES,
    check_languages,
    detect_language,
    phrase_pattern,
)

TEMPLATES = {
    "en": "Write a product title in English (at most {n} characters) for: {name}; {options}. "
    "Reply with the title only.",
    "id": "Tulis judul produk dalam bahasa Indonesia (maksimal {n} karakter) untuk: {name}; "
    "{options}. Jawab dengan judulnya saja.",
    "ms": "Tulis tajuk produk dalam bahasa Melayu (maksimum {n} aksara) untuk: {name}; "
    "{options}. Balas dengan tajuk sahaja.",
    "th": "เขียนชื่อสินค้าเป็นภาษาไทย (ไม่เกิน {n} ตัวอักษร) สำหรับ: {name}; {options} ตอบเฉพาะชื่อสินค้า",
    "vi": "Viết tiêu đề sản phẩm bằng tiếng Việt (tối đa {n} ký tự) cho: {name}; {options}. "
    "Chỉ trả lời tiêu đề.",
    "tl": "Sumulat ng pamagat ng produkto sa Filipino (hanggang {n} na character) para sa: "
    "{name}; {options}. Ang pamagat lang ang isagot.",
}


@dataclass(frozen=True)
class TitleTask:
    id: str
    language: str
    product_id: str
    item_id: str
    name: str
    options: dict[str, str]
    other_values: dict[str, list[str]]  # values of the same options on other variants
    max_chars: int
    prompt: str
    split: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def held_out(key: str, fraction: float) -> bool:
    """A stable, seed-free assignment: the same product is held out in every run."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def title_tasks(
    db: dict[str, Any],
    *,
    per_language: int,
    seed: int = 0,
    max_chars: int = 80,
    held_out_fraction: float = 0.2,
    languages: tuple[str, ...] = tuple(LANGUAGES),
) -> list[TitleTask]:
    """``per_language`` tasks per language, each a random variant of a random product."""
    check_languages(languages)
    rng = random.Random(seed)
    products = sorted(db["products"].values(), key=lambda p: p["product_id"])
    tasks = []
    for language in languages:
        for i in range(per_language):
            product = rng.choice(products)
            variants = sorted(product["variants"].values(), key=lambda v: v["item_id"])
            variant = rng.choice(variants)
            options = variant["options"]
            others = {
                key: sorted({v["options"][key] for v in variants if key in v["options"]} - {value})
                for key, value in options.items()
            }
            described = ", ".join(f"{k}: {v}" for k, v in options.items())
            tasks.append(
                TitleTask(
                    id=f"title-{language}-{seed}-{i}",
                    language=language,
                    product_id=product["product_id"],
                    item_id=variant["item_id"],
                    name=product["name"],
                    options=options,
                    other_values=others,
                    max_chars=max_chars,
                    prompt=TEMPLATES[language].format(
                        n=max_chars, name=product["name"], options=described
                    ),
                    split="heldout"
                    if held_out(product["product_id"], held_out_fraction)
                    else "train",
                )
            )
    return tasks


# Values that say something is absent; a title need not (and should not) mention them.
ABSENT_VALUES = {"none", "no", "not resistant"}


def _mentions(text: str, value: str, language: str) -> bool:
    lowered = text.lower()
    for spelling in spellings(value, language):
        if re.search(phrase_pattern(spelling.lower(), language), lowered):
            return True
    return False


def language_evidence(task: TitleTask, title: str) -> str:
    """The title without the English option values, which any language may keep verbatim and
    which would otherwise pull a short title towards English (or, mixed in, towards Tagalog)."""
    if task.language == "en":
        return title
    rest = title
    for value in task.options.values():
        rest = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", " ", rest, flags=re.IGNORECASE)
    return rest if len(re.findall(r"\w+", rest)) >= 2 else title


@dataclass
class Verdict:
    passed: bool
    score: float  # share of checks passed
    checks: dict[str, bool]
    problems: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, checks: dict[str, bool], problems: list[str]) -> Verdict:
        """Passed when every check is; scored by the share passed."""
        return cls(all(checks.values()), sum(checks.values()) / len(checks), checks, problems)


def language_without(text: str, facts: Iterable[str]) -> str | None:
    """The language lingua finds in ``text`` once ``facts`` (names and ids written as the
    catalogue writes them, in English) are taken out; None for nothing left."""
    for fact in facts:
        text = re.sub(re.escape(fact), " ", text, flags=re.IGNORECASE)
    return detect_language(text) if text.strip() else None


def verify_title(task: TitleTask, title: str) -> Verdict:
    title = title.strip().strip('"').strip()
    problems = []
    checks = {"length": 0 < len(title) <= task.max_chars}
    if not checks["length"]:
        problems.append(f"{len(title)} characters (limit {task.max_chars})")
    found = detect_language(language_evidence(task, title)) if title else None
    checks["language"] = found == task.language
    if not checks["language"]:
        problems.append(f"language {found} instead of {task.language}")
    missing = [
        v
        for v in task.options.values()
        if v.lower() not in ABSENT_VALUES and not _mentions(title, v, task.language)
    ]
    checks["options_present"] = not missing
    if missing:
        problems.append(f"missing {missing}")
    invented = [
        v
        for key, values in task.other_values.items()
        for v in values
        if _mentions(title, v, task.language)
        and not any(v.lower() in s.lower() for s in spellings(task.options[key], task.language))
    ]
    checks["none_invented"] = not invented
    if invented:
        problems.append(f"values of other variants: {invented}")
    words = re.findall(r"\w+", title.lower())
    long_words = [w for w in words if len(w) >= 3]
    pairs = list(zip(words, words[1:], strict=False))
    repeated = {w for w in long_words if long_words.count(w) > 2} | {
        " ".join(p) for p in pairs if pairs.count(p) > 1
    }
    checks["no_repetition"] = not repeated
    if repeated:
        problems.append(f"repeats {sorted(repeated)}")
    return Verdict.of(checks, problems)
