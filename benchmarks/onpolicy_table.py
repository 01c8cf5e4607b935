"""Collect the on-policy experiment's reports into one JSON and a Markdown table.

    python benchmarks/onpolicy_table.py runs/onpolicy-experiment \
        --json docs/results/onpolicy.json --markdown docs/results/onpolicy-table.md

Win rates are the reports' own (verifier judge, held-out prompts, against the start model);
check pass rates are recomputed here from the completions stored in those reports. Runs that
have not finished yet are listed under ``not_finished``, so a partial experiment tabulates too.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from pasar.evaluate.prompts import read_prompts, verify


def check_rates(report: dict, prompts: dict[str, dict], key: str) -> dict[str, dict[str, float]]:
    """Per language: the share of completions passing each verifier check, and all of them."""
    counts: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for row in report["rows"]:
        verdict = verify(prompts[row["id"]], row[key])
        for language in (row["language"], "all"):
            for name, ok in verdict.checks.items():
                counts[language][name].append(ok)
            counts[language]["passed"].append(verdict.passed)
    return {
        lang: {name: round(sum(v) / len(v), 3) for name, v in checks.items()}
        for lang, checks in sorted(counts.items())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the experiment directory")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--markdown", type=Path, required=True)
    args = parser.parse_args()
    prompts = {p["id"]: p for p in read_prompts(args.out / "prompts.jsonl", "heldout")}
    options = json.loads((args.out / "onpolicy" / "options.json").read_text())
    runs, missing = {}, []
    for r in range(1, options["rounds"] + 1):
        name = "BNF off-policy (round 1)" if r == 1 else f"BNF on-policy (round {r})"
        summary_path = args.out / "onpolicy" / f"round-{r}" / "report.json"
        if not summary_path.exists():
            missing.append(name)
            continue
        summary = json.loads(summary_path.read_text())
        runs[name] = (summary_path.parent / "eval.json", summary["runtime_s"])
    for method in ("dpo", "kto"):
        name = f"TRL {method.upper()} (round-1 data)"
        if not (args.out / f"{method}-eval.json").exists():
            missing.append(name)
            continue
        train = json.loads((args.out / method / "report.json").read_text())
        runs[name] = (args.out / f"{method}-eval.json", {"train_s": train["runtime_s"]})
    if not runs:
        raise SystemExit(f"{args.out}: no finished run yet (round-1/report.json is written first)")
    results = {}
    start_rates = None
    for name, (path, runtime) in runs.items():
        report = json.loads(path.read_text())
        start_rates = start_rates or check_rates(report, prompts, "baseline_completion")
        results[name] = {
            "win_rate_vs_start": report["overall"],
            "by_language": {k: v["win_rate"] for k, v in report["by_language"].items()},
            "by_task": {k: v["win_rate"] for k, v in report["by_task"].items()},
            "checks": check_rates(report, prompts, "completion"),
            "runtime_s": runtime,
        }
    languages = sorted(next(iter(results.values()))["by_language"])
    output = {
        "setup": {
            "start_model": options["model"],
            "judge": options["judge"],
            "heldout_prompts": len(prompts),
            "options": options,
        },
        "not_finished": missing,
        "start_model_checks": start_rates,
        "results": results,
    }
    args.json.write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n")

    lines = [
        "| model | win rate vs start [95% CI] | W/T/L | verifier pass (all checks) | "
        + " | ".join(languages)
        + " |",
        "|---|---|---|---|" + "---|" * len(languages),
    ]
    assert start_rates is not None
    lines.append(
        f"| start model | 0.500 | - | {start_rates['all']['passed']:.3f} | "
        + " | ".join("-" for _ in languages)
        + " |"
    )
    for name, r in results.items():
        o = r["win_rate_vs_start"]
        lines.append(
            f"| {name} | {o['win_rate']:.3f} [{o['ci95'][0]:.3f}, {o['ci95'][1]:.3f}] | "
            f"{o['wins']}/{o['ties']}/{o['losses']} | {r['checks']['all']['passed']:.3f} | "
            + " | ".join(f"{r['by_language'][lang]:.3f}" for lang in languages)
            + " |"
        )
    lines += ["", "Share of held-out answers whose language the verifier recognised:", ""]
    lines.append("| model | " + " | ".join(languages) + " |")
    lines.append("|---|" + "---|" * len(languages))
    rows = {"start model": start_rates} | {n: r["checks"] for n, r in results.items()}
    for name, checks in rows.items():
        lines.append(
            f"| {name} | "
            + " | ".join(f"{checks[lang]['language']:.2f}" for lang in languages)
            + " |"
        )
    if missing:
        lines += ["", "Not finished yet: " + ", ".join(missing) + "."]
    args.markdown.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
