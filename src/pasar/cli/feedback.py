"""``pasar feedback``: turn recorded feedback into training data."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pasar.cli.output import console, err_console, run_guarded, write_report
from pasar.data.feedback import FORMATS, feedback_rows
from pasar.data.files import write_jsonl
from pasar.data.redact import redact_rows
from pasar.store.db import open_configured_store
from pasar.store.interactions import add_feedback, feedback_examples

app = typer.Typer(
    help="Give feedback on answers; export it as training data.", no_args_is_help=True
)


@app.command("export")
@run_guarded
def export_command(
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"One of {', '.join(FORMATS)}: sft = messages; "
            "bnf/kto = prompt/completion/label; dpo = prompt/chosen/rejected.",
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="JSONL file to write (loads into `pasar align` and TRL).")
    ],
    since: Annotated[
        datetime | None, typer.Option(help="Only feedback given on or after this date.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Only answers of this model.")] = None,
    model_version: Annotated[
        str | None,
        typer.Option(
            help="Only answers of this version of the weights (`pasar models list` shows "
            "versions; every stored answer keeps its own)."
        ),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Also write counts as JSON here.")] = None,
    redact: Annotated[
        bool,
        typer.Option(
            "--redact/--no-redact",
            help="Replace emails, phone numbers, street addresses, card numbers and order/user "
            "ids with {{EMAIL}}, {{PHONE}}, … (default). --no-redact writes the raw text.",
        ),
    ] = True,
) -> None:
    """Write the store's feedback as a dataset: thumbs up = desirable, thumbs down = undesirable,
    a correction = a (correction, answer) pair and an SFT example of the correction.

    Personal data is redacted by default (`pasar.data.redact`). Whoever runs the CLI owns the
    store, so `--no-redact` is allowed here, with a warning that the file holds personal data."""
    if format not in FORMATS:
        raise ValueError(f"--format {format!r} is not one of {', '.join(FORMATS)}")
    examples = feedback_examples(
        open_configured_store(), since=since, model=model, model_version=model_version
    )
    rows = feedback_rows(examples, format)
    if redact:
        rows = redact_rows(rows)
    else:
        err_console.print(
            f"[bold yellow]warning:[/] --no-redact: {escape(str(out))} holds personal data "
            "(emails, phone numbers, addresses, card numbers, order and user ids) as customers "
            "wrote it; "
            "do not share it or train a model others can query on it",
            highlight=False,
        )
    n = write_jsonl(rows, out)
    console.print(
        f"wrote {n} {format} rows from {len(examples)} answers with feedback to {out}"
        + ("" if redact else " (not redacted)")
    )
    write_report(
        report,
        {
            "format": format,
            "rows": n,
            "answers_with_feedback": len(examples),
            "out": str(out),
            "redacted": redact,
        },
    )


@app.command("give")
@run_guarded
def give_command(
    message_id: Annotated[str, typer.Argument(help="The answer's id (`pasar chat` prints it).")],
    up: Annotated[bool, typer.Option("--up", help="Thumbs up.")] = False,
    down: Annotated[bool, typer.Option("--down", help="Thumbs down.")] = False,
    correction: Annotated[str | None, typer.Option(help="The answer you wanted.")] = None,
    comment: Annotated[str | None, typer.Option(help="A note.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeatable).")] = None,
) -> None:
    """Give feedback on a recorded answer, as the web UI and POST /v1/feedback do."""
    if up and down:
        raise ValueError("give --up or --down, not both")
    rating = "up" if up else "down" if down else None
    if rating is None and not correction and not comment:
        raise ValueError("give --up, --down, --correction or --comment")
    feedback_id = add_feedback(
        open_configured_store(),
        message_id=message_id,
        rating=rating,
        correction=correction,
        comment=comment,
        tags=tag or [],
    )
    console.print(f"feedback {feedback_id} saved on {message_id}")
