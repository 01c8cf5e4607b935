"""Raw corpus files -> clean, language-checked, deduplicated documents, split per language.

    report = prepare_corpus(Path("../shared/data/corpus"), Path("runs/pretrain/data"))

Input: one file per language named by its code (``th.txt``, ``vi.txt``, ...), documents
separated by blank lines, or one per line in a file without blank lines. Output, per language:
``LANG/train.jsonl`` and ``LANG/heldout.jsonl`` (``{"text": ...}`` rows) and ``LANG/report.json``
(documents and characters in, what each step removed, what was kept); ``report.json`` over all.
A language whose report exists is skipped, so a killed run resumes by language. The held-out
split is chosen by a hash of the text, so it is stable across runs and nothing in it trains.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pasar.errors import MissingInputError
from pasar.languages import LANGUAGE_NAMES, detect_language
from pasar.pretrain.clean import DEFAULT_RULES, QualityRules, normalize, quality_problem
from pasar.pretrain.dedup import unique_documents

# lingua confuses Malay and Indonesian on short text; both are kept and the report counts them
CONFUSABLE = {("ms", "id"), ("id", "ms")}
STEPS = (
    "too_short",
    "few_letters",
    "repeated_lines",
    "repeated_word",
    "wrong_language",
    "exact_duplicate",
    "near_duplicate",
)


def read_documents(path: Path) -> list[str]:
    text = path.read_text("utf-8")
    blocks = [b for b in text.split("\n\n") if b.strip()]
    return blocks if len(blocks) > 1 else text.splitlines()


def language_problem(
    text: str, language: str, detect: Callable[[str], str | None] = detect_language
) -> tuple[str | None, str | None]:
    """(why it is dropped or None, the detected language), lingua on the first 1,000 chars."""
    found = detect(text[:1000])
    if found == language or (language, found) in CONFUSABLE:
        return None, found
    return "wrong_language", found


def is_heldout(text: str, share: float) -> bool:
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "big") < share * 2**32


def _write_jsonl(path: Path, texts: list[str]) -> None:
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    partial.replace(path)


def prepare_language(
    path: Path,
    language: str,
    out_dir: Path,
    *,
    rules: QualityRules = DEFAULT_RULES,
    heldout_share: float = 0.05,
    threshold: float = 0.8,
    progress: bool = True,
) -> dict[str, Any]:
    """Clean one language's file into ``out_dir/language``; returns its report."""
    documents = read_documents(path)
    removed: Counter[str] = Counter()
    detected: Counter[str] = Counter()

    def passing() -> Iterator[str]:
        for raw in tqdm(documents, desc=f"clean {language}", unit="doc", disable=not progress):
            text = normalize(raw)
            problem = quality_problem(text, rules)
            if problem is None:
                problem, found = language_problem(text, language)
                detected[str(found)] += 1
            if problem:
                removed[problem] += 1
            else:
                yield text

    kept = []
    for text, problem in unique_documents(passing(), language, threshold=threshold):
        if problem:
            removed[problem] += 1
        else:
            kept.append(text)
    heldout = [t for t in kept if is_heldout(t, heldout_share)]
    train = [t for t in kept if not is_heldout(t, heldout_share)]
    target = out_dir / language
    target.mkdir(parents=True, exist_ok=True)
    _write_jsonl(target / "train.jsonl", train)
    _write_jsonl(target / "heldout.jsonl", heldout)
    report = {
        "language": language,
        "source": str(path),
        "documents_in": len(documents),
        "chars_in": sum(len(d) for d in documents),
        "removed": {step: removed[step] for step in STEPS},
        "detected_languages": dict(detected.most_common()),
        "documents_kept": len(kept),
        "chars_kept": sum(len(t) for t in kept),
        "train_documents": len(train),
        "heldout_documents": len(heldout),
        "heldout_chars": sum(len(t) for t in heldout),
    }
    (target / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


def prepare_corpus(
    corpus_dir: Path,
    out_dir: Path,
    *,
    languages: tuple[str, ...] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Every ``LANG.txt`` of ``corpus_dir`` (or the given languages); resumes by language."""
    files = {p.stem: p for p in sorted(corpus_dir.glob("*.txt")) if p.stem in LANGUAGE_NAMES}
    wanted = languages or tuple(files)
    missing = [lang for lang in wanted if lang not in files]
    if not files or missing:
        raise MissingInputError(
            f"{corpus_dir}: no {', '.join(f'{m}.txt' for m in missing) or 'LANG.txt files'}; "
            f"expected one file per language named {', '.join(f'{c}.txt' for c in LANGUAGE_NAMES)}"
        )
    reports = {}
    for language in wanted:
        done = out_dir / language / "report.json"
        reports[language] = (
            json.loads(done.read_text())
            if done.exists()
            else prepare_language(files[language], language, out_dir, **options)
        )
    report = {"corpus": str(corpus_dir), "output": str(out_dir), "languages": reports}
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


def read_texts(path: Path) -> list[str]:
    """The ``text`` of each row of a JSONL file written by ``prepare_corpus``."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def read_splits(data_dir: Path, split: str, english: Path | None = None) -> dict[str, list[str]]:
    """``{language: texts}`` of every ``LANG/{split}.jsonl`` that ``prepare_corpus`` wrote, plus
    English from ``english`` (one sentence a line: the first half is ``train``, the rest
    ``heldout``), which the corpus lacks."""
    if not data_dir.is_dir():
        raise MissingInputError(f"{data_dir}: no such folder; run `pasar pretrain data --out DIR`")
    texts = {
        p.name: read_texts(p / f"{split}.jsonl")
        for p in sorted(data_dir.iterdir())
        if (p / f"{split}.jsonl").exists()
    }
    if not texts:
        raise ValueError(
            f"{data_dir}: no LANG/{split}.jsonl; run `pasar pretrain data --out {data_dir}`"
        )
    if english is not None:
        lines = [line for line in english.read_text("utf-8").splitlines() if line.strip()]
        half = len(lines) // 2
        texts["en"] = lines[:half] if split == "train" else lines[half:]
    return texts
