"""What apps that translate product text share: the glossary and do-not-translate terms
(protected by placeholders before translation, put back and verified after), model numbers,
and the translation prompt. The listing app and image text translation both use it.

A glossary file is CSV with a ``term`` column and one column per language (``id``, ``th``...):
an empty cell means "keep the term as it is" (brands, model numbers), a filled one the required
translation. JSON works too: ``{"term": {"th": "..."}}``, or ``{"term": null}`` to keep it.
The item's brand and model numbers are always kept verbatim.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pasar.errors import MissingInputError
from pasar.languages import LANGUAGES
from pasar.models.types import Message

PLACEHOLDER = re.compile(r"\[T(\d+)\]")
NUMBER_UNIT = re.compile(r"(\d+(?:[.,]\d+)*)\s*-?\s*([^\W\d_]+|%)?", re.UNICODE)
MODEL_NUMBER = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*")
MIXED = re.compile(r"\d[A-Za-z]|[A-Za-z]\d")  # letters and digits in one piece


@dataclass(frozen=True)
class Glossary:
    # term -> {language: required translation}; an empty dict keeps the term verbatim
    terms: dict[str, dict[str, str]] = field(default_factory=dict)

    def required(self, text: str, language: str) -> dict[str, str]:
        """Glossary terms in ``text`` the translation into ``language`` must contain:
        term -> wanted form."""
        return {t: self.terms[t].get(language, t) for t in self.terms if _contains(text, t)}

    def protected(self, text: str, language: str, brand: str | None) -> dict[str, str]:
        """What to hide behind placeholders: glossary terms, the brand and model numbers."""
        found = self.required(text, language)
        for term in [brand, *sorted(model_numbers(text))]:
            if term and _contains(text, term):
                found.setdefault(term, term)
        return found


def _contains(text: str, term: str) -> bool:
    return bool(re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE))


def load_glossary(path: Path | None) -> Glossary:
    if path is None:
        return Glossary()
    if not path.exists():
        raise MissingInputError(f"glossary {path} does not exist")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"glossary {path} is not valid JSON ({exc.msg})") from exc
        if not isinstance(data, dict):
            raise ValueError(f'glossary {path} must be a JSON object {{"term": {{"th": ...}}}}')
        return Glossary({str(t): dict(v or {}) for t, v in data.items()})
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "term" not in reader.fieldnames:
        raise ValueError(f"glossary {path} needs a 'term' column (then one column per language)")
    terms = {}
    for row in reader:
        term = (row.pop("term") or "").strip()
        if term:
            terms[term] = {lang: v.strip() for lang, v in row.items() if lang and v and v.strip()}
    return Glossary(terms)


def protect(text: str, required: dict[str, str]) -> tuple[str, dict[str, str]]:
    """Replace each required term by a placeholder [T0], [T1]...; returns the text and
    placeholder -> the term's wanted form in the target language."""
    slots: dict[str, str] = {}
    for i, term in enumerate(sorted(required, key=len, reverse=True)):
        pattern = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)
        if pattern.search(text):
            slot = f"[T{i}]"
            text = pattern.sub(slot, text)
            slots[slot] = required[term]
    return text, slots


def restore(text: str, slots: dict[str, str]) -> str:
    """Put the terms back. A placeholder the model lost leaves its term missing, which the
    gates then report (term_missing, brand_dropped, model_number_changed)."""
    return PLACEHOLDER.sub(lambda m: slots.get(m.group(0), m.group(0)), text)


def model_numbers(text: str) -> set[str]:
    """Tokens mixing letters and digits (WH-1000XM4, ST1004, B074M5HPB7), but not a number
    and a word (500ml, 32GB, 13-inch, 2-piece), which the number gates check."""
    return {
        t
        for t in MODEL_NUMBER.findall(text)
        if not NUMBER_UNIT.fullmatch(t) and any(MIXED.search(part) for part in t.split("-"))
    }


def language_name(code: str) -> str:
    return LANGUAGES[code].name.title()


def translate_messages(
    text: str, source_lang: str, target_lang: str, example: tuple[str, str] | None
) -> list[Message]:
    source, target = language_name(source_lang), language_name(target_lang)
    prompt = ""
    if example:
        prompt = f"Example:\n{source}: {example[0]}\n{target}: {example[1]}\n\n"
    prompt += f"Translate from {source} into {target}:\n{text}"
    return [
        {
            "role": "system",
            "content": f"You translate e-commerce product listings from {source} into {target}. "
            "Keep tokens like [T0] exactly as they are, keep every number with its unit, and "
            "reply with the translation only.",
        },
        {"role": "user", "content": prompt},
    ]
