"""Quality gates for a translated (or rewritten) listing field. Each failure is a reason code:

  empty              nothing left after trimming
  wrong_language     lingua (restricted to pasar's six languages) finds another language
  number_changed     a number of the source is missing from the output, or one was added
  unit_changed       a number kept its value but lost or changed its unit (500 ml -> 500 g)
  size_changed       a clothing size (S, M, XL...) of the source is missing
  model_number_changed  a model number (letters and digits: WH-1000XM4, ST1004) is missing
  brand_dropped      the brand is not in the output
  brand_altered      the brand is there only misspelled (Sony -> Soni)
  term_missing       a protected glossary term (or its required translation) is missing
  over_length        longer than the field's limit
  repetition         a word or phrase repeated like keyword stuffing, or a looping output
  untranslated       a run of source words left in the output, or the output equals the source
  meaning_lost       the output's multilingual embedding is far from the source's: fluent-looking
                     text in the right script that says something else (``meaning_issues``,
                     batched, since it runs a model)

Numbers are compared as written in any script (Thai digits count) with '.' and ',' treated
alike, because Indonesian and Vietnamese write 1,5 L for 1.5 L.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from pasar.data.translation import model_numbers
from pasar.languages import CODES, check_languages, detector

# unit spellings -> one canonical unit; translations of a unit count as the same unit
UNITS: dict[str, str] = {
    **dict.fromkeys(["ml", "mililiter", "mililitre", "มล", "มิลลิลิตร"], "ml"),
    **dict.fromkeys(["l", "liter", "liters", "litre", "litres", "lít", "ลิตร", "litro"], "l"),
    **dict.fromkeys(["g", "gram", "grams", "gam", "กรัม", "gramo"], "g"),
    **dict.fromkeys(["kg", "kilogram", "kilograms", "กิโลกรัม", "kilo"], "kg"),
    **dict.fromkeys(["mg", "miligram", "milligram", "มิลลิกรัม"], "mg"),
    **dict.fromkeys(["cm", "sentimeter", "centimeter", "centimeters", "ซม", "เซนติเมตร"], "cm"),
    **dict.fromkeys(["mm", "milimeter", "millimeter", "มม", "มิลลิเมตร"], "mm"),
    **dict.fromkeys(["m", "meter", "meters", "metre", "mét", "เมตร", "metro"], "m"),
    **dict.fromkeys(["inch", "inches", "inci", "นิ้ว", "pulgada", "pulgadas"], "in"),
    **dict.fromkeys(["ft", "feet", "foot", "kaki", "ฟุต", "talampakan"], "ft"),
    **dict.fromkeys(["lb", "lbs", "pound", "pounds", "paun", "ปอนด์", "libra"], "lb"),
    **dict.fromkeys(["oz", "ounce", "ounces", "ออนซ์"], "oz"),
    **dict.fromkeys(["gb"], "gb"),
    **dict.fromkeys(["tb"], "tb"),
    **dict.fromkeys(["mb"], "mb"),
    **dict.fromkeys(["mah"], "mah"),
    **dict.fromkeys(["w", "watt", "watts", "วัตต์"], "w"),
    **dict.fromkeys(["v", "volt", "volts", "โวลต์"], "v"),
    **dict.fromkeys(["mp", "megapixel", "megapixels"], "mp"),
    **dict.fromkeys(["k"], "k"),
    **dict.fromkeys(
        ["%", "persen", "peratus", "porsyento", "percent", "phần trăm", "เปอร์เซ็นต์"], "%"
    ),
    **dict.fromkeys(["hours", "hour", "jam", "giờ", "ชั่วโมง", "oras"], "h"),
}
SIZES = ("XXXL", "XXL", "XL", "XS", "S", "M", "L")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
UNIT_AFTER_NUMBER = re.compile(
    r"(\d+(?:[.,]\d+)*)\s*-?\s*("
    + "|".join(sorted(map(re.escape, UNITS), key=len, reverse=True))
    + r")(?![A-Za-z])",
    re.IGNORECASE,
)
SIZE = re.compile(r"(?<![\w.'’-])(" + "|".join(SIZES) + r")(?![\w.'’-])")  # not U.S.
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
LOOP = re.compile(r"(.{4,}?)\1{2,}", re.DOTALL)  # any chunk repeated 3+ times in a row


@dataclass(frozen=True)
class Issue:
    code: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


@dataclass(frozen=True)
class Field:
    """What a checked field must respect."""

    source_lang: str
    target_lang: str
    max_chars: int = 150
    brand: str | None = None
    # terms the output must contain: a do-not-translate term maps to itself
    required_terms: dict[str, str] = field(default_factory=dict)
    untranslated_words: int = 4  # this many source words in a row left in = untranslated
    max_word_repeats: int = 2  # a content word more often than this = keyword stuffing

    def __post_init__(self) -> None:
        check_languages((self.source_lang, self.target_lang))
        if self.max_chars < 1:
            raise ValueError(f"max_chars={self.max_chars}: must be at least 1")


def _digits(text: str) -> str:
    """Thai and other digits as ASCII, so that ๕๐๐ and 500 compare equal."""
    return "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in text)


def _number_key(number: str) -> str:
    return re.sub(r"[.,]", ".", number)


def numbers(text: str) -> Counter[str]:
    return Counter(_number_key(n) for n in NUMBER.findall(_digits(text)))


def number_units(text: str) -> Counter[tuple[str, str]]:
    """(number, canonical unit) for every number followed by a known unit."""
    found: Counter[tuple[str, str]] = Counter()
    for number, unit in UNIT_AFTER_NUMBER.findall(_digits(text)):
        found[(_number_key(number), UNITS[unit.lower()])] += 1
    return found


def sizes_in(text: str) -> set[str]:
    """Clothing sizes, not counting units after numbers (the L of 1.5 L)."""
    return set(SIZE.findall(UNIT_AFTER_NUMBER.sub(" ", _digits(text))))


def contains(text: str, phrase: str) -> bool:
    """Whole-word, case-insensitive containment (any occurrence in Thai, written unspaced)."""
    pattern = rf"(?<!\w){re.escape(phrase)}(?!\w)"
    return bool(re.search(pattern, text, re.IGNORECASE)) or (
        bool(re.search(r"[\u0e00-\u0e7f]", text)) and phrase.lower() in text.lower()
    )


def _mask(text: str, phrases: list[str]) -> str:
    for phrase in sorted(phrases, key=len, reverse=True):
        text = re.sub(re.escape(phrase), " ", text, flags=re.IGNORECASE)
    return text


def language_evidence(text: str, keep_verbatim: list[str]) -> str:
    """The text without what every language keeps verbatim (brand, terms, model numbers, numbers),
    which would otherwise pull a short title towards English; the whole text if little is left."""
    rest = NUMBER.sub(" ", _mask(text, keep_verbatim + sorted(model_numbers(text))))
    return rest if len(WORD.findall(rest)) >= 2 else text


def written_in(text: str, target: str) -> str | None:
    """The language lingua finds; Indonesian and Malay share most words, so a short text
    whose top guess is the sibling still counts as ``target`` when lingua gives ``target`` at
    least a fifth of the top confidence (on NTREX's human Indonesian, lingua's top guess is
    Malay for 19% of sentences; with this rule 6% are still rejected)."""
    confidences = {
        CODES[c.language]: c.value for c in detector().compute_language_confidence_values(text)
    }
    if not confidences or max(confidences.values()) == 0:
        return None
    top = max(confidences, key=confidences.__getitem__)
    if {top, target} == {"id", "ms"} and confidences[target] >= 0.2 * confidences[top]:
        return target
    return top


def repeated(text: str, max_word_repeats: int) -> list[str]:
    words = [w.lower() for w in WORD.findall(text)]
    content = [w for w in words if len(w) >= 4]  # not "the", "mga", "dan"
    pairs = [" ".join(p) for p in zip(words, words[1:], strict=False)]
    counts = Counter(content)
    pair_counts = Counter(pairs)
    found = sorted(w for w, n in counts.items() if n > max_word_repeats)
    found += sorted(p for p, n in pair_counts.items() if n > max(1, max_word_repeats - 1))
    loop = LOOP.search(text)
    if loop and len(loop.group(0)) >= 12:
        found.append(loop.group(1).strip() or loop.group(1))
    return found


def untranslated_span(source: str, output: str, spec: Field) -> str | None:
    """A run of ``spec.untranslated_words`` source words found verbatim in the output."""
    if spec.source_lang == spec.target_lang:
        return None
    if output.strip().lower() == source.strip().lower() and WORD.search(source):
        return source.strip()
    keep = [t for t in [spec.brand, *spec.required_terms] if t]
    src_words = WORD.findall(_mask(source, keep).lower())
    out_words = " " + " ".join(WORD.findall(output.lower())) + " "
    n = spec.untranslated_words
    for i in range(len(src_words) - n + 1):
        span = " ".join(src_words[i : i + n])
        if f" {span} " in out_words:
            return span
    return None


def check_field(source: str, output: str, spec: Field, *, facts: str = "") -> list[Issue]:
    """Every gate on one field; an empty list means it passed. ``facts`` is other text of the
    item (attributes) whose numbers the output may use too, as a rewritten title does."""
    text = output.strip()
    if not text:
        return [Issue("empty", "the output is empty")]
    issues = []
    keep = [t for t in [spec.brand, *spec.required_terms.values()] if t]
    found = written_in(language_evidence(text, keep), spec.target_lang)
    if found != spec.target_lang:
        issues.append(
            Issue("wrong_language", f"{found or 'unknown'} instead of {spec.target_lang}")
        )
    missing = numbers(source) - numbers(text)
    added = numbers(text) - numbers(source) - numbers(facts)
    if missing or added:
        detail = "; ".join(
            part
            for part in (
                f"missing {sorted(missing.elements())}" if missing else "",
                f"added {sorted(added.elements())}" if added else "",
            )
            if part
        )
        issues.append(Issue("number_changed", detail))
    else:
        lost = number_units(source) - number_units(text)
        if lost:
            units = [f"{n} {u}" for n, u in sorted(lost.elements())]
            issues.append(Issue("unit_changed", f"{units} not kept with the same unit"))
    sizes = sizes_in(source) - sizes_in(text)
    if sizes:
        issues.append(Issue("size_changed", f"sizes {sorted(sizes)} missing"))
    models = {m for m in model_numbers(source) if not contains(text, m)}
    if models:
        issues.append(Issue("model_number_changed", f"{sorted(models)} missing"))
    if spec.brand and contains(source, spec.brand) and not contains(text, spec.brand):
        issues.append(_brand_issue(text, spec.brand))
    terms = [
        f"{term} -> {wanted}"
        for term, wanted in spec.required_terms.items()
        if contains(source, term) and not contains(text, wanted)
    ]
    if terms:
        issues.append(Issue("term_missing", f"glossary terms not kept: {terms}"))
    if len(text) > spec.max_chars:
        issues.append(Issue("over_length", f"{len(text)} characters (limit {spec.max_chars})"))
    repeats = repeated(text, spec.max_word_repeats)
    if repeats:
        issues.append(Issue("repetition", f"repeats {repeats[:5]}"))
    span = untranslated_span(source, text, spec)
    if span:
        issues.append(Issue("untranslated", f"source text left in: {span!r}"))
    return issues


def _brand_issue(text: str, brand: str) -> Issue:
    words = re.findall(r"[\w'-]+", text)
    n = len(brand.split())
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    close = difflib.get_close_matches(brand.lower(), [g.lower() for g in grams], n=1, cutoff=0.7)
    if close:
        return Issue("brand_altered", f"brand {brand!r} written as {close[0]!r}")
    return Issue("brand_dropped", f"brand {brand!r} is missing")


def meaning_issues(pairs: list[tuple[str, str]], threshold: float) -> list[Issue | None]:
    """For each (source, output): meaning_lost when their multilingual-e5-small cosine
    similarity is under ``threshold``. On NTREX, human translations score 0.80-0.96 against
    their English source (median 0.89-0.91), unrelated sentences 0.80 (median)."""
    from pasar.apps.listing.memory import embed

    if not pairs:
        return []
    vectors = embed([text for pair in pairs for text in pair])  # (2N, 384), unit length
    similarity = (vectors[0::2] * vectors[1::2]).sum(axis=1)  # (N,)
    return [
        Issue("meaning_lost", f"similarity {s:.2f} to the source (minimum {threshold})")
        if s < threshold
        else None
        for s in similarity
    ]
