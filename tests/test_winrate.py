"""Win-rate arithmetic and the bootstrap on known inputs."""

from __future__ import annotations

import pytest

from pasar.evaluate.winrate import (
    bootstrap_interval,
    outcome_from_scores,
    paired_change,
    win_rate,
    win_rates_by,
)


def test_ties_count_half():
    result = win_rate([1, 1, 0.5, 0, 0.5, 1, 0, 1], resamples=2000)
    assert (result.wins, result.ties, result.losses) == (4, 2, 2)
    assert result.rate == pytest.approx(5 / 8)
    assert result.ci_low <= result.rate <= result.ci_high
    assert result.to_dict()["win_rate"] == 0.625


def test_bootstrap_is_degenerate_when_every_outcome_is_the_same():
    assert bootstrap_interval([1.0] * 20) == (1.0, 1.0)
    assert win_rate([0.5] * 7).rate == 0.5


def test_bootstrap_interval_matches_the_normal_approximation():
    outcomes = [1.0] * 300 + [0.0] * 200  # p = 0.6, n = 500: se = sqrt(.6*.4/500) = 0.0219
    low, high = bootstrap_interval(outcomes, resamples=20_000, seed=1)
    assert low == pytest.approx(0.6 - 1.96 * 0.0219, abs=0.006)
    assert high == pytest.approx(0.6 + 1.96 * 0.0219, abs=0.006)
    assert bootstrap_interval(outcomes, resamples=20_000, seed=1) == (low, high)  # seeded


def test_breakdown_and_score_outcomes():
    rows = [
        {"language": "th", "outcome": 0.0},
        {"language": "id", "outcome": 1.0},
        {"language": "id", "outcome": 0.5},
    ]
    by_language = win_rates_by(rows, "language", resamples=500)
    assert by_language["id"].rate == 0.75 and by_language["th"].rate == 0.0
    assert [outcome_from_scores(a, b) for a, b in [(0.9, 0.2), (0.2, 0.9), (0.5, 0.5)]] == [
        1.0,
        0.0,
        0.5,
    ]


def test_bad_outcomes_are_refused():
    with pytest.raises(ValueError, match="1 \\(win\\), 0.5 \\(tie\\) or 0 \\(loss\\)"):
        win_rate([1, 2])
    with pytest.raises(ValueError, match="at least one"):
        win_rate([])


def test_a_paired_change_is_caught_where_unpaired_intervals_overlap():
    # 40 prompts: the version loses 8 that were ties at the start and changes nothing else.
    before = [1.0] * 12 + [0.5] * 16 + [0.0] * 12
    after = [1.0] * 12 + [0.5] * 8 + [0.0] * 20
    change = paired_change(before, after, resamples=5000)
    assert (change.before, change.after) == (0.5, 0.4)
    unpaired = win_rate(before, resamples=5000), win_rate(after, resamples=5000)
    assert unpaired[1].ci_high > unpaired[0].ci_low  # two intervals overlap: no difference seen
    assert change.ci_high < 0 and change.verdict == "fell"  # paired: every change is a loss
    assert change.to_dict()["change"] == -0.1
    assert paired_change(after, before).verdict == "rose"
    assert paired_change(before, before).to_dict()["ci95"] == [0.0, 0.0]
    assert paired_change(before, before).verdict == "same"
    with pytest.raises(ValueError, match="differ in length"):
        paired_change(before, after[:-1])
