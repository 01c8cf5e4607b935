"""The ``pasar`` command. Run ``pasar --help`` for the list of commands."""

from __future__ import annotations

import typer

from pasar.cli import (
    align,
    chat,
    disputes,
    doctor,
    eval,
    feedback,
    keys,
    listing,
    models,
    pretrain,
    serve,
    store,
    taskbot,
    vision,
)
from pasar.cli.output import run_guarded

app = typer.Typer(
    name="pasar",
    help="pasar: multilingual e-commerce AI for Southeast Asia. Serve models and apps, record "
    "feedback, learn from it. Settings: environment variables PASAR_* (see `pasar doctor`).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(models.app, name="models")
app.add_typer(keys.app, name="keys")
app.add_typer(feedback.app, name="feedback")
app.add_typer(store.app, name="store")
app.add_typer(align.app, name="align")
app.add_typer(eval.app, name="eval")
app.add_typer(listing.app, name="listing")
app.add_typer(taskbot.app, name="taskbot")
app.add_typer(disputes.app, name="disputes")
app.add_typer(pretrain.app, name="pretrain")
app.add_typer(vision.app, name="vision")
app.command(name="serve")(run_guarded(serve.serve))
app.command(name="chat")(run_guarded(chat.chat))
app.command(name="doctor")(run_guarded(doctor.doctor))


if __name__ == "__main__":
    app()
