"""`pasar eval translation`: pairs, sacrebleu scores, the NTREX files, and the command on the
embedded model, whose outputs `pasar listing check` then rejects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, run_pasar

from pasar.apps.listing.check import check_catalog
from pasar.evaluate.translation import load_ntrex, parse_pairs, scores


def test_pairs_are_parsed_and_checked() -> None:
    assert parse_pairs("en-id, en-th") == [("en", "id"), ("en", "th")]
    with pytest.raises(ValueError, match="SOURCE-TARGET"):
        parse_pairs("en")
    with pytest.raises(ValueError, match="unknown languages"):
        parse_pairs("en-fr")


def test_scores_rank_a_good_translation_above_a_copy() -> None:
    english = load_ntrex(SHARED_DATA / "ntrex", "en", 20)
    indonesian = load_ntrex(SHARED_DATA / "ntrex", "id", 20)
    perfect = scores(indonesian, indonesian, "id")
    copied = scores(english, indonesian, "id")
    assert perfect["chrf"] == 100.0 and perfect["bleu"] == 100.0
    assert copied["chrf"] < 40
    thai = load_ntrex(SHARED_DATA / "ntrex", "th", 20)
    assert scores(thai, thai, "th")["bleu"] == 100.0  # character tokens for Thai


def test_command_on_the_embedded_model(tmp_path: Path, embedded_gguf: Path) -> None:
    out, outputs = tmp_path / "report.json", tmp_path / "outputs.jsonl"
    args = ["--pairs", "en-th", "--limit", "2", "--max-tokens", "24"]
    done = run_pasar(
        "eval", "translation", "--model", "smollm2-135m-instruct", *args,
        "--out", str(out), "--outputs", str(outputs),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [pair] = json.loads(out.read_text())["pairs"]
    assert pair["pair"] == "en-th" and pair["sentences"] == 2
    assert 0 <= pair["chrf"] < 30  # it cannot translate into Thai
    rows = [json.loads(line) for line in outputs.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["ntrex-0", "ntrex-1"]
    report = check_catalog(rows)  # the gates flag both: the model cannot write Thai
    assert report["failed"] == 2


def test_unknown_pair_is_a_one_line_error() -> None:
    from typer.testing import CliRunner

    from pasar.cli.main import app

    args = ["eval", "translation", "--model", "x", "--pairs", "en-xx", "--out", "r.json"]
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2 and "unknown languages" in " ".join(bad.output.split())
