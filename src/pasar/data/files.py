"""Writing JSON and JSONL files so that a crash leaves the old file or the new one, never half."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def jsonl_line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_atomic(pieces: Iterable[str], path: Path) -> int:
    """Write text pieces to ``path`` through a synced temporary file; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for piece in pieces:
            f.write(piece)
            n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n


def write_jsonl(rows: Iterable[dict[str, Any]], path: Path) -> int:
    """Write rows as JSON lines, atomically; returns how many."""
    return write_atomic(map(jsonl_line, rows), path)


def write_json(value: Any, path: Path) -> None:
    """Write one JSON document (indented, UTF-8), atomically."""
    write_atomic([json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n"], path)
