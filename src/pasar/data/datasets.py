"""Reading training data files (JSONL, JSON, Parquet) in TRL's formats, with format checks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # importing datasets takes a second; exports need only the tables below
    from datasets import Dataset

DataFormat = Literal["sft", "paired", "unpaired"]
COLUMNS: dict[DataFormat, set[str]] = {
    "sft": {"messages"},
    "paired": {"prompt", "chosen", "rejected"},
    "unpaired": {"prompt", "completion", "label"},
}
# Each training method and the data formats it reads; the first is the one `pasar feedback
# export --format METHOD` writes for it.
METHOD_FORMATS: dict[str, tuple[DataFormat, ...]] = {
    "sft": ("sft",),
    "bnf": ("unpaired", "paired"),
    "kto": ("unpaired", "paired"),
    "dpo": ("paired",),
}


def load_data_file(path: str | Path) -> Dataset:
    """A local JSONL/JSON/Parquet file as a datasets.Dataset."""
    from datasets import load_dataset

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such data file (JSONL, JSON or Parquet expected)")
    kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}.get(path.suffix)
    if kind is None:
        raise ValueError(
            f"{path}: unknown extension {path.suffix!r}; use .jsonl, .json or .parquet"
        )
    dataset = load_dataset(kind, data_files=str(path), split="train")
    if len(dataset) == 0:
        raise ValueError(f"{path} holds no rows")
    return dataset


def detect_format(dataset: Dataset) -> DataFormat:
    """Which of TRL's formats a dataset is in, by its columns."""
    columns = set(dataset.column_names)
    for name, needed in COLUMNS.items():
        if needed <= columns:
            return name
    expected = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in COLUMNS.items())
    raise ValueError(
        f"columns {sorted(columns)} match no known format ({expected}). "
        "`pasar feedback export` writes each of them"
    )
