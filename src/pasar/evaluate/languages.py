"""The languages pasar works in, and language identification restricted to them (lingua)."""

from __future__ import annotations

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


@cache
def detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*LANGUAGES.values()).build()


def detect_language(text: str) -> str | None:
    """The ISO code of ``text``'s language among pasar's six, or None if lingua cannot tell."""
    found = detector().detect_language_of(text)
    return CODES.get(found) if found is not None else None
