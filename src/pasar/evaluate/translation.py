"""Translation quality on NTREX-128 (news sentences, human-translated, line-aligned across
English, Indonesian, Malay, Thai, Vietnamese and Filipino): chrF and BLEU from sacrebleu per
language pair, the share of outputs lingua finds in the target language, and the floor a
system gets by copying the source unchanged.

BLEU on Thai uses character tokens (Thai has no spaces between words; sacrebleu's default 13a
tokenizer would score whole clauses as one word). chrF needs no tokenizer.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

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
