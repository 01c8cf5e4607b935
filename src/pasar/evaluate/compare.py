"""Model against baseline on a prompts file: generate, judge, report (JSON + PNG chart).

    report = compare_models("out/bnf", "smollm2-135m-instruct", prompts, load_judge("verifier"),
                            Generation(max_tokens=96))

The report holds wins/ties/losses, the win rate (ties count half) with a 95% bootstrap interval,
per-language and per-task breakdowns, every prompt's two completions and verdict, and the
generation settings, so that any number in it can be traced and rerun.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pasar.data.files import write_json
from pasar.evaluate.judges import Judge, position_bias
from pasar.evaluate.winrate import paired_change, win_rate, win_rates_by
from pasar.models.engine import Engine


@dataclass(frozen=True)
class Generation:
    """How completions are sampled (greedy by default, so a comparison is reproducible)."""

    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    batch_size: int = 16
    engine: str | None = None  # None: each model's default engine


def generate(
    engine: Engine, prompts: Sequence[dict[str, Any]], settings: Generation, *, desc: str = ""
) -> list[str]:
    """One completion per prompt, ``batch_size`` prompts at a time, with a progress bar."""
    texts: list[str] = []
    with tqdm(total=len(prompts), desc=desc or engine.name, unit="prompt") as bar:
        for start in range(0, len(prompts), settings.batch_size):
            chunk = prompts[start : start + settings.batch_size]
            results = engine.batch(
                [p["messages"] for p in chunk],
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                top_p=settings.top_p,
                seed=settings.seed + start,
            )
            texts.extend(r.text for r in results)
            bar.update(len(chunk))
    return texts


def completions_of(
    model: str, prompts: Sequence[dict[str, Any]], settings: Generation
) -> list[str]:
    from pasar.models.registry import load_engine

    with load_engine(model, engine=settings.engine) as engine:
        return generate(engine, prompts, settings, desc=model)


def judge_report(
    prompts: Sequence[dict[str, Any]],
    completions: Sequence[str],
    baseline_completions: Sequence[str],
    judge: Judge,
    **meta: Any,
) -> dict[str, Any]:
    """Judge model against baseline on every prompt; the report as a dict."""
    verdicts = judge.compare(prompts, completions, baseline_completions)
    rows = [
        {
            "id": p["id"],
            "task": p.get("task", "chat"),
            "language": p.get("language", "unknown"),
            "outcome": outcome,
            "completion": c,
            "baseline_completion": b,
            **detail,
        }
        for p, c, b, (outcome, detail) in zip(
            prompts, completions, baseline_completions, verdicts, strict=True
        )
    ]
    bias = position_bias(rows)
    return {
        **meta,
        "judge": judge.name,
        **({"position_bias": bias} if bias else {}),
        "overall": win_rate([r["outcome"] for r in rows]).to_dict(),
        "by_language": {k: v.to_dict() for k, v in win_rates_by(rows, "language").items()},
        "by_task": {k: v.to_dict() for k, v in win_rates_by(rows, "task").items()},
        "rows": rows,
    }


def compare_models(
    model: str,
    baseline: str,
    prompts: Sequence[dict[str, Any]],
    judge: Judge,
    settings: Generation,
    *,
    baseline_completions: Sequence[str] | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    if baseline_completions is None:
        baseline_completions = completions_of(baseline, prompts, settings)
    completions = completions_of(model, prompts, settings)
    return judge_report(
        prompts,
        completions,
        baseline_completions,
        judge,
        model=model,
        baseline=baseline,
        generation=asdict(settings),
        runtime_s=round(time.perf_counter() - started, 1),
    )


def reused_baseline(
    report: dict[str, Any], baseline: str, prompts: Sequence[dict[str, Any]], settings: Generation
) -> list[str]:
    """The baseline's completions from an earlier report on the same prompts, so that every
    model of an experiment meets the same baseline answers and the baseline is generated once.
    Refused, naming what differs, when the baseline, the settings or a prompt do not match."""
    if report.get("baseline") != baseline:
        raise ValueError(
            f"the earlier report's baseline is {report.get('baseline')!r}, not {baseline!r}"
        )
    earlier = {k: v for k, v in (report.get("generation") or {}).items() if k != "batch_size"}
    now = {k: v for k, v in asdict(settings).items() if k != "batch_size"}
    if earlier != now:
        raise ValueError(f"the earlier report generated with {earlier}, this run with {now}")
    answers = {row["id"]: row["baseline_completion"] for row in report.get("rows", [])}
    missing = [p["id"] for p in prompts if p["id"] not in answers]
    if missing:
        raise ValueError(
            f"the earlier report has no baseline answer for {len(missing)} of these prompts "
            f"(first: {missing[0]!r}): use a report on the same prompts file and split"
        )
    return [answers[p["id"]] for p in prompts]


def agreement(first: Sequence[dict[str, Any]], second: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How often two judges gave the same outcome (win 1, tie 0.5, loss 0) on the same rows,
    and a count per pair of outcomes ("first->second")."""
    pairs = [(a["outcome"], b["outcome"]) for a, b in zip(first, second, strict=True)]
    confusion: dict[str, int] = {}
    for a, b in pairs:
        confusion[f"{a}->{b}"] = confusion.get(f"{a}->{b}", 0) + 1
    same = sum(a == b for a, b in pairs)
    return {"rate": round(same / len(pairs), 4) if pairs else None, "n": len(pairs)} | {
        "confusion": dict(sorted(confusion.items()))
    }


