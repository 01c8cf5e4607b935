"""Win rate of a model against a baseline, with a bootstrap confidence interval.

An outcome is 1 (the model won), 0.5 (a tie) or 0 (the baseline won); the win rate is their
mean, so a tie counts half. The interval is the percentile bootstrap over prompts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

OUTCOMES = (0.0, 0.5, 1.0)


@dataclass(frozen=True)
class WinRate:
    wins: int
    ties: int
    losses: int
    rate: float
    ci_low: float
    ci_high: float

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "win_rate": round(self.rate, 4),
            "ci95": [round(self.ci_low, 4), round(self.ci_high, 4)],
        }


def bootstrap_interval(
    outcomes: Sequence[float], *, resamples: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean outcome."""
    values = np.asarray(outcomes, dtype=np.float64)
    if len(values) == 0:
        raise ValueError("no outcomes: a win rate needs at least one judged prompt")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def win_rate(outcomes: Sequence[float], *, resamples: int = 10_000, seed: int = 0) -> WinRate:
    bad = [o for o in outcomes if o not in OUTCOMES]
    if bad:
        raise ValueError(f"outcomes must be 1 (win), 0.5 (tie) or 0 (loss); got {bad[:5]}")
    low, high = bootstrap_interval(outcomes, resamples=resamples, seed=seed)
    return WinRate(
        wins=sum(o == 1.0 for o in outcomes),
        ties=sum(o == 0.5 for o in outcomes),
        losses=sum(o == 0.0 for o in outcomes),
        rate=float(np.mean(outcomes)),
        ci_low=low,
        ci_high=high,
    )


def win_rates_by(rows: Iterable[dict[str, object]], key: str, **kwargs: int) -> dict[str, WinRate]:
    """Win rate per value of ``key`` (e.g. language or task); rows carry an ``outcome``."""
    groups: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        groups[str(row[key])].append(float(row["outcome"]))  # type: ignore[arg-type]
    return {name: win_rate(values, **kwargs) for name, values in sorted(groups.items())}


@dataclass(frozen=True)
class Change:
    """How a model's win rate moved from a start on the same prompts against the same baseline:
    the interval is of the mean paired difference (each prompt's outcome now minus at the
    start), which is tighter than comparing two unpaired intervals."""

    n: int
    before: float
    after: float
    ci_low: float
    ci_high: float

    @property
    def verdict(self) -> str:
        """ "fell" or "rose" when the interval excludes no change, else "same"."""
        return "fell" if self.ci_high < 0 else "rose" if self.ci_low > 0 else "same"

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "start": round(self.before, 4),
            "now": round(self.after, 4),
            "change": round(self.after - self.before, 4),
            "ci95": [round(self.ci_low, 4), round(self.ci_high, 4)],
            "verdict": self.verdict,
        }


def paired_change(
    before: Sequence[float], after: Sequence[float], *, resamples: int = 10_000, seed: int = 0
) -> Change:
    """The change in win rate between two outcome lists of the same prompts, in the same order."""
    if len(before) != len(after):
        raise ValueError(f"paired outcomes differ in length: {len(before)} and {len(after)}")
    differences = [a - b for a, b in zip(after, before, strict=True)]
    low, high = bootstrap_interval(differences, resamples=resamples, seed=seed)
    return Change(len(before), float(np.mean(before)), float(np.mean(after)), low, high)


def outcome_from_scores(
    model_score: float, baseline_score: float, *, tolerance: float = 1e-9
) -> float:
    """1, 0.5 or 0 from two scores of the same prompt (a verifier's, a reward model's)."""
    if abs(model_score - baseline_score) <= tolerance:
        return 0.5
    return 1.0 if model_score > baseline_score else 0.0
