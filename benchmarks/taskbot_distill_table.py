"""The table of benchmarks/taskbot_distill.sh: the trained students beside the flows, the
untrained student and the teacher (their committed reports in docs/results/), on the held-out
scenarios and the paraphrases. Works on a partial run (rows not finished are left out).

    python benchmarks/taskbot_distill_table.py runs/taskbot-distill --json t.json --markdown t.md
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loop_table import cli, read  # benchmarks/ is on the path when run as a script

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
REFERENCES = [  # (row, report prefix in docs/results)
    ("flows (hand-built)", "taskbot-flows"),
    ("0.5B, untrained (template protocol)", "taskbot-0.5b-template"),
    ("0.5B, untrained (JSON protocol)", "taskbot-0.5b-json"),
    ("1.5B teacher (JSON protocol, decoding held)", "taskbot-1.5b-json-callable3"),
]
TRAINED = [("0.5B + SFT", "sft"), ("0.5B + SFT + BNF", "sft-bnf")]
SPLITS = {"heldout": "held-out (6)", "paraphrases": "paraphrases (6)"}
COLUMNS = [
    "completion_rate",
    "signed_in_rate",
    "state_match_rate",
    "mean_turns",
    "tool_calls",
    "tool_errors",
    "policy_refusals",
    "seconds_per_episode",
]


def table(run: Path) -> dict[str, Any]:
    sources = [(name, lambda s, p=prefix: RESULTS / f"{p}-{s}.json") for name, prefix in REFERENCES]
    sources += [(name, lambda s, d=folder: run / d / f"{s}.json") for name, folder in TRAINED]
    rows = []
    for name, path_of in sources:
        for split in SPLITS:
            report = read(path_of(split))
            if report is not None:
                row = {"row": name, "split": split, "model": report.get("model")}
                rows.append(row | {k: report.get(k) for k in COLUMNS})
    trained = {folder: read(run / folder / "report.json") for _, folder in TRAINED}
    return {
        "run": str(run),
        "rows": rows,
        "training": {
            folder: {k: r[k] for k in ("rows_trained", "steps", "total_s", "peak_memory_gib")}
            for folder, r in trained.items()
            if r
        },
        "teacher_labels": {
            path.stem: json.loads(path.read_text()) for path in sorted(run.glob("labels-*.json"))
        },
    }


def markdown(result: dict[str, Any]) -> str:
    head = ["agent", "scenarios", "completion", "signed in", "state match", "mean turns"]
    head += ["tool calls", "tool errors", "refusals", "s/episode"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        cells = [r["row"], SPLITS[r["split"]]]
        cells += [f"{r[k]:.3f}" for k in ("completion_rate", "signed_in_rate", "state_match_rate")]
        cells += [f"{r['mean_turns']:.1f}"]
        cells += [str(r[k]) for k in ("tool_calls", "tool_errors", "policy_refusals")]
        seconds = r["seconds_per_episode"]
        cells += ["" if seconds is None else f"{seconds:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    cli(__doc__, table, markdown)
