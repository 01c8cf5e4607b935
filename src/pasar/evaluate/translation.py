"""Translation quality on NTREX-128 (news sentences, human-translated, line-aligned across
English, Indonesian, Malay, Thai, Vietnamese and Filipino): chrF and BLEU from sacrebleu per
language pair, the share of outputs lingua finds in the target language, and the floor a
system gets by copying the source unchanged.

BLEU on Thai uses character tokens (Thai has no spaces between words; sacrebleu's default 13a
tokenizer would score whole clauses as one word). chrF needs no tokenizer.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pasar.evaluate.listing import Verdict, held_out
from pasar.languages import LANGUAGES, check_languages, detect_language
from pasar.models.engine import Engine
from pasar.models.types import Message

NTREX_FILES = {"en": "eng-US", "id": "ind", "ms": "msa", "th": "tha", "vi": "vie", "tl": "fil"}


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """'en-id,en-th' -> [('en', 'id'), ('en', 'th')]."""
    pairs = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        source, _, target = item.partition("-")
        if not target or source == target:
            raise ValueError(f"pair {item!r}: write it as SOURCE-TARGET, e.g. en-id")
        check_languages((source, target))
        pairs.append((source, target))
    if not pairs:
        raise ValueError("give at least one pair, e.g. --pairs en-id,en-th")
    return pairs


def load_ntrex(directory: Path, language: str, limit: int | None, start: int = 0) -> list[str]:
    """Lines ``[start, start + limit)`` of one language's NTREX file (all from ``start``
    when ``limit`` is None); the files are line-aligned across languages."""
    path = directory / f"newstest2019-ref.{NTREX_FILES[language]}.txt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; pass --ntrex DIR or set PASAR_DATA_DIR")
    lines = path.read_text(encoding="utf-8").splitlines()[start:]
    return lines[:limit]


def translation_messages(text: str, source: str, target: str) -> list[Message]:
    source_name, target_name = LANGUAGES[source].name.title(), LANGUAGES[target].name.title()
    return [
        {
            "role": "system",
            "content": f"You translate {source_name} into {target_name}. "
            "Reply with the translation only.",
        },
        {"role": "user", "content": f"Translate into {target_name}:\n{text}"},
    ]


def scores(hypotheses: list[str], references: list[str], target: str) -> dict[str, float]:
    import sacrebleu

    tokenize = "char" if target == "th" else "13a"
    return {
        "chrf": round(sacrebleu.corpus_chrf(hypotheses, [references]).score, 2),
        "bleu": round(sacrebleu.corpus_bleu(hypotheses, [references], tokenize=tokenize).score, 2),
    }


def evaluate_pair(
    engine: Engine,
    source: str,
    target: str,
    *,
    ntrex: Path,
    limit: int | None,
    batch_size: int,
    max_tokens: int,
    start: int = 0,
) -> dict[str, Any]:
    sources = load_ntrex(ntrex, source, limit, start)
    references = load_ntrex(ntrex, target, limit, start)
    started = time.perf_counter()
    hypotheses: list[str] = []
    starts = range(0, len(sources), batch_size)
    for start in tqdm(starts, desc=f"{source}-{target}", unit="batch", dynamic_ncols=True):
        batch = sources[start : start + batch_size]
        answers = engine.batch(
            [translation_messages(s, source, target) for s in batch],
            max_tokens=max_tokens,
            stop=["\n"],  # one sentence in, one line out
        )
        hypotheses += [a.text.strip() for a in answers]
    seconds = time.perf_counter() - started
    in_target = sum(detect_language(h) == target for h in hypotheses if h)
    return {
        "pair": f"{source}-{target}",
        "sentences": len(sources),
        **scores(hypotheses, references, target),
        "target_language_rate": round(in_target / len(hypotheses), 3),
        "copy_source": scores(sources, references, target),
        "seconds": round(seconds, 1),
        "examples": [
            {"source": s, "reference": r, "output": h}
            for s, r, h in list(zip(sources, references, hypotheses, strict=True))[:3]
        ],
        "sources": sources,
        "outputs": hypotheses,
    }


def as_catalog(report: dict[str, Any], column: str = "description") -> list[dict[str, Any]]:
    """The outputs as catalog rows (``description`` = the English source,
    ``description_<lang>`` = the model's output), for ``pasar listing check``."""
    rows: dict[int, dict[str, Any]] = {}
    for pair in report["pairs"]:
        source, target = pair["pair"].split("-")
        for i, (text, output) in enumerate(zip(pair["sources"], pair["outputs"], strict=True)):
            row = rows.setdefault(i, {"id": f"ntrex-{i}", column: text})
            row[f"{column}_{target}"] = output
    return [rows[i] for i in sorted(rows)]


def translation_report(
    engine: Engine,
    pairs: list[tuple[str, str]],
    *,
    ntrex: Path,
    start: int = 0,
    limit: int | None = 50,
    batch_size: int = 8,
    max_tokens: int = 160,
) -> dict[str, Any]:
    results = [
        evaluate_pair(
            engine,
            source,
            target,
            ntrex=ntrex,
            limit=limit,
            batch_size=batch_size,
            max_tokens=max_tokens,
            start=start,
        )
        for source, target in pairs
    ]
    lines = f"lines {start}-{start + limit - 1}" if limit else f"lines {start}-"
    return {
        "model": engine.name,
        "engine": engine.kind,
        "dataset": f"NTREX-128 newstest2019 ({ntrex}), {lines}",
        "greedy": True,
        "pairs": results,
    }


# -- translation prompts for the verifier judge ---------------------------------------------------
# NTREX lines for prompts: after the scorecard's [1000, 1100) and everything `pasar eval
# translation` reads by default, so a prompt sentence is never also a test sentence elsewhere.
PROMPT_LINES = range(1500, 1997)
ENGLISH_SOURCES = ("id", "ms", "th", "vi", "tl")  # into English: from each of the others in turn
ADEQUATE_CHRF = 40.0  # a sentence chrF at or above it counts as an adequate translation
# Indonesian and Malay share most words: lingua tells one short sentence from the other by a
# word or two, and reads good Indonesian as Malay. For them the language check accepts either;
# chrF against the reference (in the target language) still tells them apart.
RELATIVES = {"id": {"id", "ms"}, "ms": {"id", "ms"}}


@dataclass(frozen=True)
class TranslationTask:
    id: str
    language: str  # the target
    source_language: str
    source: str
    reference: str
    line: int  # the NTREX line, for provenance
    messages: list[Message]
    split: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def translation_tasks(
    ntrex: Path,
    *,
    per_language: int,
    seed: int = 0,
    held_out_fraction: float = 0.2,
    languages: tuple[str, ...] = tuple(LANGUAGES),
) -> list[TranslationTask]:
    """``per_language`` sentences to translate into each language (from English; into English
    from the other five in turn), from ``PROMPT_LINES``; held out by NTREX line."""
    check_languages(languages)
    rng = random.Random(seed)
    lines = {lang: load_ntrex(ntrex, lang, None) for lang in ("en", *ENGLISH_SOURCES)}
    tasks = []
    for target in languages:
        for i in range(per_language):
            line = rng.choice(PROMPT_LINES)
            source = "en" if target != "en" else ENGLISH_SOURCES[i % len(ENGLISH_SOURCES)]
            text = lines[source][line]
            tasks.append(
                TranslationTask(
                    id=f"translation-{target}-{seed}-{i}",
                    language=target,
                    source_language=source,
                    source=text,
                    reference=lines[target][line],
                    line=line,
                    messages=translation_messages(text, source, target),
                    split="heldout" if held_out(f"ntrex:{line}", held_out_fraction) else "train",
                )
            )
    return tasks


def verify_translation(task: TranslationTask, output: str) -> Verdict:
    """Sentence chrF against the human reference, and the target language found by lingua
    (Indonesian and Malay accept each other, ``RELATIVES``); the score is chrF / 100, halved
    for an answer in another language."""
    import sacrebleu

    output = output.strip()
    chrf = sacrebleu.sentence_chrf(output, [task.reference]).score if output else 0.0
    found = detect_language(output) if output else None
    accepted = RELATIVES.get(task.language, {task.language})
    checks = {"adequate": chrf >= ADEQUATE_CHRF, "language": found in accepted}
    problems = []
    if not checks["adequate"]:
        problems.append(f"chrF {chrf:.1f} against the reference (adequate: {ADEQUATE_CHRF:.0f})")
    if not checks["language"]:
        problems.append(f"language {found} instead of {task.language}")
    score = round(chrf / 100 * (1.0 if checks["language"] else 0.5), 4)
    return Verdict(all(checks.values()), score, checks, problems)
