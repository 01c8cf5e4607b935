"""``pasar store``: the store's commerce data (import/export the retail database) and its state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pasar.cli.output import console, run_guarded, write_report
from pasar.config import get_settings
from pasar.store.commerce import commerce_counts, export_retail, import_retail, load_retail_json
from pasar.store.db import open_configured_store

app = typer.Typer(help="Commerce data in the store: import, export, counts.", no_args_is_help=True)


@app.command("import")
@run_guarded
def import_command(
    path: Annotated[
        Path, typer.Argument(help="A retail database JSON, e.g. ../shared/data/retail/db.json.")
    ],
    replace: Annotated[
        bool, typer.Option(help="Delete the commerce data already in the store first.")
    ] = False,
) -> None:
    """Import users, products, variants and orders (tau2-bench retail format) in one transaction."""
    counts = import_retail(open_configured_store(), load_retail_json(path), replace=replace)
    console.print("imported: " + ", ".join(f"{n} {table}" for table, n in counts.items()))


@app.command("export")
@run_guarded
def export_command(
    out: Annotated[Path, typer.Option(help="Where to write the retail database JSON.")],
) -> None:
    """Write the commerce data back out in the retail format (import → export is lossless)."""
    data = export_retail(open_configured_store())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    console.print(f"wrote {len(data['users'])} users, {len(data['orders'])} orders to {out}")


@app.command("info")
@run_guarded
def info_command(
    out: Annotated[Path | None, typer.Option(help="Also write JSON here.")] = None,
) -> None:
    """Where the store is and how many rows of commerce data it holds."""
    url = get_settings().store_url_resolved
    counts = commerce_counts(open_configured_store())
    console.print(f"store: {url.split('@')[-1]}")
    console.print(", ".join(f"{n} {table}" for table, n in counts.items()))
    write_report(out, {"store": url.split("@")[-1], "counts": counts})
