"""``pasar keys``: API keys for ``pasar serve`` (stored hashed; shown once)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pasar.cli.output import console, run_guarded
from pasar.store.db import open_configured_store
from pasar.store.keys import create_key, list_keys, revoke_key

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@app.command("create")
@run_guarded
def create_command(
    name: Annotated[
        str, typer.Argument(help="A name to tell the key apart, e.g. the team or app.")
    ],
    scope: Annotated[
        str,
        typer.Option(
            help="user: chat and feedback on its own conversations; backend: also names the "
            "signed-in customer of a Taskbot chat (X-Pasar-Customer), for the marketplace's "
            "server, never a browser; disputes: also the disputes endpoints (customer data); "
            "admin: everything, stats and export included."
        ),
    ] = "user",
    rate_limit: Annotated[int, typer.Option(help="Requests per minute allowed to this key.")] = 600,
) -> None:
    """Create a key and print it (once: only its hash is stored). From now on the server
    requires a key on every request."""
    key, info = create_key(
        open_configured_store(),
        name=name,
        scope=scope,
        rate_limit_per_minute=rate_limit,
    )
    console.print(key, highlight=False)
    console.print(
        f"[dim]{info.name} ({info.scope}, {info.rate_limit_per_minute}/min): "
        "keep it; it is not shown again[/]"
    )


@app.command("list")
@run_guarded
def list_command() -> None:
    """Every key: name, prefix, scope, rate limit, revoked or not."""
    table = Table("name", "prefix", "scope", "per minute", "revoked")
    for info in list_keys(open_configured_store()):
        table.add_row(
            info.name,
            info.prefix + "…",
            info.scope,
            str(info.rate_limit_per_minute),
            "yes" if info.revoked else "",
        )
    console.print(table)


@app.command("revoke")
@run_guarded
def revoke_command(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    revoke_key(open_configured_store(), name=name)
    console.print(f"revoked {name}")
