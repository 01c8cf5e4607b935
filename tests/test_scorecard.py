"""`pasar eval scorecard`: every section on the 135M model, resumed section by section."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from pasar.apps.taskbot.tools import tool_schemas
from pasar.evaluate.scorecard import (
    ScorecardConfig,
    _json_in,
    run_scorecard,
    structured,
    structured_items,
)
from pasar.models.registry import load_engine

ROOT = Path(__file__).parent.parent


def table_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "scorecard_table", ROOT / "benchmarks" / "scorecard_table.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scorecard_measures_and_resumes(tmp_path: Path, embedded_gguf: Path) -> None:
    config = ScorecardConfig(
        model="smollm2-135m-instruct",
        data_dir=SHARED_DATA,
        scenarios=ROOT / "examples" / "taskbot" / "scenarios.json",
        limit=1,
        sections=("speed", "translation"),
    )
    loads: list[str] = []

    def load(name: str):  # type: ignore[no-untyped-def]
        loads.append(name)
        return load_engine(name, n_ctx=2048)

    out = tmp_path / "card.json"
    report = run_scorecard(config, out, load)
    assert json.loads(out.read_text())["summary"] == report["summary"]
    speed = report["speed"]
    assert speed["gen_tokens_per_s"] > 1 and speed["prompt_tokens_per_s"] > 1
    assert 0 < speed["share_of_ceiling"] < 1.5  # bounded by memory bandwidth, give or take
    assert report["version"].startswith("w-") and report["libraries"]["llama_cpp_python"]
    pairs = report["translation"]["pairs"]
    assert list(pairs) == ["en-id", "en-ms", "en-th", "en-vi", "en-tl"]
    assert all(p["sentences"] == 1 for p in pairs.values())
    # The scorecard's sentences are NTREX line 1000 on, never the first lines other uses take.
    assert "lines 1000-1000" in report["translation"]["dataset"]
    assert report["sections_missing"] == ["verifiers", "structured", "taskbot"]

    # A second run finds every finished section and loads no model at all; a run of one
    # section still reports every section finished before.
    loads.clear()
    again = run_scorecard(config, out, load)
    assert loads == [] and again["summary"] == report["summary"]
    one = run_scorecard(ScorecardConfig(**{**config.__dict__, "sections": ("speed",)}), out, load)
    assert loads == [] and one["translation"] == report["translation"]
    # Other settings in the same folder are refused rather than mixed.
    with pytest.raises(ValueError, match="other settings"):
        run_scorecard(ScorecardConfig(**{**config.__dict__, "limit": 3}), out, load)


def test_structured_output_is_scored_on_the_real_model(embedded_gguf: Path) -> None:
    db = json.loads((SHARED_DATA / "retail" / "db.json").read_text())
    json_items, tool_items = structured_items(db)
    config = ScorecardConfig(model="-", data_dir=SHARED_DATA, scenarios=ROOT)
    with load_engine("smollm2-135m-instruct", n_ctx=2048) as engine:
        report = structured(engine, config, (json_items[:1], tool_items[:1]))
    (row,) = report["json"]
    # The grammar guarantees JSON that fits the schema unless the answer ran out of tokens.
    assert row["constrained"]["valid"] or row["truncated"], row
    (call,) = report["tool_calls"]
    assert call["valid"] or call["truncated"], call
    if call["valid"]:
        assert call["call"]["name"] in {t["function"]["name"] for t in tool_schemas()}
    assert report["tool_call_correct"] == float(call["correct"])


def test_structured_items_cover_every_language_from_the_database() -> None:
    db = json.loads((SHARED_DATA / "retail" / "db.json").read_text())
    json_items, tool_items = structured_items(db)
    assert [i["language"] for i in json_items] == ["en", "id", "ms", "th", "vi", "tl"]
    assert len(tool_items) == 12
    for item in tool_items:
        value = next(iter(item["arguments"].values()))
        assert value in item["prompt"]  # the argument to copy is in the request


def test_json_is_found_fenced_or_bare() -> None:
    assert _json_in('Sure:\n```json\n{"a": 1}\n```') == {"a": 1}
    assert _json_in('Here it is {"a": 2} done') == {"a": 2}
    assert _json_in("no json here") is None


def test_the_default_rule_picks_the_best_usable_instruct_model() -> None:
    table = table_module()

    def report(model: str, instruct: bool, gen: float, chrf: float) -> dict:
        summary = {
            "gen_tokens_per_s": gen,
            "mean_chrf": chrf,
            "verifier_pass_rate": 0.5,
            "tool_call_correct": 0.5,
            "taskbot_completion": 0.0,
        }
        return {"model": model, "instruct": instruct, "summary": summary}

    reports = [
        report("fast-weak", True, 100, 10),
        report("slow-strong", True, 5, 60),  # too slow to chat with
        report("base", False, 50, 50),  # not a chat model
        report("usable-strong", True, 20, 40),
    ]
    assert table.choose_default(reports) == "usable-strong"
