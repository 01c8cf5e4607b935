"""The local runner: checkpoints, resume without redoing work, results in input order, refusal
to mix jobs; and `pasar listing localize` on the embedded model, killed mid-run and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_pasar

from pasar.apps.listing.catalog import read_catalog, write_catalog
from pasar.pipelines.checkpoint import CheckpointError
from pasar.pipelines.local import RunConfig, run_local

CATALOG = Path("examples/listing/catalog.csv")
ROWS = [{"id": f"r{i}", "n": i} for i in range(10)]


class Doubler:
    """A batch function that fails after ``fail_after`` batches, as a killed job would."""

    def __init__(self, fail_after: int | None = None):
        self.fail_after = fail_after
        self.seen: list[str] = []

    def __call__(self, batch: list[dict]) -> list[dict]:
        if self.fail_after is not None and len(self.seen) >= self.fail_after * 3:
            raise KeyboardInterrupt("killed")
        self.seen += [r["id"] for r in batch]
        return [{"id": r["id"], "double": 2 * r["n"]} for r in reversed(batch)]


def config(tmp_path: Path, **kw) -> RunConfig:
    settings = {"work_dir": tmp_path / "work", "fingerprint": "f1", "batch_size": 3}
    settings.update(checkpoint_every=3, progress=False, **kw)
    return RunConfig(**settings)


def test_resume_does_only_the_rest_and_keeps_order(tmp_path: Path) -> None:
    first = Doubler(fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        run_local(ROWS, lambda: first, config(tmp_path))
    assert first.seen == [f"r{i}" for i in range(6)]

    second = Doubler()
    results = run_local(ROWS, lambda: second, config(tmp_path, resume=True))
    assert second.seen == [f"r{i}" for i in range(6, 10)]
    assert results == [{"id": f"r{i}", "double": 2 * i} for i in range(10)]

    third = Doubler()
    assert run_local(ROWS, lambda: third, config(tmp_path, resume=True)) == results
    assert third.seen == []


def test_a_work_dir_is_never_mixed_with_another_job(tmp_path: Path) -> None:
    run_local(ROWS, Doubler, config(tmp_path))
    with pytest.raises(CheckpointError, match="pass --resume"):
        run_local(ROWS, Doubler, config(tmp_path))
    with pytest.raises(CheckpointError, match="another input or other settings"):
        run_local(ROWS, Doubler, config(tmp_path, fingerprint="f2", resume=True))


def test_a_batch_function_that_loses_rows_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="expected"):
        run_local(ROWS, lambda: lambda batch: batch[:1], config(tmp_path))


def localize_args(catalog: Path, out: Path, *extra: str) -> list[str]:
    return [
        "listing",
        "localize",
        str(catalog),
        "--to",
        "id",
        "--out",
        str(out),
        "--no-rewrite",
        "--no-fuzzy",
        "--retries",
        "0",
        "--batch-size",
        "1",
        "--checkpoint-every",
        "1",
        *extra,
    ]


def test_localize_killed_mid_run_resumes_without_redoing(
    tmp_path: Path, embedded_gguf: Path
) -> None:
    # titles only (one model call per item), to keep the test short
    rows = [{"id": r["id"], "title": r["title"]} for r in read_catalog(CATALOG)[1:6]]
    catalog = tmp_path / "catalog.jsonl"
    write_catalog(rows, catalog)
    out = tmp_path / "out.csv"
    parts = tmp_path / "out.csv.work" / "parts"

    proc = subprocess.Popen(
        [sys.executable, "-m", "pasar.cli.main", *localize_args(catalog, out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 240
    while len(list(parts.glob("part-*.jsonl"))) < 2:
        assert proc.poll() is None, "the job ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint within 240 s"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    before = {p.name: p.read_text() for p in parts.glob("part-*.jsonl")}
    assert 2 <= len(before) < len(rows)

    again = run_pasar(*localize_args(catalog, out))
    assert again.returncode == 2 and "--resume" in again.stderr

    resumed = run_pasar(*localize_args(catalog, out, "--resume"))
    assert resumed.returncode == 0, resumed.stderr
    after = {p.name: p.read_text() for p in parts.glob("part-*.jsonl")}
    assert {k: after[k] for k in before} == before  # finished work untouched
    ids = [json.loads(line)["id"] for text in after.values() for line in text.splitlines()]
    assert sorted(ids) == sorted(r["id"] for r in rows)  # each item done exactly once

    output = read_catalog(out)
    assert [r["id"] for r in output] == [r["id"] for r in rows]
    for row in output:
        # the embedded model cannot translate into Indonesian: nothing slips through as good
        assert (row["status_id"] == "ok") == (row["issues_id"] == "")
        if row["status_id"] == "flagged":
            assert row["title_id"] == ""
    report = [json.loads(line) for line in (tmp_path / "out.report.jsonl").read_text().splitlines()]
    assert [r["id"] for r in report] == [r["id"] for r in rows]

    first_bytes = out.read_bytes()
    idempotent = run_pasar(*localize_args(catalog, out, "--resume"))
    assert idempotent.returncode == 0, idempotent.stderr
    assert out.read_bytes() == first_bytes
    assert len(list(parts.glob("part-*.jsonl"))) == len(after)
