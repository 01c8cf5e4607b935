"""Judges: who decides which of two completions of a prompt is better.

    verifier        rule checks against the retail database (prompts from `pasar eval prompts`)
    reward:DIR      a reward model trained with `pasar align reward` (TRL's RewardTrainer)
    llm:MODEL       any pasar model asked to compare, in both orders (position swap), ties allowed

Every judge compares (``compare``: 1 = first better, 0.5 = tie, 0 = second better) and ranks
several completions of one prompt (``rank``: higher is better), which the on-policy loop uses to
pick the desirable and undesirable samples.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pasar.errors import MissingInputError
from pasar.evaluate.prompts import verify
from pasar.evaluate.winrate import outcome_from_scores

Prompt = dict[str, Any]


class Judge(ABC):
    name: str

    @abstractmethod
    def compare(
        self, prompts: Sequence[Prompt], first: Sequence[str], second: Sequence[str]
    ) -> list[tuple[float, dict[str, Any]]]:
        """For each prompt: the outcome of ``first`` against ``second``, and why."""

    @abstractmethod
    def rank(self, prompt: Prompt, completions: Sequence[str]) -> list[float]:
        """A score per completion of one prompt; higher is better."""


class PointwiseJudge(Judge):
    """A judge that scores each completion alone; comparing is comparing scores."""

    @abstractmethod
    def score(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> list[float]: ...

    def details(self, prompt: Prompt, completion: str) -> dict[str, Any]:
        return {}

    def compare(
        self, prompts: Sequence[Prompt], first: Sequence[str], second: Sequence[str]
    ) -> list[tuple[float, dict[str, Any]]]:
        a = self.score(prompts, first)
        b = self.score(prompts, second)
        return [
            (
                outcome_from_scores(sa, sb),
                {
                    "score": sa,
                    "baseline_score": sb,
                    **self.details(p, x),
                    **{f"baseline_{k}": v for k, v in self.details(p, y).items()},
                },
            )
            for p, x, y, sa, sb in zip(prompts, first, second, a, b, strict=True)
        ]

    def rank(self, prompt: Prompt, completions: Sequence[str]) -> list[float]:
        return self.score([prompt] * len(completions), completions)


class VerifierJudge(PointwiseJudge):
    """Share of the task's rule checks passed (see pasar.evaluate.listing and .orders)."""

    name = "verifier"

    def score(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> list[float]:
        return [verify(p, c).score for p, c in zip(prompts, completions, strict=True)]

    def details(self, prompt: Prompt, completion: str) -> dict[str, Any]:
        return {"problems": verify(prompt, completion).problems}


class RewardModelJudge(PointwiseJudge):
    """A sequence-classification model with one output: the reward of prompt + completion."""

    def __init__(self, path: str, *, batch_size: int = 8):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not (Path(path) / "config.json").exists():
            raise MissingInputError(
                f"{path} is not a reward model directory; train one with `pasar align reward`"
            )
        self.name = f"reward:{path}"
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            path, dtype=torch.float32
        ).eval()
        if self.model.config.num_labels != 1:
            raise ValueError(f"{path} has {self.model.config.num_labels} outputs; a reward has 1")
        self.batch_size = batch_size

    def score(self, prompts: Sequence[Prompt], completions: Sequence[str]) -> list[float]:
        import torch

        texts = [
            self.tokenizer.apply_chat_template(
                [*p["messages"], {"role": "assistant", "content": c}], tokenize=False
            )
            for p, c in zip(prompts, completions, strict=True)
        ]
        scores: list[float] = []
        self.tokenizer.padding_side = "right"
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                texts[start : start + self.batch_size],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            )
            with torch.inference_mode():
                scores.extend(self.model(**batch).logits[:, 0].tolist())
        return scores


LLM_JUDGE_CHUNK = 32  # verdicts asked at once: several batches of the engine's slots
LLM_JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"better": {"type": "string", "enum": ["A", "B", "tie"]}},
    "required": ["better"],
}
LLM_JUDGE_PROMPT = (
    "You compare two answers of an e-commerce assistant to the same request. Prefer the answer "
    "that is correct, complete, in the language the request asks for, and concise.\n\n"
    "Request:\n{request}\n\nAnswer A:\n{a}\n\nAnswer B:\n{b}\n\n"
    'Which answer is better? Reply as JSON: {{"better": "A"}}, {{"better": "B"}} or '
    '{{"better": "tie"}}.'
)


