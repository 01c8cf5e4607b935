"""Shared output for CLI commands: errors as one readable line, JSON reports on request."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from pasar.errors import PasarError, missing_extra

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])

# Every command that runs a model records its answers in the store's interaction log.
NoLog = Annotated[
    bool,
    typer.Option(
        "--no-log", help="Do not record the model's answers in the store's interaction log."
    ),
]


def run_guarded(command: F) -> F:
    """Turn user-fixable errors into 'error: ...' on stderr and exit code 2, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (PasarError, ValueError) as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from exc
        except ModuleNotFoundError as exc:
            if (hint := missing_extra(exc)) is None:
                raise
            err_console.print(f"[bold red]error:[/] {escape(hint)}", highlight=False)
            raise typer.Exit(2) from exc

    return wrapper  # type: ignore[return-value]


def write_report(path: Path | None, report: dict[str, Any]) -> None:
    """Write a machine-readable JSON report when ``--out`` was given."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    err_console.print(f"report written to {path}")
