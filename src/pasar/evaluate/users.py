"""Simulated users of `pasar serve`: they ask the served model verifiable prompts and give the
feedback a careful user would, through the server's own API, so the loop is measured through
the product (serve -> record -> feedback -> export -> align), not beside it.

For each prompt the user asks the student model (``/v1/chat/completions``), and the verifier
judges the answer: a pass gets a thumbs up, anything else a thumbs down. For a share of the
thumbs down (``correct_share``, chosen with the seed) the user also asks the baseline model and,
when the verifier scores the baseline's answer higher, sends it as the correction
(``/v1/feedback``), as a user who found a better answer elsewhere would. The baseline's own
answers are recorded by the server like any other, but carry no feedback, so exports leave
them out.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from pasar.data.files import jsonl_line
from pasar.evaluate.prompts import verify


class Poster(Protocol):
    """What the simulator needs of an HTTP client (``httpx.Client(base_url=...)``)."""

    def post(self, url: str, *, json: Any) -> Any: ...


def _answer(client: Poster, model: str, prompt: dict[str, Any], options: dict[str, Any]) -> Any:
    response = client.post(
        "/v1/chat/completions", json={"model": model, "messages": prompt["messages"], **options}
    )
    if response.status_code != 200:
        raise RuntimeError(
            f"the server answered {response.status_code} for prompt {prompt['id']!r} to model "
            f"{model!r}: {response.text[:300]}"
        )
    return response.json()


def simulate_users(
    client: Poster,
    prompts: Sequence[dict[str, Any]],
    *,
    model: str,
    baseline: str | None = None,
    correct_share: float = 0.5,
    seed: int = 0,
    max_tokens: int = 128,
    temperature: float = 0.7,
    progress: Path | None = None,
) -> dict[str, Any]:
    """Play one user per prompt against the server behind ``client``; returns what they did:
    counts of thumbs up, down and corrections, the student's mean verifier score, per language
    and per task, and one row per prompt (its message id and verdict).

    With ``progress`` (a JSONL file) each user's row is appended as soon as their feedback is
    stored, and the prompts already in it are skipped: a killed run continues without giving
    feedback on any prompt twice."""
    if not 0 <= correct_share <= 1:
        raise ValueError(f"correct_share={correct_share}: give a share between 0 and 1")
    if correct_share > 0 and baseline is None:
        raise ValueError("corrections come from a baseline model: name one, or correct_share=0")
    lines = progress.read_text().splitlines() if progress and progress.exists() else []
    rows = [json.loads(line) for line in lines]
    done = {row["prompt"] for row in rows}
    for i, prompt in enumerate(tqdm(prompts, desc="simulated users", unit="prompt")):
        if prompt["id"] in done:
            continue
        rng = random.Random(f"{seed}:{prompt['id']}")  # who corrects: the same after a resume
        options = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed + i}
        reply = _answer(client, model, prompt, options)
        text = reply["choices"][0]["message"].get("content") or ""
        verdict = verify(prompt, text)
        feedback: dict[str, Any] = {
            "message_id": reply["id"],
            "rating": "up" if verdict.passed else "down",
        }
        corrected = False
        if not verdict.passed and baseline is not None and rng.random() < correct_share:
            better = _answer(client, baseline, prompt, options | {"temperature": 0.0})
            better_text = better["choices"][0]["message"].get("content") or ""
            if verify(prompt, better_text).score > verdict.score:
                feedback["correction"] = better_text
                corrected = True
        posted = client.post("/v1/feedback", json=feedback)
        if posted.status_code != 201:
            raise RuntimeError(f"feedback on {reply['id']} refused: {posted.text[:300]}")
        row = {
            "prompt": prompt["id"],
            "task": prompt.get("task"),
            "language": prompt.get("language"),
            "message_id": reply["id"],
            "score": verdict.score,
            "passed": verdict.passed,
            "corrected": corrected,
        }
        rows.append(row)
        if progress is not None:
            with progress.open("a", encoding="utf-8") as f:
                f.write(jsonl_line(row))
    return summarise_users(rows) | {"model": model, "baseline": baseline, "rows": rows}


def summarise_users(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def counts(group: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(group)
        return {
            "prompts": n,
            "up": sum(r["passed"] for r in group),
            "down": sum(not r["passed"] for r in group),
            "corrections": sum(r["corrected"] for r in group),
            "mean_score": round(sum(r["score"] for r in group) / n, 4) if n else 0.0,
        }

    by: dict[str, dict[str, list[dict[str, Any]]]] = {
        "by_language": defaultdict(list),
        "by_task": defaultdict(list),
    }
    for r in rows:
        by["by_language"][r["language"]].append(r)
        by["by_task"][r["task"]].append(r)
    return counts(rows) | {
        key: {name: counts(group) for name, group in sorted(groups.items())}
        for key, groups in by.items()
    }