def swap_outcome(verdict_ab: str, verdict_ba: str) -> float:
    """The first answer's outcome from two verdicts: with it shown as A, then as B.

    It wins only if both orders prefer it (or one does and the other ties); a judge that prefers
    the same position both times is giving no information, which is a tie.
    """
    votes = {"A": 1.0, "B": 0.0, "tie": 0.5}
    mean = (votes[verdict_ab] + (1.0 - votes[verdict_ba])) / 2
    return 1.0 if mean > 0.5 else 0.0 if mean < 0.5 else 0.5


def position_bias(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """How often an LLM judge named the same position (A then A, or B then B) when the two
    answers were swapped: each such verdict follows the order, not the answers, and counts as a
    tie. None for a judge that does not judge in both orders."""
    pairs = [
        (r["verdict_first_as_A"], r["verdict_first_as_B"])
        for r in rows
        if "verdict_first_as_A" in r
    ]
    if not pairs:
        return None
    same = sum(a == b != "tie" for a, b in pairs)
    return {"rate": round(same / len(pairs), 4), "same_position": same, "n": len(pairs)}


def position_bias_warning(report: dict[str, Any]) -> str | None:
    """A line for the user when most of an LLM judge's verdicts follow the order."""
    bias = report.get("position_bias")
    if not bias or bias["rate"] <= 0.5:
        return None
    return (
        f"warning: {report['judge']} named the same position in both orders on "
        f"{bias['same_position']} of {bias['n']} prompts: those verdicts follow the order, not "
        "the answers, and count as ties. Use a stronger judge or rely on the verifiers."
    )


class LLMJudge(Judge):
    def __init__(self, model: str, *, engine: Any = None, max_request_chars: int = 2000):
        from pasar.models.registry import load_engine

        self.name = f"llm:{model}"
        self.engine = engine or load_engine(model)
        self.max_request_chars = max_request_chars

    def _request(self, prompt: Prompt) -> str:
        text = "\n".join(str(m.get("content", "")) for m in prompt["messages"])
        return text[-self.max_request_chars :]

    def _verdicts(
        self, prompts: Sequence[Prompt], a: Sequence[str], b: Sequence[str], order: str
    ) -> list[str]:
        import json

        asks = [
            [
                {
                    "role": "user",
                    "content": LLM_JUDGE_PROMPT.format(request=self._request(p), a=x, b=y),
                }
            ]
            for p, x, y in zip(prompts, a, b, strict=True)
        ]
        verdicts = []
        # A 1.5B judge takes half an hour for 300 prompts here: show it going.
        with tqdm(total=len(asks), desc=f"{self.name} ({order})", unit="verdict") as bar:
            for start in range(0, len(asks), LLM_JUDGE_CHUNK):
                chunk = asks[start : start + LLM_JUDGE_CHUNK]
                results = self.engine.batch(
                    chunk, max_tokens=16, temperature=0.0, json_schema=LLM_JUDGE_SCHEMA
                )
                for r in results:
                    try:
                        verdicts.append(json.loads(r.text)["better"])
                    except (ValueError, KeyError, TypeError):
                        verdicts.append("tie")  # an unreadable verdict says nothing
                bar.update(len(chunk))
        return verdicts

    def compare(
        self, prompts: Sequence[Prompt], first: Sequence[str], second: Sequence[str]
    ) -> list[tuple[float, dict[str, Any]]]:
        ab = self._verdicts(prompts, first, second, "first as A")
        ba = self._verdicts(prompts, second, first, "first as B")
        return [
            (swap_outcome(x, y), {"verdict_first_as_A": x, "verdict_first_as_B": y})
            for x, y in zip(ab, ba, strict=True)
        ]

    def rank(self, prompt: Prompt, completions: Sequence[str]) -> list[float]:
        """Round robin: a completion's score is its outcomes summed over all the others."""
        pairs = list(itertools.combinations(range(len(completions)), 2))
        scores = [0.0] * len(completions)
        if not pairs:
            return scores
        outcomes = self.compare(
            [prompt] * len(pairs),
            [completions[i] for i, _ in pairs],
            [completions[j] for _, j in pairs],
        )
        for (i, j), (outcome, _) in zip(pairs, outcomes, strict=True):
            scores[i] += outcome
            scores[j] += 1.0 - outcome
        return scores


def load_judge(name: str) -> Judge:
    """A judge from its name: verifier, reward:DIR or llm:MODEL."""
    if name == "verifier":
        return VerifierJudge()
    kind, _, target = name.partition(":")
    if kind == "reward" and target:
        return RewardModelJudge(target)
    if kind == "llm" and target:
        return LLMJudge(target)
    raise ValueError(
        f"unknown judge {name!r}: use verifier, reward:DIR (a model from `pasar align reward`) "
        "or llm:MODEL (any pasar model name, e.g. llm:smollm2-135m-instruct)"
    )
