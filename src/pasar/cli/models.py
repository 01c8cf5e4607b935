"""``pasar models``: the model names pasar knows, and registering more."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pasar.cli.output import console, run_guarded, write_report
from pasar.errors import MissingInputError
from pasar.models.registry import (
    ENGINES,
    ModelSpec,
    add_model,
    list_models,
    remove_model,
    resolve_model,
)

app = typer.Typer(help="List, inspect and register models.", no_args_is_help=True)

Out = Annotated[Path | None, typer.Option("--out", help="Also write the result as JSON here.")]


@app.command("list")
@run_guarded
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    out: Out = None,
) -> None:
    """Every usable model name, its engine, and whether its weights are here."""
    specs = list_models()
    rows = [asdict(s) | {"available": s.available} for s in specs]
    write_report(out, {"models": rows})
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table("name", "engine", "available", "source", "description")
    for spec in specs:
        table.add_row(
            spec.name,
            spec.engine,
            "yes" if spec.available else "[red]no[/]",
            spec.source or "-",
            spec.description,
        )
    console.print(table)
    console.print(
        "Also accepted wherever a model is asked for: a .gguf file, a Hugging Face directory, "
        "an http(s):// OpenAI-compatible base URL (optionally #model-id)."
    )


@app.command("show")
@run_guarded
def show_command(name: Annotated[str, typer.Argument(help="Model name, path or URL.")]) -> None:
    """Where a model lives, its engine, and (for local files) its size and metadata."""
    spec = resolve_model(name)
    info = asdict(spec) | {"available": spec.available}
    path = Path(spec.source) if spec.engine != "http" and spec.source else None
    if path and path.is_file():
        info["size_mb"] = round(path.stat().st_size / 1e6, 1)
        if path.suffix == ".gguf":
            from gguf import GGUFReader

            reader = GGUFReader(path)
            for key in ("general.architecture", "general.name", "general.file_type"):
                field = reader.get_field(key)
                if field is not None:
                    info[key] = field.contents()
    console.print_json(json.dumps(info, default=str))


@app.command("add")
@run_guarded
def add_command(
    name: Annotated[str, typer.Argument(help="The name to use for it from now on.")],
    source: Annotated[
        str,
        typer.Argument(
            help="A .gguf file, an HF directory, a `pasar vision train` folder (served with "
            "images by `pasar serve`), or a base URL."
        ),
    ],
    engine: Annotated[
        str | None, typer.Option(help=f"One of {', '.join(ENGINES)}. Default: from the source.")
    ] = None,
    remote_model: Annotated[
        str | None, typer.Option(help="For URLs: the model id to request from the server.")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="For URLs: environment variable that holds the API key.")
    ] = None,
    description: Annotated[str, typer.Option(help="A note shown by `pasar models list`.")] = "",
) -> None:
    """Register a model under a short name (kept in $PASAR_HOME/models.json)."""
    found = resolve_model(source)
    spec = ModelSpec(
        name=name,
        engine=engine or found.engine,
        source=found.source,
        description=description,
        remote_model=remote_model or found.remote_model,
        api_key_env=api_key_env,
    )
    add_model(spec)
    console.print(f"registered {name} -> {spec.source} ({spec.engine})")


@app.command("export-gguf")
@run_guarded
def export_gguf_command(
    model_dir: Annotated[
        Path, typer.Argument(help="An HF directory written by `pasar align ...` (LoRA merged).")
    ],
    out: Annotated[Path, typer.Option("--out", help="The .gguf file to write.")],
    like: Annotated[
        str,
        typer.Option(
            help="The GGUF the training started from (name or path): its tokenizer, chat "
            "template and metadata are copied."
        ),
    ] = "smollm2-135m-instruct",
    outtype: Annotated[
        str,
        typer.Option(
            help="f16 (default; keeps small fine-tune changes), f32, q8_0, or same (the "
            "template's quantisation: smaller, lossier)."
        ),
    ] = "f16",
    name: Annotated[
        str | None, typer.Option(help="Also register the file under this model name.")
    ] = None,
) -> None:
    """Write a trained model as GGUF so llama.cpp (and `pasar serve`) runs it.

    Example: pasar align sft --model smollm2-135m-instruct --data sft.jsonl --output runs/sft
    --lora; then pasar models export-gguf runs/sft --out runs/sft.gguf --name my-sft.
    """
    from pasar.models.gguf_export import export_gguf

    template = resolve_model(like)
    if not template.source.endswith(".gguf"):
        raise ValueError(f"--like {like}: {template.source or 'no file'} is not a GGUF file")
    if not (model_dir / "config.json").exists():
        raise MissingInputError(
            f"{model_dir}: no config.json; give the --output directory of `pasar align ...`"
        )
    path = export_gguf(model_dir, like=Path(template.source), out=out, outtype=outtype)
    console.print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB, {outtype})")
    if name:
        add_model(ModelSpec(name=name, engine="llamacpp", source=str(path.resolve())))
        console.print(f"registered {name} -> {path} (llamacpp)")


@app.command("remove")
@run_guarded
def remove_command(name: Annotated[str, typer.Argument(help="A user-registered name.")]) -> None:
    """Forget a registered name (the weights are not touched)."""
    remove_model(name)
    console.print(f"removed {name}")
