"""``pasar eval``: evaluation prompts from the retail database, and win rates between models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pasar.cli.output import console, err_console, run_guarded
from pasar.config import data_path

app = typer.Typer(
    help="Evaluate: write verifiable prompts, compare a model with a baseline (win rate).",
    no_args_is_help=True,
)


@app.command("prompts")
@run_guarded
def prompts(
    out: Annotated[Path, typer.Option(help="JSONL file to write (train and held-out rows).")],
    per_language: Annotated[int, typer.Option(help="Prompts per task and language.")] = 20,
    seed: Annotated[int, typer.Option(help="Same seed, same prompts.")] = 0,
    task: Annotated[
        list[str] | None,
        typer.Option(
            help="title, order, product (stock and price) or translation (NTREX, chrF); "
            "repeatable (default: title and order)."
        ),
    ] = None,
    language: Annotated[
        list[str] | None, typer.Option(help="en, id, ms, th, vi, tl (default: all six).")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(help="Retail database JSON. Default: $PASAR_DATA_DIR/retail/db.json."),
    ] = None,
) -> None:
    """Write verifiable prompts (listing titles, order answers, product questions,
    translations), split by product, customer and sentence into train and held-out, with the
    facts the verifier checks."""
    from pasar.data.files import write_jsonl
    from pasar.evaluate.prompts import DEFAULT_TASKS, TASKS, make_prompts
    from pasar.languages import LANGUAGES

    db = db or data_path("retail", "db.json")
    if not db.exists():
        raise ValueError(f"{db} does not exist; pass --db PATH to the retail db.json")
    if per_language < 1:
        raise ValueError("--per-language must be at least 1")
    unknown = sorted(set(task or ()) - set(TASKS))
    if unknown:
        raise ValueError(f"--task {', '.join(unknown)}: tasks are {', '.join(TASKS)}")
    rows = make_prompts(
        json.loads(db.read_text()),
        per_language=per_language,
        seed=seed,
        tasks=task or DEFAULT_TASKS,
        languages=language or tuple(LANGUAGES),
        ntrex=data_path("ntrex"),
    )
    write_jsonl(rows, out)
    held = sum(r["split"] == "heldout" for r in rows)
    console.print(f"{len(rows)} prompts ({len(rows) - held} train, {held} held-out) -> {out}")


@app.command("winrate")
@run_guarded
def winrate(
    model: Annotated[str, typer.Option(help="The model to evaluate (name, HF dir, GGUF, URL).")],
    baseline: Annotated[str, typer.Option(help="The model to compare against.")],
    prompts: Annotated[Path, typer.Option(help="Prompts JSONL (`pasar eval prompts`).")],
    judge: Annotated[
        str, typer.Option(help="verifier, reward:DIR (`pasar align reward`) or llm:MODEL.")
    ] = "verifier",
    out: Annotated[Path, typer.Option(help="Report JSON; the chart goes beside it (.png).")] = Path(
        "winrate.json"
    ),
    split: Annotated[str, typer.Option(help="train, heldout or all rows of the file.")] = "heldout",
    max_tokens: Annotated[int, typer.Option(help="Longest completion, in tokens.")] = 128,
    temperature: Annotated[float, typer.Option(help="0 = greedy (reproducible).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Sampling seed (when temperature > 0).")] = 0,
    batch_size: Annotated[int, typer.Option(help="Prompts generated at once.")] = 16,
    engine: Annotated[
        str | None, typer.Option(help="Run both models on this engine (llamacpp, hf, http).")
    ] = None,
    baseline_from: Annotated[
        Path | None,
        typer.Option(
            help="An earlier winrate report on the same prompts, baseline and settings: reuse "
            "its baseline answers instead of generating them again."
        ),
    ] = None,
) -> None:
    """Win rate of MODEL against BASELINE: wins, ties (count half), losses, a 95% bootstrap
    interval, per language and per task, every verdict in the report, and a PNG chart."""
    from pasar.evaluate.compare import (
        Generation,
        compare_models,
        reused_baseline,
        write_winrate_report,
    )
    from pasar.evaluate.judges import load_judge
    from pasar.evaluate.prompts import read_prompts

    rows = read_prompts(prompts, split)
    settings = Generation(
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        batch_size=batch_size,
        engine=engine,
    )
    answers = None
    if baseline_from is not None:
        if not baseline_from.exists():
            raise ValueError(f"--baseline-from {baseline_from}: no such report")
        earlier = json.loads(baseline_from.read_text())
        answers = reused_baseline(earlier, baseline, rows, settings)
    report = compare_models(
        model, baseline, rows, load_judge(judge), settings, baseline_completions=answers
    )
    report["prompts"] = {"file": str(prompts), "split": split}
    chart = write_winrate_report(report, out)
    o = report["overall"]
    console.print(
        f"{model} vs {baseline}: win rate {o['win_rate']:.3f} (95% CI {o['ci95'][0]:.3f}–"
        f"{o['ci95'][1]:.3f}); {o['wins']} wins, {o['ties']} ties, {o['losses']} losses on "
        f"{o['n']} prompts"
    )
    for name, group in report["by_language"].items():
        console.print(f"  {name:8} {group['win_rate']:.3f}  (n={group['n']})")
    warn_position_bias(report)
    console.print(f"report: {out}  chart: {chart}")


def warn_position_bias(report: dict[str, Any]) -> None:
    from pasar.evaluate.judges import position_bias_warning

    warning = position_bias_warning(report)
    if warning:
        err_console.print(warning)


@app.command("rejudge")
@run_guarded
def rejudge_command(
    report: Annotated[Path, typer.Option(help="A `pasar eval winrate` report.")],
    prompts: Annotated[Path, typer.Option(help="The prompts file that report was made on.")],
    judge: Annotated[str, typer.Option(help="The second judge: verifier, reward:DIR, llm:MODEL.")],
    out: Annotated[Path, typer.Option(help="Report JSON; the chart goes beside it (.png).")],
) -> None:
    """Judge a winrate report's answers again with another judge (nothing is generated) and
    say how often the two agree: e.g. an LLM judge beside the verifiers."""
    from pasar.evaluate.compare import rejudge, write_winrate_report
    from pasar.evaluate.judges import load_judge
    from pasar.evaluate.prompts import read_prompts

    if not report.exists():
        raise ValueError(f"--report {report}: no such file; write one with `pasar eval winrate`")
    earlier = json.loads(report.read_text())
    again = rejudge(earlier, read_prompts(prompts), load_judge(judge))
    again["prompts"] = earlier.get("prompts")
    again["rejudged"] = str(report)
    write_winrate_report(again, out)
    first, second, agreed = earlier["overall"], again["overall"], again["agreement"]
    console.print(
        f"{again['model']} vs {again['baseline']}: win rate {first['win_rate']:.3f} by "
        f"{again['first_judge']}, {second['win_rate']:.3f} (95% CI {second['ci95'][0]:.3f}–"
        f"{second['ci95'][1]:.3f}) by {again['judge']}; same outcome on {agreed['rate']:.3f} of "
        f"{agreed['n']} prompts"
    )
    warn_position_bias(again)
    console.print(f"report: {out}")


@app.command("regressions")
@run_guarded
def regressions_command(
    report: Annotated[Path, typer.Option(help="The version's `pasar eval winrate` report.")],
    start: Annotated[
        Path,
        typer.Option(
            help="The start's report: same prompts, baseline and judge (--baseline-from)."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Also write the comparison as JSON here.")
    ] = None,
) -> None:
    """Where a version fell or rose against its start, language by language and task by task,
    paired prompt by prompt (95% bootstrap interval of the change). Exit code 1 when any
    language, task or the whole fell: a check to run before serving a new version."""
    from rich.table import Table

    from pasar.cli.output import write_report
    from pasar.evaluate.compare import named_groups, regressions

    reports = []
    for flag, path in (("--report", report), ("--start", start)):
        if not path.exists():
            raise ValueError(f"{flag} {path}: no such file; write one with `pasar eval winrate`")
        reports.append(json.loads(path.read_text()))
    result = regressions(reports[1], reports[0])
    write_report(out, result)
    table = Table(title=f"{result['model']} against {result['start']}")
    for column in ("", "n", "start", "now", "change [95% CI]", ""):
        table.add_column(column)
    for name, c in named_groups(result):
        low, high = c["ci95"]
        table.add_row(
            name,
            str(c["n"]),
            f"{c['start']:.3f}",
            f"{c['now']:.3f}",
            f"{c['change']:+.3f} [{low:+.3f}, {high:+.3f}]",
            {"fell": "[red]fell[/]", "rose": "[green]rose[/]"}.get(c["verdict"], ""),
        )
    console.print(table)
    if result["baseline_answers_differ"]:
        err_console.print(
            f"warning: the baseline answered {result['baseline_answers_differ']} prompts "
            "differently in the two reports, so those outcomes are not paired on the same "
            "answer; make the version's report with --baseline-from the start's."
        )
    if result["fell"]:
        err_console.print(
            f"{result['model']} fell below {result['start']} in: {', '.join(result['fell'])}. "
            "Look at its answers there (the report's rows) before serving it."
        )
        raise typer.Exit(1)


@app.command("translation")
@run_guarded
def translation(
    model: Annotated[str, typer.Option(help="Model to evaluate (name, HF dir, GGUF, URL).")],
    pairs: Annotated[str, typer.Option(help="Language pairs, e.g. en-id,en-ms,en-th.")],
    out: Annotated[Path, typer.Option(help="Report JSON to write.")],
    limit: Annotated[int, typer.Option(help="First N NTREX sentences per pair (0 = all).")] = 50,
    ntrex: Annotated[
        Path | None, typer.Option(help="NTREX folder. Default: $PASAR_DATA_DIR/ntrex.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Sentences generated at once.")] = 8,
    max_tokens: Annotated[int, typer.Option(help="Longest translation, in tokens.")] = 160,
    outputs: Annotated[
        Path | None,
        typer.Option(help="Also write the outputs as a JSONL catalog for `pasar listing check`."),
    ] = None,
) -> None:
    """chrF and BLEU (sacrebleu) per language pair on NTREX-128, greedy decoding, with the
    share of outputs in the target language and the copy-the-source floor."""
    from pasar.cli.output import write_report
    from pasar.data.files import write_jsonl
    from pasar.evaluate.translation import as_catalog, parse_pairs, translation_report
    from pasar.models.registry import load_engine

    chosen = parse_pairs(pairs)
    report = translation_report(
        load_engine(model),
        chosen,
        ntrex=ntrex or data_path("ntrex"),
        limit=limit or None,
        batch_size=batch_size,
        max_tokens=max_tokens,
    )
    write_report(out, report)
    if outputs is not None:
        if any(source != "en" for source, _ in chosen):
            raise ValueError("--outputs needs English-source pairs (en-id, en-th, ...)")
        write_jsonl(as_catalog(report), outputs)
    for row in report["pairs"]:
        floor = row["copy_source"]["chrf"]
        console.print(
            f"  {row['pair']}: chrF {row['chrf']:.1f}  BLEU {row['bleu']:.1f}  in target language "
            f"{row['target_language_rate']:.0%}  (copy source: chrF {floor:.1f})"
        )


@app.command("scorecard")
@run_guarded
def scorecard(
    model: Annotated[str, typer.Option(help="The model to measure (name, GGUF, HF dir, URL).")],
    out: Annotated[
        Path, typer.Option(help="Report JSON; finished sections go to OUT.parts/ (resume).")
    ],
    limit: Annotated[int, typer.Option(help="NTREX sentences per language pair.")] = 100,
    section: Annotated[
        list[str] | None,
        typer.Option(help="Only these: speed, translation, verifiers, structured, taskbot."),
    ] = None,
    prompts_per_language: Annotated[
        int, typer.Option(help="Title and order prompts made per language (held-out ones run).")
    ] = 10,
    max_turns: Annotated[int, typer.Option(help="Taskbot: user turns before a cut.")] = 10,
    n_ctx: Annotated[int, typer.Option(help="Context window, in tokens.")] = 8192,
    scenarios: Annotated[Path, typer.Option(help="Taskbot scenarios file.")] = Path(
        "examples/taskbot/scenarios.json"
    ),
    data_dir: Annotated[
        Path | None, typer.Option(help="The shared data folder. Default: $PASAR_DATA_DIR.")
    ] = None,
) -> None:
    """Measure one model on everything pasar claims, with the same prompts for every model:
    speed and memory on llama.cpp, translation chrF en->id/ms/th/vi/tl (NTREX lines 1000+),
    the listing-title and order-answer verifiers (held-out), JSON and tool-call validity, and
    Taskbot completion (held-out scenarios). A killed run resumes from OUT.parts/."""
    from pasar.evaluate.scorecard import SECTIONS, ScorecardConfig, run_scorecard
    from pasar.models.registry import load_engine

    data_dir = data_dir or data_path()
    for path in (data_dir / "ntrex", data_dir / "retail" / "db.json", scenarios):
        if not path.exists():
            raise ValueError(f"{path} does not exist; pass --data-dir / --scenarios")
    config = ScorecardConfig(
        model=model,
        data_dir=data_dir,
        scenarios=scenarios,
        limit=limit,
        prompts_per_language=prompts_per_language,
        taskbot_max_turns=max_turns,
        sections=tuple(section or SECTIONS),
    )
    report = run_scorecard(config, out, lambda name: load_engine(name, n_ctx=n_ctx))
    console.print_json(json.dumps(report["summary"]))
    console.print(f"report: {out}")
