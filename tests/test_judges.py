"""Judges: the verifier as a judge, the LLM judge's position swap, and reward models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from pasar.evaluate.judges import (
    LLMJudge,
    VerifierJudge,
    load_judge,
    position_bias,
    position_bias_warning,
    swap_outcome,
)
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


def test_llm_judge_asks_both_orders_and_returns_outcomes(llama_engine, title_prompt, capsys):
    engine = Recording(llama_engine)
    judge = LLMJudge("smollm2-135m-instruct", engine=engine)
    first, second = ["Red Cotton T-Shirt, size M"], ["T-Shirt"]
    ((outcome, detail),) = judge.compare([title_prompt], first, second)
    assert outcome in (0.0, 0.5, 1.0)
    assert {detail["verdict_first_as_A"], detail["verdict_first_as_B"]} <= {"A", "B", "tie"}
    assert len(engine.asked) == 2
    progress = capsys.readouterr().err  # a bar per order: the 1.5B judge takes half an hour
    assert "llm:smollm2-135m-instruct (first as A): 100%" in progress
    assert "llm:smollm2-135m-instruct (first as B): 100%" in progress
    a_first, b_first = engine.asked
    assert a_first.index(first[0]) < a_first.index(second[0])
    assert b_first.index(second[0]) < b_first.index(first[0])
    scores = judge.rank(title_prompt, ["one", "two", "three"])
    assert sum(scores) == pytest.approx(3.0)  # three pairs, one point each
    assert len(engine.asked) == 2 + 3 * 2
    from pasar.evaluate.compare import judge_report

    assert judge_report([title_prompt], first, second, judge)["position_bias"]["n"] == 1


def test_a_judge_that_follows_the_order_is_measured_and_named():
    """The 1.5B judge answered "A" in both orders on 289 of 308 prompts of the loop experiment:
    the report counts such verdicts and the CLI warns, instead of a quiet 0.489 of ties."""
    rows = [{"verdict_first_as_A": "A", "verdict_first_as_B": "A"}] * 3 + [
        {"verdict_first_as_A": "B", "verdict_first_as_B": "B"},
        {"verdict_first_as_A": "A", "verdict_first_as_B": "B"},
        {"verdict_first_as_A": "tie", "verdict_first_as_B": "tie"},
    ]
    assert position_bias(rows) == {"rate": 0.6667, "same_position": 4, "n": 6}
    assert position_bias([{"score": 1.0}]) is None  # a verifier judges each answer alone
    report = {"judge": "llm:m", "position_bias": position_bias(rows)}
    assert "llm:m named the same position in both orders on 4 of 6" in position_bias_warning(report)
    assert (
        position_bias_warning({"judge": "llm:m", "position_bias": position_bias(rows[3:])}) is None
    )


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


def test_a_report_is_judged_again_and_the_judges_agreement_counted(tmp_path: Path):
    """`pasar eval rejudge`: the answers of a winrate report judged by another judge without
    generating again, with the share of prompts where both judges gave the same outcome."""
    from conftest import invoke_pasar

    from pasar.data.files import write_json, write_jsonl
    from pasar.evaluate.compare import judge_report, rejudge
    from pasar.evaluate.judges import Judge

    prompts = make_prompts(DB, per_language=1, seed=0, tasks=["title"])[:3]
    goods = [f"{p['facts']['name']} " + " ".join(p["facts"]["options"].values()) for p in prompts]
    bad = "Buy now buy now buy now"
    first = [goods[0], bad, goods[2]]
    second = [bad, goods[1], goods[2]]  # win, loss, tie by the verifiers
    report = judge_report(prompts, first, second, VerifierJudge(), model="m", baseline="b")
    assert [r["outcome"] for r in report["rows"]] == [1.0, 0.0, 0.5]

    class AlwaysTie(Judge):
        name = "tie"

        def compare(self, prompts, first, second):
            return [(0.5, {}) for _ in first]

        def rank(self, prompt, completions):
            return [0.0] * len(completions)

    again = rejudge(report, prompts, AlwaysTie())
    assert again["agreement"] == {
        "rate": 0.3333, "n": 3, "confusion": {"0.0->0.5": 1, "0.5->0.5": 1, "1.0->0.5": 1},
    }  # fmt: skip
    assert again["overall"]["ties"] == 3 and again["first_judge"] == "verifier"
    assert [r["completion"] for r in again["rows"]] == first  # nothing generated again

    write_json(report, tmp_path / "winrate.json")
    write_jsonl(prompts, tmp_path / "prompts.jsonl")
    args = ["eval", "rejudge", "--report", str(tmp_path / "winrate.json"), "--judge", "verifier"]
    done = invoke_pasar(
        *args, "--prompts", str(tmp_path / "prompts.jsonl"), "--out", str(tmp_path / "again.json")
    )
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "again.json").read_text())
    assert saved["agreement"]["rate"] == 1.0 and saved["rejudged"].endswith("winrate.json")
    write_jsonl(prompts[:1], tmp_path / "other.jsonl")
    wrong = invoke_pasar(
        *args, "--prompts", str(tmp_path / "other.jsonl"), "--out", str(tmp_path / "x.json")
    )
    assert wrong.returncode == 2 and "give the file it was made on" in wrong.stderr
