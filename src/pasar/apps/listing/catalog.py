"""Catalogs as CSV, JSONL or Parquet: one row per item, an ``id`` column, any other columns.

List and object fields (``bullet_points``, ``attributes``, ``image_paths`` and their localized
``_<lang>`` columns) are JSON text in CSV and Parquet cells and real lists/objects in JSONL, so
every format round-trips to the same rows. Reading checks what would otherwise fail later:
the file is UTF-8, an ``id`` column exists, ids are present and unique.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pasar.data.files import write_atomic, write_jsonl
from pasar.errors import MissingInputError, PasarError

FORMATS = (".csv", ".jsonl", ".parquet")
STRUCTURED = ("bullet_points", "attributes", "image_paths")

Row = dict[str, Any]


class CatalogError(PasarError, ValueError):
    """A catalog file that cannot be used as it is; the message says how to fix it."""


def catalog_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise CatalogError(
            f"{path}: unknown catalog format {suffix or '(no suffix)'!r}; "
            f"name the file .csv, .jsonl or .parquet"
        )
    return suffix


def is_structured(column: str) -> bool:
    return any(column == name or column.startswith(name + "_") for name in STRUCTURED)


def _decode_cell(column: str, value: Any) -> Any:
    if isinstance(value, str) and is_structured(column) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _encode_cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"{path} is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save it as UTF-8, e.g. `iconv -f latin1 -t utf-8 IN > OUT`"
        ) from exc


def _read_rows(path: Path, fmt: str) -> list[Row]:
    if fmt == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_table(path).to_pylist())
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise CatalogError(f"{path} is not a readable Parquet file ({exc})") from exc
    text = _read_text(path)
    if fmt == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        return [{k: v for k, v in row.items() if k is not None} for row in reader]
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{path} line {n} is not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise CatalogError(f"{path} line {n} is not a JSON object")
        rows.append(row)
    return rows


def read_catalog(path: Path) -> list[Row]:
    """The catalog's rows, ids as strings, list/object cells decoded; raises CatalogError."""
    fmt = catalog_format(path)
    if not path.exists():
        raise MissingInputError(f"catalog {path} does not exist")
    rows = _read_rows(path, fmt)
    if not rows:
        raise CatalogError(f"{path} has no rows; a catalog needs at least one item")
    if "id" not in rows[0]:
        raise CatalogError(
            f"{path} has no 'id' column (columns: {', '.join(map(str, rows[0]))}); "
            "add a unique id per item"
        )
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        item_id = row.get("id")
        if item_id is None or str(item_id).strip() == "":
            raise CatalogError(f"{path} row {n} has an empty id; every item needs one")
        key = str(item_id)
        if key in seen:
            raise CatalogError(
                f"{path}: id {key!r} appears twice (rows {seen[key]} and {n}); ids must be unique"
            )
        seen[key] = n
        row["id"] = key
    return [{k: _decode_cell(k, v) for k, v in row.items()} for row in rows]


def _columns(rows: list[Row]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def write_catalog(rows: Iterable[Row], path: Path) -> int:
    """Write rows in the format named by ``path``'s suffix, atomically; returns how many."""
    fmt = catalog_format(path)
    rows = list(rows)
    if fmt == ".jsonl":
        return write_jsonl(rows, path)
    columns = _columns(rows)
    flat = [{c: _encode_cell(row.get(c)) for c in columns} for row in rows]
    if fmt == ".csv":
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        write_atomic([buffer.getvalue()], path)
        return len(rows)
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    table = pa.Table.from_pylist(
        [{c: None if v is None else str(v) for c, v in row.items()} for row in flat],
        schema=pa.schema([(c, pa.string()) for c in columns]),
    )
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return len(rows)
