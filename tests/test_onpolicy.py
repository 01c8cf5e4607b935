"""The on-policy loop end to end on a tiny model: one short round, its files, and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from pasar.align.onpolicy import OnPolicyOptions, preference_rows, run_onpolicy
from pasar.data.files import write_jsonl
from pasar.evaluate.prompts import make_prompts

DB = json.loads((SHARED_DATA / "retail" / "db.json").read_text())


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    rows = make_prompts(DB, per_language=2, seed=3, languages=("en", "id"))
    train = [r for r in rows if r["split"] == "train"][:4]
    heldout = [r for r in rows if r["split"] == "heldout"][:2]
    assert len(train) == 4 and len(heldout) == 2
    path = tmp_path / "prompts.jsonl"
    write_jsonl(train + heldout, path)
    return path


def options(model: Path, prompts: Path, out: Path, **kw) -> OnPolicyOptions:
    return OnPolicyOptions(
        model=str(model),
        prompts=str(prompts),
        judge="verifier",
        rounds=kw.pop("rounds", 1),
        samples=3,
        output_dir=str(out),
        max_tokens=12,
        eval_max_tokens=12,
        batch_size=2,
        epochs=1,
        learning_rate=1e-3,
        **kw,
    )


def test_preference_rows_best_worst_and_singles():
    prompt = {"messages": [{"role": "user", "content": "q"}]}
    rows, pair = preference_rows(prompt, ["a", "b", "c"], [0.4, 1.0, 0.2], good_score=1.0)
    assert [(r["completion"][0]["content"], r["label"]) for r in rows] == [
        ("b", True),
        ("c", False),
    ]
    assert pair["chosen"][0]["content"] == "b" and pair["rejected"][0]["content"] == "c"
    rows, pair = preference_rows(prompt, ["a", "b"], [1.0, 1.0], good_score=1.0)
    assert pair is None and [r["label"] for r in rows] == [True]
    rows, pair = preference_rows(prompt, ["a", "b"], [0.6, 0.6], good_score=1.0)
    assert pair is None and [r["label"] for r in rows] == [False]
    assert preference_rows(prompt, ["a", "b"], [0.6, 0.6], good_score=None) == ([], None)


def test_one_round_end_to_end(tiny_hf_dir: Path, prompts_file: Path, tmp_path: Path):
    out = tmp_path / "run"
    report = run_onpolicy(options(tiny_hf_dir, prompts_file, out), log=lambda _: None)
    round_dir = out / "round-1"
    samples = [json.loads(line) for line in (round_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 4
    assert all(len(s["completions"]) == 3 and len(s["scores"]) == 3 for s in samples)
    assert all(0.0 <= x <= 1.0 for s in samples for x in s["scores"])
    data = [json.loads(line) for line in (round_dir / "data.jsonl").read_text().splitlines()]
    assert data and {r["label"] for r in data} <= {True, False}
    assert (round_dir / "train" / "config.json").exists()
    evaluation = json.loads((round_dir / "eval.json").read_text())
    assert evaluation["overall"]["n"] == 2 and evaluation["baseline"] == str(tiny_hf_dir)
    assert (round_dir / "eval.png").stat().st_size > 1000
    (summary,) = report["rounds"]
    assert summary["training_rows"] == len(data)
    assert summary["train_steps"] == -(-len(data) // 2)  # one epoch, batch 2
    assert json.loads((out / "report.json").read_text())["rounds"][0]["round"] == 1


def test_resume_continues_a_cut_sample_file(tiny_hf_dir: Path, prompts_file: Path, tmp_path: Path):
    """A kill mid-sampling leaves complete lines and maybe half a line; resuming keeps the
    complete ones, drops the half, and samples only the rest."""
    out = tmp_path / "run"
    run_onpolicy(options(tiny_hf_dir, prompts_file, out), log=lambda _: None)
    samples = (out / "round-1" / "samples.jsonl").read_text().splitlines()
    fresh = tmp_path / "cut"
    (fresh / "round-1").mkdir(parents=True)
    (fresh / "round-1" / "samples.jsonl").write_text(
        "\n".join(samples[:2]) + "\n" + samples[2][:15]
    )
    run_onpolicy(options(tiny_hf_dir, prompts_file, fresh), log=lambda _: None)
    resumed = (fresh / "round-1" / "samples.jsonl").read_text().splitlines()
    assert resumed[:2] == samples[:2]  # kept, not resampled
    assert [json.loads(line)["id"] for line in resumed] == [
        json.loads(line)["id"] for line in samples
    ]


def test_other_settings_in_the_same_directory_are_refused(
    tiny_hf_dir: Path, prompts_file: Path, tmp_path: Path
):
    out = tmp_path / "run"
    run_onpolicy(options(tiny_hf_dir, prompts_file, out), log=lambda _: None)
    with pytest.raises(ValueError, match="other settings"):
        run_onpolicy(options(tiny_hf_dir, prompts_file, out, seed=7), log=lambda _: None)


def test_killed_run_resumes_with_the_same_command(
    tiny_hf_dir: Path, prompts_file: Path, tmp_path: Path
):
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "pasar.cli.main", "align", "onpolicy",
        "--model", str(tiny_hf_dir), "--prompts", str(prompts_file), "--output", str(out),
        "--rounds", "2", "--samples", "2", "--max-tokens", "8", "--batch-size", "2",
        "--epochs", "1", "--learning-rate", "1e-3",
    ]  # fmt: skip
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not (out / "round-1" / "train").exists() and first.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert first.poll() is None, "the run ended before it could be killed"
    first.send_signal(signal.SIGKILL)  # somewhere in round 1's training
    assert first.wait() == -signal.SIGKILL
    assert not (out / "report.json").exists()
    sampled = (out / "round-1" / "samples.jsonl").read_text()
    second = subprocess.run(command, capture_output=True, text=True, timeout=600, env=os.environ)
    assert second.returncode == 0, second.stdout + second.stderr
    report = json.loads((out / "report.json").read_text())
    assert [r["round"] for r in report["rounds"]] == [1, 2]
    assert report["rounds"][1]["policy"] == str(out / "round-1" / "train")
    assert "round 2: win rate" in second.stdout
    assert (out / "round-1" / "samples.jsonl").read_text() == sampled  # kept, not resampled
