"""Evaluation prompts: one JSONL row per task, with what its verifier needs.

    {"id": "title-id-0-3", "task": "title", "language": "id", "split": "train",
     "messages": [{"role": "user", "content": "..."}], "facts": {...}}

Rows are made deterministically from the retail database (and NTREX for translations) with a
seed; ``split`` keeps held-out products (titles, product questions), customers (orders) and
sentences (translations) away from training. Tasks: ``title`` (a listing title),
``order`` (an answer about an order), ``product`` (stock and price of a variant) and
``translation`` (a sentence with a human reference, scored by chrF). Any JSONL with ``id`` and
``messages`` is a prompts file; ``task``/``facts`` are needed only by the verifier judge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pasar.errors import MissingInputError
from pasar.evaluate.listing import TitleTask, Verdict, title_tasks, verify_title
from pasar.evaluate.orders import OrderTask, order_tasks, verify_order_answer
from pasar.evaluate.products import ProductTask, product_tasks, verify_product_answer
from pasar.evaluate.translation import TranslationTask, translation_tasks, verify_translation
from pasar.languages import LANGUAGES

TASKS = ("title", "order", "product", "translation")
DEFAULT_TASKS = ("title", "order")  # what `pasar eval prompts` writes without --task
SPLITS = ("train", "heldout", "all")


def make_prompts(
    db: dict[str, Any],
    *,
    per_language: int,
    seed: int = 0,
    tasks: Iterable[str] = DEFAULT_TASKS,
    languages: Iterable[str] = tuple(LANGUAGES),
    ntrex: Path | None = None,
) -> list[dict[str, Any]]:
    """``per_language`` prompts per task and language, as prompt rows (``translation`` reads
    the NTREX files in ``ntrex``)."""
    rows = []
    languages = tuple(languages)
    for task in tasks:
        if task == "title":
            for t in title_tasks(db, per_language=per_language, seed=seed, languages=languages):
                rows.append(row(t.id, "title", t.language, t.split, _user(t.prompt), t.to_dict()))
        elif task == "order":
            for o in order_tasks(db, per_language=per_language, seed=seed, languages=languages):
                rows.append(row(o.id, "order", o.language, o.split, o.messages, o.to_dict()))
        elif task == "product":
            for p in product_tasks(db, per_language=per_language, seed=seed, languages=languages):
                rows.append(row(p.id, "product", p.language, p.split, p.messages, p.to_dict()))
        elif task == "translation":
            if ntrex is None:
                raise ValueError("translation prompts need the NTREX folder (ntrex=...)")
            sentences = translation_tasks(
                ntrex, per_language=per_language, seed=seed, languages=languages
            )
            for s in sentences:
                rows.append(row(s.id, "translation", s.language, s.split, s.messages, s.to_dict()))
        else:
            raise ValueError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    return rows


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def row(
    id: str, task: str, language: str, split: str, messages: list[dict[str, str]], facts: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "task": task,
        "language": language,
        "split": split,
        "messages": messages,
        "facts": facts,
    }


def read_prompts(path: Path, split: str = "all") -> list[dict[str, Any]]:
    """Prompt rows of a JSONL file (rows without a split are in every split)."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    if not path.exists():
        raise MissingInputError(
            f"{path} does not exist; write one with `pasar eval prompts --out {path}`"
        )
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{n} is not JSON ({exc.msg})") from exc
        if not isinstance(item, dict) or "id" not in item or "messages" not in item:
            raise ValueError(f"{path}:{n} needs an 'id' and 'messages' (a chat prompt)")
        item.setdefault("task", "chat")
        item.setdefault("language", "unknown")
        if split == "all" or item.get("split", split) == split:
            rows.append(item)
    if not rows:
        raise ValueError(f"{path} has no prompts in split {split!r}")
    return rows


def balanced(rows: Sequence[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """The first ``limit`` rows taken in turn from each (task, language) group, in file order:
    a limited run still covers every task and language evenly (``None``: all rows)."""
    if limit is None or limit >= len(rows):
        return list(rows)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["language"]), []).append(row)
    queues = list(groups.values())
    taken: list[dict[str, Any]] = []
    for depth in range(max(map(len, queues))):
        taken += [queue[depth] for queue in queues if depth < len(queue)]
        if len(taken) >= limit:
            break
    return taken[:limit]


def verify(prompt: dict[str, Any], completion: str) -> Verdict:
    """The verifier's verdict on a completion of a prompt row."""
    task, facts = prompt.get("task"), prompt.get("facts")
    if task == "title" and facts:
        return verify_title(TitleTask(**facts), completion)
    if task == "order" and facts:
        return verify_order_answer(OrderTask(**facts), completion)
    if task == "product" and facts:
        return verify_product_answer(ProductTask(**facts), completion)
    if task == "translation" and facts:
        return verify_translation(TranslationTask(**facts), completion)
    raise ValueError(
        f"prompt {prompt.get('id')!r} has no verifier (task {task!r}); the verifier judge needs "
        "rows from `pasar eval prompts`; use a reward model or LLM judge for other prompts"
    )
