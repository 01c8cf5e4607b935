"""Feedback to training data, in the formats TRL's trainers read directly.

  thumbs up   -> a desirable example (SFT row; unpaired row with label True)
  thumbs down -> an undesirable example (unpaired row with label False)
  correction  -> a pair (the correction chosen, the answer rejected), an SFT row of the
                 correction, and both unpaired rows

Formats (conversational, as TRL names them):
  sft       {"messages": [...prompt, {"role": "assistant", "content": good}]}
  kto, bnf  {"prompt": [...], "completion": [{"role": "assistant", ...}], "label": bool}
  dpo       {"prompt": [...], "chosen": [{"role": "assistant", ...}], "rejected": [...]}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pasar.store.interactions import FeedbackExample

FORMATS = ("sft", "bnf", "kto", "dpo")


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def feedback_to_sft(examples: Iterable[FeedbackExample]) -> list[dict[str, Any]]:
    rows = []
    for ex in examples:
        good = ex.correction or (ex.answer if ex.rating == "up" else None)
        if good:
            rows.append({"messages": [*ex.prompt, *_assistant(good)]})
    return rows


def feedback_to_unpaired(examples: Iterable[FeedbackExample]) -> list[dict[str, Any]]:
    rows = []
    for ex in examples:
        if ex.correction:
            rows.append(
                {"prompt": ex.prompt, "completion": _assistant(ex.correction), "label": True}
            )
        if ex.rating == "up" and not ex.correction:
            rows.append({"prompt": ex.prompt, "completion": _assistant(ex.answer), "label": True})
        # A correction says the answer was not what the user wanted, even without a thumbs down.
        if ex.rating == "down" or (ex.correction and ex.rating != "up"):
            rows.append({"prompt": ex.prompt, "completion": _assistant(ex.answer), "label": False})
    return rows


def feedback_to_pairs(examples: Iterable[FeedbackExample]) -> list[dict[str, Any]]:
    return [
        {
            "prompt": ex.prompt,
            "chosen": _assistant(ex.correction),
            "rejected": _assistant(ex.answer),
        }
        for ex in examples
        if ex.correction and ex.correction != ex.answer
    ]


def feedback_rows(examples: list[FeedbackExample], fmt: str) -> list[dict[str, Any]]:
    if fmt == "sft":
        return feedback_to_sft(examples)
    if fmt in ("bnf", "kto"):
        return feedback_to_unpaired(examples)
    if fmt == "dpo":
        return feedback_to_pairs(examples)
    raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
