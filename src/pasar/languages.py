"""The languages pasar works in, and language identification restricted to them (lingua)."""

from __future__ import annotations

import re
from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

LANGUAGES = {
    "en": Language.ENGLISH,
    "id": Language.INDONESIAN,
    "ms": Language.MALAY,
    "th": Language.THAI,
    "vi": Language.VIETNAMESE,
    "tl": Language.TAGALOG,  # Filipino is written as Tagalog
}
CODES = {language: code for code, language in LANGUAGES.items()}
# What a prompt calls each language (Filipino, not Tagalog, for the tl code).
LANGUAGE_NAMES = {
    "en": "English",
    "id": "Indonesian",
    "ms": "Malay",
    "th": "Thai",
    "vi": "Vietnamese",
    "tl": "Filipino",
}


@cache
def detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*LANGUAGES.values()).build()


def detect_language(text: str) -> str | None:
    """The ISO code of ``text``'s language among pasar's six, or None if lingua cannot tell."""
    found = detector().detect_language_of(text)
    return CODES.get(found) if found is not None else None


def phrase_pattern(phrase: str, language: str) -> str:
    """A regex for ``phrase`` as whole words; Thai writes no spaces between words, so there any
    occurrence counts."""
    if language == "th":
        return re.escape(phrase)
    return rf"(?<!\w){re.escape(phrase)}(?!\w)"


def check_languages(languages: tuple[str, ...]) -> None:
    unknown = set(languages) - set(LANGUAGES)
    if unknown:
        raise ValueError(f"unknown languages {sorted(unknown)}; use {', '.join(LANGUAGES)}")
