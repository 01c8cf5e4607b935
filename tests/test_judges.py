"""Judges: the verifier as a judge, the LLM judge's position swap, and reward models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from pasar.evaluate.judges import LLMJudge, VerifierJudge, load_judge, swap_outcome
from pasar.evaluate.prompts import make_prompts

DB = json.loads((SHARED_DATA / "retail" / "db.json").read_text())


@pytest.fixture(scope="module")
def title_prompt():
    return next(r for r in make_prompts(DB, per_language=1, seed=0, tasks=["title"]))


@pytest.mark.parametrize(
    ("ab", "ba", "outcome"),
    [
        ("A", "B", 1.0),  # first preferred in both positions
        ("B", "A", 0.0),  # second preferred in both positions
        ("A", "A", 0.5),  # always the first position: position bias, no information
        ("B", "B", 0.5),
        ("tie", "tie", 0.5),
        ("A", "tie", 1.0),
        ("tie", "A", 0.0),
    ],
)
def test_swap_outcome(ab, ba, outcome):
    assert swap_outcome(ab, ba) == outcome


def test_verifier_judge_prefers_the_correct_title(title_prompt):
    facts = title_prompt["facts"]
    good = f"{facts['name']} " + " ".join(
        v for v in facts["options"].values() if v.lower() not in {"none", "no"}
    )
    bad = "Buy now buy now buy now"
    judge = VerifierJudge()
    (outcome, detail), (reverse, _) = judge.compare([title_prompt] * 2, [good, bad], [bad, good])
    assert (outcome, reverse) == (1.0, 0.0)
    assert detail["score"] > detail["baseline_score"] and detail["baseline_problems"]
    assert judge.compare([title_prompt], [good], [good])[0][0] == 0.5
    scores = judge.rank(title_prompt, [bad, good])
    assert scores[1] > scores[0]


class Recording:
    """Wraps a real engine and keeps the prompts the judge sent."""

    def __init__(self, engine):
        self.engine, self.asked = engine, []

    def batch(self, conversations, **kw):
        self.asked += [c[0]["content"] for c in conversations]
        return self.engine.batch(conversations, **kw)


def test_llm_judge_asks_both_orders_and_returns_outcomes(llama_engine, title_prompt):
    engine = Recording(llama_engine)
    judge = LLMJudge("smollm2-135m-instruct", engine=engine)
    first, second = ["Red Cotton T-Shirt, size M"], ["T-Shirt"]
    ((outcome, detail),) = judge.compare([title_prompt], first, second)
    assert outcome in (0.0, 0.5, 1.0)
    assert {detail["verdict_first_as_A"], detail["verdict_first_as_B"]} <= {"A", "B", "tie"}
    assert len(engine.asked) == 2
    a_first, b_first = engine.asked
    assert a_first.index(first[0]) < a_first.index(second[0])
    assert b_first.index(second[0]) < b_first.index(first[0])
    scores = judge.rank(title_prompt, ["one", "two", "three"])
    assert sum(scores) == pytest.approx(3.0)  # three pairs, one point each
    assert len(engine.asked) == 2 + 3 * 2


def test_unknown_judges_say_what_exists(tmp_path: Path):
    with pytest.raises(ValueError, match="verifier, reward:DIR"):
        load_judge("gpt-judge")
    with pytest.raises(FileNotFoundError, match="pasar align reward"):
        load_judge(f"reward:{tmp_path}")


def test_baseline_answers_are_reused_only_from_a_matching_report():
    from pasar.evaluate.compare import Generation, reused_baseline

    prompts = [{"id": "a"}, {"id": "b"}]
    settings = Generation(max_tokens=64, batch_size=4)
    report = {
        "baseline": "big",
        "generation": {**Generation(max_tokens=64, batch_size=16).__dict__},
        "rows": [
            {"id": "b", "baseline_completion": "B"},
            {"id": "a", "baseline_completion": "A"},
        ],
    }
    assert reused_baseline(report, "big", prompts, settings) == ["A", "B"]  # in prompt order
    with pytest.raises(ValueError, match="baseline is 'big', not 'other'"):
        reused_baseline(report, "other", prompts, settings)
    with pytest.raises(ValueError, match="generated with"):
        reused_baseline(report, "big", prompts, Generation(max_tokens=128))
    with pytest.raises(ValueError, match="no baseline answer for 1 of these prompts"):
        reused_baseline(report, "big", [*prompts, {"id": "c"}], settings)
