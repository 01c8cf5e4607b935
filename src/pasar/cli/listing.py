"""``pasar listing``: localize a catalog (rewrite, translate, check) and check translations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pasar.cli.output import NoLog, console, err_console, run_guarded, write_report

app = typer.Typer(
    help="Catalog localization: rewrite titles, translate listings, stop bad translations.",
    no_args_is_help=True,
)


def _languages(value: str) -> tuple[str, ...]:
    return tuple(code.strip() for code in value.split(",") if code.strip())


@app.command("localize")
@run_guarded
def localize(
    catalog: Annotated[Path, typer.Argument(help="Catalog: .csv, .jsonl or .parquet with id.")],
    to: Annotated[str, typer.Option("--to", help="Target languages, e.g. id,ms,th,vi,tl.")],
    out: Annotated[Path, typer.Option(help="Localized catalog to write (.csv/.jsonl/.parquet).")],
    model: Annotated[
        str | None, typer.Option(help="Model name, GGUF, HF dir or http(s) URL.")
    ] = None,
    engine: Annotated[str, typer.Option(help="Runner: local (this process) or ray.")] = "local",
    glossary: Annotated[
        Path | None, typer.Option(help="CSV/JSON of protected terms (term, id, th...).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue a killed job with the same --out.")
    ] = False,
    source_lang: Annotated[str, typer.Option(help="The catalog's language.")] = "en",
    rewrite: Annotated[
        bool, typer.Option(help="Rewrite the source title for search first.")
    ] = True,
    retries: Annotated[int, typer.Option(help="Retries with the gates' feedback.")] = 1,
    title_chars: Annotated[int, typer.Option(help="Title length limit.")] = 150,
    fuzzy: Annotated[bool, typer.Option(help="Fuzzy translation memory (embeddings).")] = True,
    meaning_threshold: Annotated[
        float, typer.Option(help="Minimum source-output embedding similarity (0 = off).")
    ] = 0.8,
    batch_size: Annotated[int, typer.Option(help="Items per model batch.")] = 8,
    checkpoint_every: Annotated[
        int, typer.Option(help="Items per checkpoint (a kill loses at most this many).")
    ] = 16,
    workers: Annotated[
        int, typer.Option(help="Ray actors (one model each); local: threads, http models only.")
    ] = 1,
    limit: Annotated[int | None, typer.Option(help="Only the first N items.")] = None,
    model_engine: Annotated[
        str | None, typer.Option(help="Run the model on llamacpp, hf or http.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Summary JSON to write.")] = None,
    no_log: NoLog = False,
) -> None:
    """Rewrite, translate and check every item into every --to language. Checkpoints go to
    OUT.work/ (resume with --resume), per-item reasons to OUT.report.jsonl; a field that fails
    its gates after the retries is left empty and its status_<lang> says flagged."""
    from pasar.apps.listing.job import JobOptions, localize_catalog
    from pasar.apps.listing.localize import LocalizeConfig

    config = LocalizeConfig(
        targets=_languages(to),
        source_lang=source_lang,
        model=model,
        model_engine=model_engine,
        glossary=glossary,
        rewrite=rewrite,
        retries=retries,
        title_chars=title_chars,
        fuzzy=fuzzy,
        meaning_threshold=meaning_threshold,
        record=not no_log,
    )
    options = JobOptions(
        runner=engine,
        batch_size=batch_size,
        checkpoint_every=checkpoint_every,
        workers=workers,
        resume=resume,
        limit=limit,
    )
    summary = localize_catalog(catalog, out, config, options)
    for lang, counts in summary["by_language"].items():
        codes = ", ".join(f"{c} {n}" for c, n in counts["reason_codes"].items())
        console.print(f"  {lang}: {counts['ok']} ok, {counts['flagged']} flagged  {codes}")
    console.print(f"{summary['items']} items -> {out}  (report: {summary['report']})")
    write_report(report, summary)


@app.command("check")
@run_guarded
def check(
    catalog: Annotated[Path, typer.Argument(help="Catalog with title_<lang>/description_<lang>.")],
    out: Annotated[Path, typer.Option(help="Report JSON: reason codes per item.")],
    source_lang: Annotated[str, typer.Option(help="Language of title/description.")] = "en",
    glossary: Annotated[Path | None, typer.Option(help="Protected terms (CSV/JSON).")] = None,
    title_chars: Annotated[int, typer.Option(help="Title length limit.")] = 150,
    description_chars: Annotated[int, typer.Option(help="Description length limit.")] = 2000,
    meaning_threshold: Annotated[
        float, typer.Option(help="Minimum source-output embedding similarity (0 = off).")
    ] = 0.8,
) -> None:
    """Run the quality gates on translations a catalog already has; exit code 1 when any item
    fails."""
    from pasar.apps.listing.catalog import read_catalog
    from pasar.apps.listing.check import check_catalog
    from pasar.data.translation import load_glossary

    report = check_catalog(
        read_catalog(catalog),
        source_lang=source_lang,
        glossary=load_glossary(glossary),
        title_chars=title_chars,
        description_chars=description_chars,
        meaning_threshold=meaning_threshold,
        progress=True,
    )
    write_report(out, report)
    codes = ", ".join(f"{c} {n}" for c, n in report["reason_codes"].items())
    console.print(
        f"{report['passed']} of {report['items']} items pass ({', '.join(report['columns'])})"
        + (f"; failures: {codes}" if codes else "")
    )
    if report["failed"]:
        err_console.print(f"{report['failed']} items failed; reasons per item in {out}")
        raise typer.Exit(1)
