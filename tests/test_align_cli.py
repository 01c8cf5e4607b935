"""From feedback to an aligned model with one command, on the real embedded model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import invoke_pasar, run_pasar

from pasar.config import get_settings
from pasar.models.types import ChatResult, Usage
from pasar.store.db import open_store
from pasar.store.interactions import ExchangeRecord, add_feedback, record_exchange


@pytest.fixture
def feedback_file(pasar_home: Path, tmp_path: Path) -> Path:
    """Real feedback recorded in the store, exported with the CLI."""
    store = open_store(get_settings().store_url_resolved)
    record = ExchangeRecord("smollm2-135m-instruct", None, "llamacpp", {})
    answers = [
        (
            "Title for a red cotton T-shirt",
            "The Red Cotton: A World of Innovation",
            "Red Cotton T-Shirt, Crew Neck",
        ),
        ("Title for a blue glass water bottle", "Water water bottle bottle", None),
    ]
    for i, (question, answer, correction) in enumerate(answers):
        record_exchange(
            store,
            conversation_id=None,
            request_messages=[{"role": "user", "content": question}],
            completion_id=f"c{i}",
            answers=[ChatResult(answer, "stop", Usage(9, 9), "m")],
            record=record,
        )
        add_feedback(store, message_id=f"c{i}", rating="down", correction=correction)
    out = tmp_path / "feedback.jsonl"
    assert invoke_pasar("feedback", "export", "--format", "bnf", "--out", str(out)).returncode == 0
    return out


def test_feedback_file_to_aligned_model_in_one_command(feedback_file: Path, tmp_path: Path):
    rows = [json.loads(line) for line in feedback_file.read_text().splitlines()]
    assert [r["label"] for r in rows] == [True, False, False]  # a correction, two bad answers
    output = tmp_path / "aligned"
    done = run_pasar(
        "align",
        "bnf",
        "--model",
        "smollm2-135m-instruct",
        "--data",
        str(feedback_file),
        "--output",
        str(output),
        "--lora",
        "--max-steps",
        "2",
        "--batch-size",
        "3",
        "--max-length",
        "128",
        "--learning-rate",
        "1e-4",
        "--name",
        "shop-bnf",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((output / "report.json").read_text())
    assert report["steps"] == 2 and report["data_format"] == "unpaired"
    # The cost of the run: training, and all of it (loading, reference pass) with peak memory.
    assert report["total_s"] > report["runtime_s"] > 0 and report["peak_memory_gib"] > 0.1
    assert report["total_flos"] > 0
    assert report["flops_per_s"] == pytest.approx(report["total_flos"] / report["runtime_s"], 0.02)
    # Registered with its lineage; its version names its own weights, not its base's.
    shown = json.loads(invoke_pasar("models", "show", "shop-bnf").stdout)
    lineage = shown["lineage"]
    base = json.loads(invoke_pasar("models", "show", "smollm2-135m-instruct").stdout)
    assert lineage["base_model"] == "smollm2-135m-instruct"
    assert lineage["base_version"] == base["version"] != shown["version"]
    assert lineage["data_sha256"] == hashlib.sha256(feedback_file.read_bytes()).hexdigest()
    assert lineage["method"] == "bnf" and lineage["settings"]["max_steps"] == 2
    assert shown["version"].startswith("w-")
    assert report["last_log"]["kl"] > 0  # it moved away from the reference
    assert (output / "curves.png").stat().st_size > 1000 and (output / "log.csv").exists()
    # The output directory is a model name anywhere in pasar.
    answer = run_pasar("chat", "-m", str(output), "-p", "Hi", "--max-tokens", "8")
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert answer.stdout.strip()
    # As GGUF: the template is the base its report names, and the registered file keeps the
    # lineage, so llama.cpp runs it with its base's defaults (repetition penalty, tool protocol).
    exported = invoke_pasar(
        "models", "export-gguf", str(output), "--out", str(tmp_path / "b.gguf"), "--name", "b-gguf"
    )
    assert exported.returncode == 0, exported.stderr
    from pasar.models.registry import family_card, resolve_model

    gguf = resolve_model("b-gguf")
    assert gguf.lineage == lineage and gguf.card is None
    card = family_card(gguf)
    assert card is not None and card.name == "smollm2-135m-instruct"
    again = run_pasar(
        "align",
        "bnf",
        "--model",
        "smollm2-135m-instruct",
        "--data",
        str(feedback_file),
        "--output",
        str(output),
        "--max-steps",
        "2",
    )
    assert again.returncode == 2 and "--resume" in again.stderr


def test_wrong_data_for_the_method_says_which_export_to_use(feedback_file: Path, tmp_path: Path):
    done = invoke_pasar(
        "align",
        "dpo",
        "--model",
        "smollm2-135m-instruct",
        "--data",
        str(feedback_file),
        "--output",
        str(tmp_path / "dpo"),
    )
    assert done.returncode == 2
    assert "dpo needs paired data" in " ".join(done.stderr.split())
    assert "pasar feedback export --format dpo" in " ".join(done.stderr.split())
