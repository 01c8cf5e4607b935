"""A whole catalog through the localizer, on the local runner or on Ray: read, run with
checkpoints next to the output (``OUT.work/``), write the localized catalog in the input's
rows and order, the per-item report (``OUT.report.jsonl``) and a summary."""

from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pasar.apps.listing.catalog import catalog_format, read_catalog, write_catalog
from pasar.apps.listing.localize import LocalizeConfig, Localizer
from pasar.config import get_settings
from pasar.data.files import write_jsonl
from pasar.pipelines.local import RunConfig, run_local

RUNNERS = ("local", "ray")


@dataclass(frozen=True)
class JobOptions:
    runner: str = "local"  # local or ray
    batch_size: int = 8  # items per model batch
    checkpoint_every: int = 16  # items per checkpoint part
    workers: int = 1  # local: threads (http engines only); ray: actors, each with a model
    resume: bool = False
    limit: int | None = None  # the first N items only
    progress: bool = True
    num_cpus: int | None = None  # a local Ray's CPUs (None: all)

    def __post_init__(self) -> None:
        if self.runner not in RUNNERS:
            raise ValueError(f"engine {self.runner!r} is not one of {', '.join(RUNNERS)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError("--limit must be at least 1")


def work_dir(out: Path) -> Path:
    return out.with_name(out.name + ".work")


def report_path(out: Path) -> Path:
    return out.with_name(out.stem + ".report.jsonl")


def fingerprint(rows: list[dict[str, Any]], config: LocalizeConfig) -> str:
    """Same input and settings, same fingerprint: what a resumed job must match."""
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode())
    digest.update(json.dumps(asdict(config), sort_keys=True, default=str).encode())
    if config.glossary is not None and config.glossary.exists():
        digest.update(config.glossary.read_bytes())
    return digest.hexdigest()[:16]


def summarize(results: list[dict[str, Any]], config: LocalizeConfig) -> dict[str, Any]:
    by_language: dict[str, Any] = {}
    for lang in config.targets:
        statuses = Counter(r["fields"][f"status_{lang}"] for r in results)
        codes = Counter(
            code for r in results for code in r["fields"][f"issues_{lang}"].split() if code
        )
        by_language[lang] = {
            "ok": statuses["ok"],
            "flagged": statuses["flagged"],
            "reason_codes": dict(codes.most_common()),
        }
    jobs = [
        f
        for r in results
        for lang in r["report"]["languages"].values()
        for f in lang["fields"].values()
    ]
    rewrites = [r["report"]["rewrite"] for r in results if r["report"]["rewrite"]]
    return {
        "items": len(results),
        "by_language": by_language,
        "fields_translated": len(jobs),
        "memory": dict(Counter(f["memory"] or "none" for f in jobs)),
        "attempts": dict(Counter(str(f["attempts"]) for f in jobs)),
        "rewrites_kept": sum(r["passed"] for r in rewrites),
        "rewrites_rejected": sum(not r["passed"] for r in rewrites),
    }


def localize_catalog(
    catalog: Path, out: Path, config: LocalizeConfig, options: JobOptions
) -> dict[str, Any]:
    """Localize ``catalog`` into ``out`` (same format rules: .csv, .jsonl, .parquet)."""
    catalog_format(out)
    # The default model is named here, so that Ray workers (other processes, other settings)
    # run the model this process meant, and a resumed job's fingerprint names it.
    config = replace(config, model=config.model or get_settings().model)
    rows = read_catalog(catalog)[: options.limit]
    run = RunConfig(
        work_dir=work_dir(out),
        fingerprint=fingerprint(rows, config),
        batch_size=options.batch_size,
        checkpoint_every=options.checkpoint_every,
        workers=options.workers,
        resume=options.resume,
        progress=options.progress,
    )
    make_fn = functools.partial(Localizer, config)
    if options.runner == "ray":
        from pasar.pipelines.ray_data import run_ray

        results = run_ray(rows, make_fn, run, num_cpus=options.num_cpus)
    else:
        results = run_local(rows, make_fn, run)
    by_id = {r["id"]: r for r in results}
    write_catalog([{**row, **by_id[row["id"]]["fields"]} for row in rows], out)
    write_jsonl([r["report"] for r in results], report_path(out))
    summary = summarize(results, config)
    summary.update(
        catalog=str(catalog),
        out=str(out),
        report=str(report_path(out)),
        runner=options.runner,
        model=config.model,
        targets=list(config.targets),
    )
    return summary
