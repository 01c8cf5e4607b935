"""Run a batch function over rows in this process: batches of ``batch_size`` rows, a checkpoint
part every ``checkpoint_every`` rows, a progress bar with ETA, resume after a kill.

    results = run_local(rows, make_fn, work_dir=Path("out.work"), key="id", fingerprint=...)

``make_fn()`` builds the batch function (``list[row] -> list[result]``, one result per row,
each carrying the row's key); it is called once, here, so a model loads once. Results come back
in the rows' order, whatever order they were computed in, so the output is the same however
often the job was killed and resumed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pasar.pipelines.checkpoint import Checkpoints

Row = dict[str, Any]
BatchFn = Callable[[list[Row]], list[Row]]


@dataclass(frozen=True)
class RunConfig:
    work_dir: Path  # where checkpoint parts live
    fingerprint: str  # identifies the input and settings; a resume must match it
    key: str = "id"  # the column that identifies a row
    batch_size: int = 8  # rows per call of the batch function
    checkpoint_every: int = 32  # rows per checkpoint part (a kill loses at most this many)
    workers: int = 1  # batches in flight at once (threads; for engines that serve requests)
    resume: bool = False  # continue the job in work_dir instead of refusing to touch it
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.checkpoint_every < 1 or self.workers < 1:
            raise ValueError("batch_size, checkpoint_every and workers must be at least 1")


def chunks(rows: list[Row], size: int) -> Iterable[list[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def check_results(batch: list[Row], results: list[Row], key: str) -> None:
    wanted = [str(r[key]) for r in batch]
    got = [str(r.get(key)) for r in results]
    if sorted(wanted) != sorted(got):
        raise RuntimeError(f"the batch function returned results for {got}, expected {wanted}")


def pending_rows(rows: list[Row], checkpoints: Checkpoints) -> list[Row]:
    done = checkpoints.done()
    return [r for r in rows if str(r[checkpoints.key]) not in done]


def ordered(rows: list[Row], checkpoints: Checkpoints) -> list[Row]:
    """All results, in the rows' order (a result computed twice counts once)."""
    by_key = {str(r[checkpoints.key]): r for r in checkpoints.results()}
    return [by_key[str(r[checkpoints.key])] for r in rows if str(r[checkpoints.key]) in by_key]


def progress_bar(total: int, done: int, enabled: bool) -> tqdm:
    return tqdm(total=total, initial=done, unit="item", disable=not enabled, dynamic_ncols=True)


def run_local(rows: list[Row], make_fn: Callable[[], BatchFn], config: RunConfig) -> list[Row]:
    checkpoints = Checkpoints(
        config.work_dir, key=config.key, fingerprint=config.fingerprint, resume=config.resume
    )
    todo = pending_rows(rows, checkpoints)
    if todo:
        fn = make_fn()
        buffer: list[Row] = []
        with (
            progress_bar(len(rows), len(rows) - len(todo), config.progress) as bar,
            ThreadPoolExecutor(config.workers) as pool,
        ):
            for group in chunks(todo, config.batch_size * config.workers):
                batches = list(chunks(group, config.batch_size))
                for batch, results in zip(batches, pool.map(fn, batches), strict=True):
                    check_results(batch, results, config.key)
                    buffer += results
                    bar.update(len(batch))
                if len(buffer) >= config.checkpoint_every:
                    checkpoints.write(buffer)
                    buffer = []
            checkpoints.write(buffer)
    return ordered(rows, checkpoints)
