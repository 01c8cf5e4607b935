"""pasar eval prompts / winrate and pasar align reward, through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, invoke_pasar

from pasar.data.files import write_jsonl
from pasar.evaluate.judges import RewardModelJudge


@pytest.fixture(scope="module")
def prompts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("eval") / "prompts.jsonl"
    db = SHARED_DATA / "retail" / "db.json"
    done = invoke_pasar(
        "eval", "prompts", "--out", str(path), "--per-language", "2", "--db", str(db)
    )
    assert done.returncode == 0, done.stderr
    return path


def test_prompts_command_writes_both_tasks_and_splits(prompts_file: Path):
    rows = [json.loads(line) for line in prompts_file.read_text().splitlines()]
    assert len(rows) == 24  # 2 tasks x 6 languages x 2
    assert {r["task"] for r in rows} == {"title", "order"}
    assert {r["split"] for r in rows} == {"train", "heldout"}
    again = prompts_file.with_name("again.jsonl")
    db = SHARED_DATA / "retail" / "db.json"
    invoke_pasar("eval", "prompts", "--out", str(again), "--per-language", "2", "--db", str(db))
    assert again.read_text() == prompts_file.read_text()


def test_a_model_against_itself_ties_everywhere(tiny_hf_dir: Path, prompts_file: Path, tmp_path):
    out = tmp_path / "report.json"
    done = invoke_pasar(
        "eval", "winrate", "--model", str(tiny_hf_dir), "--baseline", str(tiny_hf_dir),
        "--prompts", str(prompts_file), "--judge", "verifier", "--split", "all",
        "--max-tokens", "8", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["overall"] == {
        "n": 24, "wins": 0, "ties": 24, "losses": 0, "win_rate": 0.5, "ci95": [0.5, 0.5]
    }  # fmt: skip
    assert set(report["by_language"]) == {"en", "id", "ms", "th", "vi", "tl"}
    assert set(report["by_task"]) == {"title", "order"}
    assert report["generation"]["max_tokens"] == 8 and report["generation"]["temperature"] == 0
    row = report["rows"][0]
    assert row["completion"] == row["baseline_completion"] and row["score"] == row["baseline_score"]
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "win rate 0.500" in done.stdout


def test_bad_judge_and_missing_prompts_are_clear_errors(tmp_path: Path, prompts_file: Path):
    done = invoke_pasar(
        "eval", "winrate", "--model", "m", "--baseline", "b", "--prompts", str(prompts_file),
        "--judge", "oracle",
    )  # fmt: skip
    assert done.returncode == 2 and "unknown judge 'oracle'" in done.stderr
    done = invoke_pasar(
        "eval", "winrate", "--model", "m", "--baseline", "b",
        "--prompts", str(tmp_path / "none.jsonl"),
    )  # fmt: skip
    assert done.returncode == 2 and "pasar eval prompts" in done.stderr


def test_reward_model_learns_pairs_and_judges(tiny_hf_dir: Path, tmp_path: Path):
    prompt = [{"role": "user", "content": "Write a title for a red cotton T-shirt."}]
    pairs = [
        {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": f"Red Cotton T-Shirt {i}"}],
            "rejected": [{"role": "assistant", "content": f"zzz qqq xxx {i}"}],
        }
        for i in range(8)
    ]
    data = tmp_path / "pairs.jsonl"
    write_jsonl(pairs, data)
    out = tmp_path / "rm"
    done = invoke_pasar(
        "align", "reward", "--model", str(tiny_hf_dir), "--data", str(data),
        "--output", str(out), "--max-steps", "20", "--learning-rate", "1e-3",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["steps"] == 20
    assert report["last_log"]["loss"] < report["first_log"]["loss"]
    judge = RewardModelJudge(str(out))
    row = {"id": "p", "messages": prompt}
    good, bad = judge.score([row, row], ["Red Cotton T-Shirt 3", "zzz qqq xxx 3"])
    assert good > bad
    ((outcome, detail),) = judge.compare([row], ["zzz qqq xxx 3"], ["Red Cotton T-Shirt 3"])
    assert outcome == 0.0 and detail["score"] < detail["baseline_score"]


def test_reward_needs_pairs(tiny_hf_dir: Path, tmp_path: Path):
    data = tmp_path / "unpaired.jsonl"
    write_jsonl(
        [{"prompt": [{"role": "user", "content": "q"}], "completion": [], "label": True}], data
    )
    done = invoke_pasar(
        "align", "reward", "--model", str(tiny_hf_dir), "--data", str(data),
        "--output", str(tmp_path / "rm"),
    )  # fmt: skip
    assert done.returncode == 2 and "prompt/chosen/rejected" in done.stderr


def report_of(model: str, outcomes: dict[str, list[float]], baseline: str = "big") -> dict:
    """A winrate report with just what `pasar eval regressions` reads."""
    rows = [
        {"id": f"order-{lang}-{i}", "task": "order", "language": lang, "outcome": o}
        for lang, values in outcomes.items()
        for i, o in enumerate(values)
    ]
    return {"model": model, "baseline": baseline, "judge": "verifier", "rows": rows}


def test_regressions_name_the_language_that_fell_and_exit_1(tmp_path: Path):
    start, version, out = tmp_path / "start.json", tmp_path / "v1.json", tmp_path / "reg.json"
    start.write_text(json.dumps(report_of("student", {"en": [0.5] * 20, "th": [0.5] * 20})))
    # English: 12 ties become losses; Thai: unchanged.
    version.write_text(
        json.dumps(report_of("v1", {"en": [0.5] * 8 + [0.0] * 12, "th": [0.5] * 20}))
    )
    done = invoke_pasar(
        "eval", "regressions", "--report", str(version), "--start", str(start), "--out", str(out)
    )
    assert done.returncode == 1, done.stderr
    assert "v1 fell below student in: overall, language en, task order" in done.stderr
    result = json.loads(out.read_text())
    assert result["fell"] == ["overall", "language en", "task order"] and result["rose"] == []
    assert result["by_language"]["en"]["change"] == -0.3
    assert result["by_language"]["th"] == {
        "n": 20,
        "start": 0.5,
        "now": 0.5,
        "change": 0.0,
        "ci95": [0.0, 0.0],
        "verdict": "same",
    }
    assert result["baseline_answers_differ"] == 0 and "warning" not in done.stderr
    same = invoke_pasar("eval", "regressions", "--report", str(start), "--start", str(start))
    assert same.returncode == 0, same.stderr


def test_regressions_warn_when_the_baseline_answered_differently(tmp_path: Path):
    start, version = tmp_path / "start.json", tmp_path / "v1.json"
    report = report_of("student", {"en": [0.5] * 4})
    start.write_text(json.dumps(report))
    report["rows"][0]["baseline_completion"] = "another answer"
    version.write_text(json.dumps(report))
    done = invoke_pasar("eval", "regressions", "--report", str(version), "--start", str(start))
    assert done.returncode == 0 and "answered 1 prompts differently" in done.stderr


def test_regressions_refuse_reports_that_cannot_be_paired(tmp_path: Path):
    start, other = tmp_path / "start.json", tmp_path / "other.json"
    start.write_text(json.dumps(report_of("student", {"en": [0.5] * 4})))
    other.write_text(json.dumps(report_of("v1", {"en": [0.5] * 4}, baseline="small")))
    done = invoke_pasar("eval", "regressions", "--report", str(other), "--start", str(start))
    assert done.returncode == 2 and "differ in baseline ('big' and 'small')" in done.stderr
    other.write_text(json.dumps(report_of("v1", {"en": [0.5] * 4, "vi": [1.0]})))
    done = invoke_pasar("eval", "regressions", "--report", str(other), "--start", str(start))
    assert done.returncode == 2 and "lacks 1 of the 5 prompts" in done.stderr
    other.write_text(json.dumps(report_of("v1", {})))
    done = invoke_pasar("eval", "regressions", "--report", str(other), "--start", str(start))
    assert done.returncode == 2 and "the report has no rows" in done.stderr
    done = invoke_pasar(
        "eval", "regressions", "--report", str(tmp_path / "no.json"), "--start", str(start)
    )
    assert done.returncode == 2 and "no such file" in done.stderr
