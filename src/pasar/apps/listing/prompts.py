"""The messages sent to the model: rewrite a title for search, translate a field, and try again
with the gates' feedback."""

from __future__ import annotations

from typing import Any

from pasar.apps.listing.gates import Issue
from pasar.data.translation import language_name
from pasar.models.types import Message

MAX_BULLETS = 5

# Why each gate failed, said as an instruction the model can follow.
FEEDBACK = {
    "empty": "the answer was empty",
    "wrong_language": "it was not written in {target}",
    "number_changed": "numbers were changed ({detail}); keep every number exactly",
    "unit_changed": "units were changed ({detail}); keep each number with its unit",
    "size_changed": "sizes were dropped ({detail}); keep them",
    "model_number_changed": "model numbers were dropped ({detail}); copy them exactly",
    "brand_dropped": "the brand was dropped ({detail}); keep it exactly as written",
    "brand_altered": "the brand was misspelled ({detail}); copy it exactly",
    "term_missing": "required terms were missing ({detail}); keep the [T0]-style tokens",
    "over_length": "it was too long ({detail}); make it shorter",
    "repetition": "it repeated itself ({detail}); say each thing once",
    "untranslated": "part was left in the source language ({detail}); translate all of it",
    "meaning_lost": "it did not say what the source says ({detail}); translate it faithfully",
}


def rewrite_schema(title_chars: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 5, "maxLength": title_chars},
            "bullets": {
                "type": "array",
                "items": {"type": "string", "minLength": 3, "maxLength": 160},
                "maxItems": MAX_BULLETS,
            },
        },
        "required": ["title", "bullets"],
    }


def rewrite_messages(item: dict[str, Any], language: str, title_chars: int) -> list[Message]:
    attributes = item.get("attributes") or {}
    facts = (
        "; ".join(f"{k}: {v}" for k, v in attributes.items())
        if isinstance(attributes, dict)
        else str(attributes)
    )
    lines = [
        f"Title: {item.get('title', '')}",
        f"Brand: {item.get('brand') or '(none)'}",
        f"Category: {item.get('category') or '(none)'}",
        f"Attributes: {facts or '(none)'}",
    ]
    if item.get("description"):
        lines.append(f"Description: {item['description']}")
    return [
        {
            "role": "system",
            "content": "You write marketplace product listings. A title is: brand, product type, "
            f"then key attributes (size, color, capacity), at most {title_chars} characters, "
            "each word once, no promotional words. Bullets are short selling points taken "
            f"from the facts given. Write in {language_name(language)}. Answer in JSON.",
        },
        {"role": "user", "content": "\n".join(lines)},
    ]


def feedback_message(issues: list[Issue], target_lang: str) -> str:
    target = language_name(target_lang)
    reasons = "; ".join(
        FEEDBACK.get(i.code, i.code).format(detail=i.detail, target=target) for i in issues
    )
    return (
        f"That translation was rejected: {reasons}. Translate it again into {target}, fixing "
        "these problems. Reply with the translation only."
    )


def with_feedback(
    messages: list[Message], answer: str, issues: list[Issue], target_lang: str
) -> list[Message]:
    return [
        *messages,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": feedback_message(issues, target_lang)},
    ]
