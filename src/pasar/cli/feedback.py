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


@app.command("simulate")
@run_guarded
def simulate_command(
    server: Annotated[str, typer.Option(help="Base URL of a running `pasar serve`.")],
    model: Annotated[str, typer.Option(help="The served model the users talk to.")],
    prompts: Annotated[Path, typer.Option(help="Prompts JSONL (`pasar eval prompts`).")],
    out: Annotated[Path, typer.Option(help="Report JSON: counts, per language and task, rows.")],
    baseline: Annotated[
        str | None, typer.Option(help="A served model whose better answers become corrections.")
    ] = None,
    split: Annotated[str, typer.Option(help="Prompt rows: train, heldout or all.")] = "train",
    correct_share: Annotated[
        float, typer.Option(help="Share of thumbs-down answers a user tries to correct.")
    ] = 0.5,
    limit: Annotated[
        int | None,
        typer.Option(help="Only N prompts, taken in turn from each task and language."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling seeds and who corrects.")] = 0,
    max_tokens: Annotated[int, typer.Option(help="Longest answer.")] = 128,
    temperature: Annotated[float, typer.Option(help="The student's sampling temperature.")] = 0.7,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the server's API key, if it has keys.")
    ] = "PASAR_API_KEY",
) -> None:
    """Simulated users of a running server: each asks the model one verifiable prompt, gives
    a thumbs up when the verifier passes the answer and a thumbs down when not, and for a share
    of the thumbs down sends the baseline's answer as the correction when the verifier scores
    it higher. All through the server's API, so the server records answers and feedback as it
    does for people; then `pasar feedback export` and `pasar align` learn from them. Each
    user's row goes to OUT.users.jsonl as they finish; a killed run continues from it."""
    import os

    import httpx

    from pasar.evaluate.prompts import balanced, read_prompts
    from pasar.evaluate.users import simulate_users

    rows = balanced(read_prompts(prompts, split), limit)
    key = os.environ.get(api_key_env)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    base = server.rstrip("/").removesuffix("/v1")  # an OpenAI base URL names /v1 too
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            report = simulate_users(
                client,
                rows,
                model=model,
                baseline=baseline,
                correct_share=correct_share,
                seed=seed,
                max_tokens=max_tokens,
                temperature=temperature,
                progress=out.with_suffix(".users.jsonl"),
            )
    except httpx.HTTPError as exc:
        raise ValueError(
            f"cannot reach pasar serve at {base} ({exc}); start it (`pasar serve`) or give --server"
        ) from exc
    except RuntimeError as exc:  # the server refused a request: its answer says why
        raise ValueError(str(exc)) from exc
    report["prompts_file"] = {"file": str(prompts), "split": split}
    console.print(
        f"{report['prompts']} users: {report['up']} up, {report['down']} down, "
        f"{report['corrections']} corrections; mean verifier score {report['mean_score']:.3f}"
    )
    write_report(out, report)
