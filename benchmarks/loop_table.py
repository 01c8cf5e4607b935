"""The table of benchmarks/loop_experiment.sh: one row per trained version (and the start),
its win rate against the strong baseline on the held-out prompts, per language and per task,
the feedback it was trained on and what the training cost. Works on a partial run (rows not
finished yet are left out).

    python benchmarks/loop_table.py runs/loop-experiment --json table.json --markdown table.md
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pasar.evaluate.compare import regressions

ROWS = [  # (row, folder holding winrate.json and the training report, training data)
    ("start", "start", None),
    *[(f"BNF round {r}", f"round-{r}/bnf", f"round-{r}/bnf.jsonl") for r in range(1, 10)],
    ("SFT on corrections (round-1 feedback)", "sft-corrections", "round-1/corrections.jsonl"),
    ("TRL DPO (round-1 pairs)", "dpo-dpo", "round-1/dpo.jsonl"),
    ("TRL DPO, reference computed live", "dpo-live-ref", "round-1/dpo.jsonl"),
    ("TRL KTO (round-1 rows)", "kto-kto", "round-1/kto.jsonl"),
    ("BNF on thumbs down only (round 1)", "bnf-down", "round-1/down.jsonl"),
    ("BNF on thumbs up and corrections only (round 1)", "bnf-up", "round-1/up.jsonl"),
]


def read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def trained_from(run: Path, report: dict[str, Any] | None) -> str | None:
    """The version a row was trained from (its lineage's base): the student's name, or an
    earlier round's folder in this run (on-policy rounds go on from the round before)."""
    if report is None:
        return None
    base = str(report["lineage"]["base_model"])
    path = Path(base)
    return str(path.relative_to(run.resolve())) if path.is_relative_to(run.resolve()) else base


def against_start(
    start: dict[str, Any] | None, winrate: dict[str, Any]
) -> dict[str, list[str]] | None:
    """The languages and tasks (and the whole) where a row fell or rose from the start, paired
    prompt by prompt (`pasar eval regressions`); None without a start row."""
    if start is None:
        return None
    changes = regressions(start, winrate)
    return {k: [g.split(" ")[-1] for g in changes[k]] for k in ("fell", "rose")}


def table(run: Path) -> dict[str, Any]:
    rows = []
    start = read(run / "start" / "winrate.json")
    for name, folder, data in ROWS:
        winrate = read(run / folder / "winrate.json")
        if winrate is None:
            continue
        trained = read(run / folder / "report.json")
        llm = read(run / folder / "llm-judge.json")
        overall = winrate["overall"]
        rows.append(
            {
                "row": name,
                "model": winrate["model"],
                "win_rate": overall["win_rate"],
                "ci95": overall["ci95"],
                "wins_ties_losses": [overall["wins"], overall["ties"], overall["losses"]],
                "prompts": overall["n"],
                "by_language": {k: v["win_rate"] for k, v in winrate["by_language"].items()},
                "by_task": {k: v["win_rate"] for k, v in winrate["by_task"].items()},
                "against_start": against_start(start, winrate) if folder != "start" else None,
                "training_rows": sum(1 for _ in (run / data).open()) if data else None,
                "trained_from": trained_from(run, trained),
                "learning_rate": trained["options"]["learning_rate"] if trained else None,
                "train_s": trained["runtime_s"] if trained else None,
                "total_s": trained.get("total_s") if trained else None,
                "peak_memory_gib": trained.get("peak_memory_gib") if trained else None,
                "flops_per_s": trained.get("flops_per_s") if trained else None,
                "llm_judge": {
                    "judge": llm["judge"],
                    "win_rate": llm["overall"]["win_rate"],
                    "ci95": llm["overall"]["ci95"],
                    "agreement_with_verifiers": llm["agreement"]["rate"],
                    "same_position_both_orders": (llm.get("position_bias") or {}).get("rate"),
                }
                if llm
                else None,
            }
        )
    users = {}
    for path in sorted(run.glob("round-*/users.json")):
        report = json.loads(path.read_text())
        users[path.parent.name] = {
            k: report[k] for k in ("prompts", "up", "down", "corrections", "mean_score")
        }
    return {
        "run": str(run),
        "baseline": start["baseline"] if start else None,
        "rows": rows,
        "simulated_users": users,
    }


def moved(against_start: dict[str, list[str]] | None) -> str:
    """Where a row moved, as "fell: en; rose: id, title" ("same" when nowhere; empty for the
    start or without one)."""
    if against_start is None:
        return ""
    said = [f"{k}: {', '.join(v)}" for k, v in against_start.items() if v]
    return "; ".join(said) or "same"


def markdown(result: dict[str, Any]) -> str:
    languages = sorted({lang for r in result["rows"] for lang in r["by_language"]})
    tasks = sorted({task for r in result["rows"] for task in r["by_task"]})
    head = [
        "row",
        "win rate [95% CI]",
        "W/T/L",
        "vs start (paired 95%)",
        *languages,
        *tasks,
        "rows",
        "from",
        "lr",
        "train s",
        "GiB",
        "GFLOP/s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        cells = [
            r["row"],
            f"{r['win_rate']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]",
            "/".join(map(str, r["wins_ties_losses"])),
            moved(r.get("against_start")),
            *(f"{r['by_language'].get(lang, float('nan')):.3f}" for lang in languages),
            *(f"{r['by_task'].get(task, float('nan')):.3f}" for task in tasks),
            "" if r["training_rows"] is None else str(r["training_rows"]),
            r.get("trained_from") or "",
            "" if r.get("learning_rate") is None else f"{r['learning_rate']:g}",
            "" if r["total_s"] is None else f"{r['total_s']:.0f}",
            "" if r["peak_memory_gib"] is None else f"{r['peak_memory_gib']:.1f}",
            "" if r["flops_per_s"] is None else f"{r['flops_per_s'] / 1e9:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    judged = [r for r in result["rows"] if r["llm_judge"]]
    if judged:
        lines += [
            "",
            "The LLM judge (position-swapped) on the same answers, beside the verifiers:",
            "",
            "| row | judge | verifiers' win rate | LLM judge's win rate [95% CI] | same outcome "
            "| same position in both orders |",
            "|---|---|---|---|---|---|",
        ]
        for r in judged:
            j = r["llm_judge"]
            same = j["same_position_both_orders"]
            lines.append(
                f"| {r['row']} | {j['judge']} | {r['win_rate']:.3f} | {j['win_rate']:.3f} "
                f"[{j['ci95'][0]:.3f}, {j['ci95'][1]:.3f}] | {j['agreement_with_verifiers']:.3f} "
                f"| {'' if same is None else f'{same:.3f}'} |"
            )
    return "\n".join(lines) + "\n"


def cli(
    doc: str,
    make_table: Callable[[Path], dict[str, Any]],
    make_markdown: Callable[[dict[str, Any]], str],
) -> None:
    """An experiment's table as JSON and markdown (also printed), from its run folder."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="The experiment's folder.")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, required=True)
    args = parser.parse_args()
    result = make_table(args.run)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    args.markdown.write_text(make_markdown(result))
    print(make_markdown(result))


if __name__ == "__main__":
    cli(__doc__, table, markdown)
