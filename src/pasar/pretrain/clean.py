"""Cleaning rules for raw text, one pure function each, so each can be tested to fail.

text = normalize(raw)                  # NFC, no control characters, tidy whitespace
problem = quality_problem(text, rules) # None, or why the document is dropped
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\ufeff]")
SPACES = re.compile(r"[ \t\u00a0\u3000]+")


def normalize(text: str) -> str:
    """NFC (composed characters: Vietnamese tone marks as one code point where Unicode has
    one), no control or zero-width characters, runs of spaces as one, no blank lines, and no
    line that repeats the one before it (news pages print the headline twice)."""
    text = CONTROL.sub("", unicodedata.normalize("NFC", text))
    lines = [SPACES.sub(" ", line).strip() for line in text.split("\n")]
    kept = [line for i, line in enumerate(lines) if line and (i == 0 or line != lines[i - 1])]
    return "\n".join(kept)


@dataclass(frozen=True)
class QualityRules:
    """Thresholds of the quality filter (defaults suit news, Wikipedia and review text)."""

    min_chars: int = 20  # sentence-per-line corpora (Malay, Tagalog) have short documents
    min_letter_share: float = 0.6  # letters (any script) among non-space characters
    max_repeated_line_share: float = 0.3  # lines that occur more than once in the document
    max_top_word_share: float = 0.3  # the most frequent word among all words (50+ words)


DEFAULT_RULES = QualityRules()


def letter_share(text: str) -> float:
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    # Thai vowel and tone marks are Unicode category M (marks): they belong to words
    return sum(unicodedata.category(c)[0] in "LM" for c in chars) / len(chars)


def repeated_line_share(text: str) -> float:
    lines = text.split("\n")
    counts = Counter(lines)
    return sum(n for n in counts.values() if n > 1) / len(lines)


def top_word_share(text: str) -> float:
    words = text.lower().split()
    if len(words) < 50:  # in a short sentence a function word ("ng", "yang") can be 1 in 5
        return 0.0
    return Counter(words).most_common(1)[0][1] / len(words)


def quality_problem(text: str, rules: QualityRules = DEFAULT_RULES) -> str | None:
    """Why ``text`` is not training text (a short reason, the report's key), or None."""
    if len(text) < rules.min_chars:
        return "too_short"
    if letter_share(text) < rules.min_letter_share:
        return "few_letters"
    if repeated_line_share(text) > rules.max_repeated_line_share:
        return "repeated_lines"
    if top_word_share(text) > rules.max_top_word_share:
        return "repeated_word"
    return None
