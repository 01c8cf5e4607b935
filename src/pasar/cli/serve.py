"""``pasar serve``: the API, the feedback store and the web UI in one process."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from pasar.cli.output import console, err_console
from pasar.config import get_settings
from pasar.serve.app import create_app
from pasar.store.keys import any_key_made

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on. Default: $PASAR_HOST or 127.0.0.1.")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port. Default: $PASAR_PORT or 8000.")] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Default model of the web UI. Default: $PASAR_MODEL."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(help="Store URL (SQLite or PostgreSQL). Default: $PASAR_STORE_URL."),
    ] = None,
    insecure_open: Annotated[
        bool,
        typer.Option(
            "--insecure-open",
            help="Serve beyond loopback with no API keys: anyone who reaches the port reads "
            "every conversation and exports the training data. Without it, a non-loopback "
            "--host needs a key first (`pasar keys create NAME`).",
        ),
    ] = False,
    taskbot_demo_sign_in: Annotated[
        bool,
        typer.Option(
            "--taskbot-demo-sign-in",
            help="Let Taskbot users sign in by chat (email, or name and zip) although keys "
            "exist: a demo. Without it, a backend key names the customer (X-Pasar-Customer). "
            "Default: $PASAR_TASKBOT_DEMO_SIGN_IN or off.",
        ),
    ] = False,
) -> None:
    """Serve models over an OpenAI-compatible API, record every exchange and its feedback,
    and show the chat, disputes and admin web pages. The customer-service agents are served
    too, as the models `taskbot` and `taskbot-flows`, on the store's commerce data (load it
    with `pasar store import ../shared/data/retail/db.json`).

    Clients: any OpenAI SDK with base_url http://HOST:PORT/v1. Feedback: POST /v1/feedback
    with the completion's id. Keys: once `pasar keys create` has made one, every request needs one.
    """
    overrides = {
        k: v
        for k, v in {"host": host, "port": port, "model": model, "store_url": store}.items()
        if v is not None
    }
    if taskbot_demo_sign_in:
        overrides["taskbot_demo_sign_in"] = True
    settings = get_settings().model_copy(update=overrides)
    app = create_app(settings)
    if settings.host not in LOOPBACK and not any_key_made(app.state.pasar.store):
        if not insecure_open:
            err_console.print(
                f"[bold red]error:[/] refusing to serve on {settings.host} with no API keys: "
                "anyone who reaches it could read every conversation. Create a key first "
                "(`pasar keys create NAME`), serve on 127.0.0.1, or pass --insecure-open"
            )
            raise typer.Exit(2)
        err_console.print(
            f"[bold yellow]warning:[/] serving on {settings.host} with no API keys "
            "(--insecure-open): every route is public"
        )
    url = f"http://{settings.host}:{settings.port}"
    console.print(
        f"pasar serving [bold]{settings.model}[/] (and every model in `pasar models list`, "
        "taskbot and taskbot-flows)"
    )
    console.print(
        f"  chat UI   {url}/\n  disputes  {url}/disputes\n  admin     {url}/admin\n"
        f"  API       {url}/v1  (OpenAI-compatible)"
    )
    console.print(f"  store     {settings.store_url_resolved.split('@')[-1]}")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
