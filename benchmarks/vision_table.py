"""Put the vision experiment's two connectors side by side: one JSON and a Markdown table.

    python benchmarks/vision_table.py runs/vision-experiment \
        --json docs/results/vision.json --markdown docs/results/vision-table.md

Reads what ``benchmarks/vision_experiment.sh`` leaves in the experiment folder: per connector
``CONNECTOR/train-report.json`` and ``CONNECTOR/log.jsonl`` (``pasar vision train``) and
``eval-CONNECTOR.json`` (``pasar vision eval``). Every number is the reports' own, except the
training time, which is the sum of the per-step seconds in the log (it survives a resume, where
a wall clock would not). A connector whose reports are not there yet is listed under
``not_finished``, so a partial experiment tabulates too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

CONNECTORS = {"ovis": "Ovis (visual tokens)", "mlp": "MLP (LLaVA baseline)"}


def training_seconds(log: Path) -> float:
    """The summed seconds of the optimizer steps logged in ``log.jsonl``."""
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return round(sum(row.get("seconds", 0.0) for row in rows), 1)


def collect(run: Path, evaluation: Path) -> dict[str, Any]:
    """One connector's row: training and evaluation numbers from its reports."""
    train = json.loads((run / "train-report.json").read_text())
    report = json.loads(evaluation.read_text())
    category, retrieval = report["category"], report["retrieval"]
    consistency = report["consistency"]
    return {
        "steps": train["steps"],
        "trainable_parameters": train["trainable_parameters"],
        "train_loss": [train["first_loss"], train["final_loss"]],
        "heldout_loss": [train["heldout_loss_start"], train["heldout_loss_end"]],
        "seconds_per_step": train["seconds_per_step"],
        "train_seconds": training_seconds(run / "log.jsonl"),
        "eval_seconds": report["seconds"],
        "train_images": report["train_images"],
        "heldout_images": report["heldout_images"],
        "heldout_products": report["heldout_products"],
        "category": category,
        "retrieval": retrieval,
        "consistency": {k: v for k, v in consistency.items() if k != "threshold_fit"},
        "threshold_fit": consistency["threshold_fit"],
    }


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def markdown(results: dict[str, dict[str, Any]], missing: list[str]) -> list[str]:
    """Measures as rows, connectors as columns."""
    measures = [
        ("stage-1 steps", lambda r: cell(r["steps"])),
        ("trainable parameters", lambda r: f"{r['trainable_parameters']:,}"),
        ("train loss (first -> last step)", lambda r: " -> ".join(map(cell, r["train_loss"]))),
        ("held-out loss (start -> end)", lambda r: " -> ".join(map(cell, r["heldout_loss"]))),
        ("category accuracy (ranked)", lambda r: cell(r["category"]["accuracy"])),
        ("top-level category accuracy", lambda r: cell(r["category"].get("top_level_accuracy"))),
        ("category accuracy (caption)", lambda r: cell(r["category"].get("caption_accuracy"))),
        ("image -> title recall@1", lambda r: cell(r["retrieval"]["recall_at_1"])),
        ("image -> title recall@5", lambda r: cell(r["retrieval"]["recall_at_5"])),
        ("consistency AUROC", lambda r: cell(r["consistency"]["auroc"])),
        (
            "verdict accuracy (threshold from training split)",
            lambda r: (
                f"{cell(r['consistency']['accuracy_at_threshold'])} "
                f"(at {r['consistency']['threshold']:.3f})"
            ),
        ),
        (
            "held-out photos / products (titles ranked)",
            lambda r: (
                f"{r['heldout_images']} / {r['heldout_products']} ({r['retrieval']['titles']})"
            ),
        ),
        ("training s (s/step)", lambda r: f"{r['train_seconds']:.0f} ({r['seconds_per_step']})"),
        ("evaluation s", lambda r: f"{r['eval_seconds']:.0f}"),
    ]
    names = list(results)
    lines = [
        "| measure | " + " | ".join(CONNECTORS[n] for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, show in measures:
        lines.append(f"| {label} | " + " | ".join(show(results[n]) for n in names) + " |")
    if missing:
        lines += ["", "Not finished yet: " + ", ".join(CONNECTORS[n] for n in missing) + "."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the experiment folder")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, required=True)
    args = parser.parse_args()
    results, missing = {}, []
    for connector in CONNECTORS:
        run, evaluation = args.out / connector, args.out / f"eval-{connector}.json"
        if not (run / "train-report.json").is_file() or not evaluation.is_file():
            missing.append(connector)
            continue
        results[connector] = collect(run, evaluation)
    if not results:
        raise SystemExit(
            f"{args.out}: no connector finished yet (needs CONNECTOR/train-report.json and "
            "eval-CONNECTOR.json): run benchmarks/vision_experiment.sh first"
        )
    first = json.loads((args.out / next(iter(results)) / "vision-train-config.json").read_text())
    output = {
        "setup": {
            "data": first["data"],
            "stage": first["stage"],
            "batch_size": first["batch_size"],
            "learning_rate": first["learning_rate"],
            "heldout_percent": first["heldout_percent"],
            "seed": first["seed"],
            "llm": first["model"],
            "backbone": first["backbone"],
        },
        "not_finished": missing,
        "results": results,
    }
    args.json.write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n")
    lines = markdown(results, missing)
    args.markdown.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
