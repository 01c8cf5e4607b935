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

from pasar.data.datasets import METHOD_FORMATS
from pasar.store.interactions import FeedbackExample

FORMATS = tuple(METHOD_FORMATS)  # exports are named by the method they train


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


CONVERTERS = {"sft": feedback_to_sft, "unpaired": feedback_to_unpaired, "paired": feedback_to_pairs}


def feedback_rows(examples: list[FeedbackExample], fmt: str) -> list[dict[str, Any]]:
    """Training rows for method ``fmt`` (sft, bnf, kto, dpo), in the format it reads first."""
    if fmt not in METHOD_FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return CONVERTERS[METHOD_FORMATS[fmt][0]](examples)
