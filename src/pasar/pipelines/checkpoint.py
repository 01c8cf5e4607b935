"""Checkpoints of finished results, as numbered JSONL part files in a work directory.

Each part is written atomically (a temporary file, fsync, rename), so a killed job leaves whole
parts only: on resume the rows whose key is in a part are done and are never run again, and the
rest are run. A manifest pins the job's fingerprint (input and settings), so a resumed job cannot
mix results of another input or other settings into its parts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pasar.data.files import write_json, write_jsonl
from pasar.errors import PasarError

Row = dict[str, Any]


class CheckpointError(PasarError, ValueError):
    """A work directory that belongs to another job, or that must not be overwritten."""


class Checkpoints:
    def __init__(self, directory: Path, *, key: str, fingerprint: str, resume: bool):
        self.directory = directory
        self.key = key
        self.parts = directory / "parts"
        manifest = directory / "manifest.json"
        if manifest.exists():
            found = json.loads(manifest.read_text()).get("fingerprint")
            if not resume:
                raise CheckpointError(
                    f"{directory} holds an earlier job's results; pass --resume to continue it, "
                    "or choose another --out"
                )
            if found != fingerprint:
                raise CheckpointError(
                    f"{directory} holds results of another input or other settings "
                    f"(fingerprint {found}, this job {fingerprint}); choose another --out"
                )
        self.parts.mkdir(parents=True, exist_ok=True)
        write_json({"fingerprint": fingerprint, "key": key}, manifest)
        self.next_part = len(list(self.parts.glob("part-*.jsonl")))

    def results(self) -> Iterator[Row]:
        for part in sorted(self.parts.glob("part-*.jsonl")):
            for line in part.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    yield json.loads(line)

    def done(self) -> set[str]:
        return {str(row[self.key]) for row in self.results()}

    def write(self, rows: list[Row]) -> None:
        if rows:
            write_jsonl(rows, self.parts / f"part-{self.next_part:06d}.jsonl")
            self.next_part += 1
