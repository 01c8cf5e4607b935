"""``pasar doctor``: what is installed, which engines work, where models are, and the fixes."""

from __future__ import annotations

import importlib.metadata
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pasar.cli.output import console, write_report
from pasar.config import Settings, config_file_path, get_settings
from pasar.errors import PasarError
from pasar.models.embedded import CARDS, find_model_file, installable, missing_message
from pasar.models.registry import list_models, load_engine
from pasar.store.db import masked_url

PACKAGES = {
    "torch": "pip install torch==2.13.0 (before anything else; a bare `torch` pulls CUDA)",
    "llama-cpp-python": "pip install llama-cpp-python (compiles llama.cpp: ~10 min on 2 cores)",
    "transformers": "pip install 'transformers>=5'",
    "xgrammar": "pip install xgrammar",
    "openai": "pip install openai",
    "gguf": "pip install gguf",
    "accelerate": "pip install accelerate",
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("python", sys.version_info >= (3, 11), version, "use Python 3.11 or newer")


def check_packages() -> list[Check]:
    checks = []
    for package, fix in PACKAGES.items():
        try:
            checks.append(Check(package, True, importlib.metadata.version(package)))
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(package, False, "not installed", fix))
    return checks


def check_home(settings: Settings) -> Check:
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
        ok = os.access(home, os.W_OK)
    except OSError:
        ok = False
    config = config_file_path()
    detail = f"{home} (config file: {config}{'' if config.exists() else ', absent'})"
    return Check("PASAR_HOME", ok, detail, f"make {home} writable or set PASAR_HOME elsewhere")


def check_embedded(settings: Settings) -> list[Check]:
    checks = []
    for card in CARDS.values():
        found = find_model_file(card, settings.home)
        if found:
            checks.append(Check(f"model {card.name}", True, f"{found} (verified)"))
        elif installable(card):
            checks.append(
                Check(
                    f"model {card.name}",
                    True,
                    "packages here; assembled and "
                    "verified on first use (or `pasar models install`)",
                )
            )
        else:
            checks.append(
                Check(f"model {card.name}", False, "not installed", missing_message(card))
            )
    return checks


def check_engine(kind: str, model: str | None) -> Check:
    """Load a model on an engine and generate one token."""
    started = time.perf_counter()
    try:
        with load_engine(model, engine=kind) as engine:
            engine.chat([{"role": "user", "content": "Hi"}], max_tokens=1)
    except (PasarError, ImportError, OSError, ValueError) as exc:
        return Check(f"engine {kind}", False, str(exc)[:200], "see the package rows above")
    return Check(
        f"engine {kind}",
        True,
        f"generated with {model or get_settings().model} in {time.perf_counter() - started:.1f} s",
    )


def doctor(
    full: Annotated[
        bool, typer.Option("--full", help="Also load the embedded model in transformers (~15 s).")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the checks as JSON.")] = None,
) -> None:
    """Check the installation: packages, models, engines, settings.

    Exits with code 1 if something needed is missing; each failed row says how to fix it.
    """
    settings = get_settings()
    checks = [check_python(), *check_packages(), check_home(settings), *check_embedded(settings)]
    checks.append(check_engine("llamacpp", None))
    if full:
        checks.append(check_engine("hf", None))
    for spec in list_models(settings):
        if spec.engine == "http":
            checks.append(check_engine("http", spec.name))

    table = Table("check", "", "detail", "fix")
    for check in checks:
        status = "[green]ok[/]" if check.ok else "[red]FAIL[/]"
        table.add_row(check.name, status, check.detail, "" if check.ok else check.fix)
    console.print(table)
    values = settings.model_dump(mode="json")
    if values["http_api_key"]:
        values["http_api_key"] = "***"
    if values["store_url"]:
        values["store_url"] = masked_url(values["store_url"])
    console.print("settings in force: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    write_report(out, {"checks": [asdict(c) for c in checks], "settings": values})
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
