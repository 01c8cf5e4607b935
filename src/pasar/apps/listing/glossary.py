"""Glossary and do-not-translate terms: protected by placeholders before translation, put back
and verified after.

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

from pasar.apps.listing.gates import model_numbers
from pasar.errors import MissingInputError

PLACEHOLDER = re.compile(r"\[T(\d+)\]")


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
