"""The Ray Data runner against a real local Ray instance (started once for this module): resume
and ordering like the local runner, and the listing localizer end to end on the embedded model
with `--engine ray`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pasar.apps.listing.catalog import read_catalog, write_catalog
from pasar.apps.listing.job import JobOptions, localize_catalog
from pasar.apps.listing.localize import LocalizeConfig
from pasar.pipelines.local import RunConfig
from pasar.pipelines.ray_data import run_ray, start_ray

ROWS = [{"id": f"r{i}", "n": i} for i in range(12)]


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    import ray

    start_ray(num_cpus=2)
    yield
    ray.shutdown()


def square_rows(batch: list[dict]) -> list[dict]:
    return [{"id": r["id"], "square": r["n"] ** 2} for r in batch]


def make_square():
    return square_rows


def test_ray_runner_resumes_and_keeps_order(tmp_path: Path) -> None:
    config = RunConfig(
        work_dir=tmp_path / "work",
        fingerprint="f",
        batch_size=4,
        checkpoint_every=4,
        workers=2,
        progress=False,
    )
    first = run_ray(ROWS[:5], make_square, config)
    assert first == [{"id": f"r{i}", "square": i * i} for i in range(5)]
    resumed = RunConfig(**{**vars(config), "resume": True})
    results = run_ray(ROWS, make_square, resumed)
    assert results == [{"id": f"r{i}", "square": i * i} for i in range(12)]
    ids = [
        json.loads(line)["id"]
        for part in sorted((tmp_path / "work" / "parts").glob("*.jsonl"))
        for line in part.read_text().splitlines()
    ]
    assert sorted(ids) == sorted(r["id"] for r in ROWS)  # the first five were not redone


def test_localize_on_ray_matches_local(tmp_path: Path, embedded_gguf: Path) -> None:
    catalog_rows = read_catalog(Path("examples/listing/catalog.csv"))[1:4]
    rows = [{"id": r["id"], "title": r["title"], "brand": r["brand"]} for r in catalog_rows]
    catalog = tmp_path / "catalog.parquet"
    write_catalog(rows, catalog)
    config = LocalizeConfig(targets=("th",), rewrite=False, fuzzy=False, retries=0)
    on_ray = localize_catalog(
        catalog,
        tmp_path / "ray.parquet",
        config,
        JobOptions(runner="ray", batch_size=2, progress=False),
    )
    local = localize_catalog(
        catalog, tmp_path / "local.parquet", config, JobOptions(batch_size=2, progress=False)
    )
    # The same items, order, verdicts and reasons to flag. Not byte-equal outputs: a Ray actor
    # keeps its engine between jobs, and llama.cpp's floats depend on how a prompt was batched
    # and what its cache held, so a greedy token may flip (seen: one extra number_changed).
    for summary in (on_ray, local):
        assert summary["by_language"]["th"]["flagged"] == 3
        assert summary["by_language"]["th"]["reason_codes"]["wrong_language"] == 3
    ray_rows = read_catalog(tmp_path / "ray.parquet")
    local_rows = read_catalog(tmp_path / "local.parquet")
    assert [r["id"] for r in ray_rows] == [r["id"] for r in local_rows] == [r["id"] for r in rows]
    assert [r["status_th"] for r in ray_rows] == [r["status_th"] for r in local_rows]
    # the embedded model cannot write Thai: every item is flagged, no title passes as good
    assert all(r["status_th"] == "flagged" for r in ray_rows)
    assert all("wrong_language" in r["issues_th"] for r in ray_rows)
    assert all(not r["title_th"] for r in ray_rows)