def rejudge(
    report: dict[str, Any], prompts: Sequence[dict[str, Any]], judge: Judge
) -> dict[str, Any]:
    """An earlier winrate report's answers judged again by ``judge`` (nothing is generated),
    with the two judges' agreement."""
    by_id = {p["id"]: p for p in prompts}
    rows = report.get("rows") or []
    missing = [r["id"] for r in rows if r["id"] not in by_id]
    if not rows or missing:
        raise ValueError(
            f"the report's prompts are not in this prompts file ({len(missing)} of {len(rows)} "
            f"missing{f', first: {missing[0]!r}' if missing else ''}): give the file it was made on"
        )
    again = judge_report(
        [by_id[r["id"]] for r in rows],
        [r["completion"] for r in rows],
        [r["baseline_completion"] for r in rows],
        judge,
        model=report.get("model"),
        baseline=report.get("baseline"),
        generation=report.get("generation"),
    )
    return again | {"first_judge": report.get("judge"), "agreement": agreement(rows, again["rows"])}


def regressions(start: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    """Where a version's win rate moved from the start's, paired prompt by prompt: overall, per
    language and per task, each with a 95% bootstrap interval of the change; ``fell`` and
    ``rose`` name the groups whose interval excludes no change. Both reports must judge the
    same prompts against the same baseline with the same judge (``--baseline-from`` keeps the
    baseline's answers identical)."""
    for key in ("baseline", "judge"):
        if start.get(key) != report.get(key):
            raise ValueError(
                f"the two reports differ in {key} ({start.get(key)!r} and {report.get(key)!r}): "
                "compare reports made against the same baseline with the same judge"
            )
    at_start = {r["id"]: r for r in start.get("rows") or []}
    rows = report.get("rows") or []
    if not rows:
        raise ValueError("the report has no rows: give a `pasar eval winrate` report")
    missing = [r["id"] for r in rows if r["id"] not in at_start]
    if missing:
        raise ValueError(
            f"the start report lacks {len(missing)} of the {len(rows)} prompts of the report"
            f" (first: {missing[0]!r}): compare reports on the same "
            "prompts file and split"
        )

    def change(selected: Sequence[dict[str, Any]]) -> dict[str, object]:
        before = [at_start[r["id"]]["outcome"] for r in selected]
        return paired_change(before, [r["outcome"] for r in selected]).to_dict()

    def by(key: str) -> dict[str, dict[str, object]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault(str(r[key]), []).append(r)
        return {name: change(group) for name, group in sorted(groups.items())}

    result: dict[str, Any] = {
        "model": report.get("model"),
        "start": start.get("model"),
        "baseline": report.get("baseline"),
        "judge": report.get("judge"),
        "baseline_answers_differ": sum(
            r.get("baseline_completion") != at_start[r["id"]].get("baseline_completion")
            for r in rows
        ),
        "overall": change(rows),
        "by_language": by("language"),
        "by_task": by("task"),
    }
    for verdict in ("fell", "rose"):
        result[verdict] = [name for name, c in named_groups(result) if c["verdict"] == verdict]
    return result


def named_groups(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A report's groups by name, the whole first: ("overall", …), ("language en", …), …"""
    return [("overall", result["overall"])] + [
        (f"{kind} {name}", c)
        for kind in ("language", "task")
        for name, c in result[f"by_{kind}"].items()
    ]


def write_winrate_report(report: dict[str, Any], out: Path) -> Path:
    """``out`` (JSON) and its chart beside it (same name, .png); returns the chart's path."""
    write_json(report, out)
    return plot_winrate(report, out.with_suffix(".png"))


def plot_winrate(report: dict[str, Any], path: Path) -> Path:
    """Stacked wins/ties/losses per language and per task, win rate with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("all", report["overall"])]
    groups += [(f"lang {k}", v) for k, v in report["by_language"].items()]
    groups += [(f"task {k}", v) for k, v in report["by_task"].items()]
    names = [g for g, _ in groups]
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(groups) + 2), 4.5))
    bottom = [0.0] * len(groups)
    for part, color in (("wins", "#2e7d32"), ("ties", "#bdbdbd"), ("losses", "#c62828")):
        shares = [g[part] / g["n"] for _, g in groups]
        ax.bar(names, shares, bottom=bottom, color=color, label=part)
        bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
    rates = [g["win_rate"] for _, g in groups]
    low = [g["win_rate"] - g["ci95"][0] for _, g in groups]
    high = [g["ci95"][1] - g["win_rate"] for _, g in groups]
    ax.errorbar(names, rates, yerr=[low, high], fmt="o", color="black", label="win rate (95% CI)")
    ax.axhline(0.5, color="black", linewidth=0.6, linestyle="--")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of prompts")
    title = f"{report['model']} vs {report['baseline']} (judge: {report['judge']})"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
