"""Run a batch function over rows on Ray Data: the same checkpoints, resume and ordering as
``local``, with the batches spread over ``workers`` Ray actors (each builds the function once,
so each loads its model once).

Ray is joined where ``RAY_ADDRESS`` points (a cluster), else started locally with ``num_cpus``.
Rows travel as JSON text, so any row shape works and the runner never looks inside.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from pasar.pipelines.checkpoint import Checkpoints
from pasar.pipelines.local import BatchFn, RunConfig, check_results, ordered, pending_rows
from pasar.pipelines.local import progress_bar as make_bar

Row = dict[str, Any]


def start_ray(num_cpus: int | None = None) -> None:
    """Join the cluster at RAY_ADDRESS, or start a local Ray that sees this process's code."""
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"])
        return
    path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )


class _Actor:
    """A Ray actor: builds the batch function once, then maps JSON rows to JSON results."""

    def __init__(self, make_fn: Callable[[], BatchFn]):
        self.fn = make_fn()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [json.loads(text) for text in batch["row"]]
        results = self.fn(rows)
        return {"result": np.array([json.dumps(r, ensure_ascii=False) for r in results])}


def run_ray(
    rows: list[Row],
    make_fn: Callable[[], BatchFn],
    config: RunConfig,
    *,
    num_cpus: int | None = None,
) -> list[Row]:
    import ray.data

    checkpoints = Checkpoints(
        config.work_dir, key=config.key, fingerprint=config.fingerprint, resume=config.resume
    )
    todo = pending_rows(rows, checkpoints)
    if todo:
        start_ray(num_cpus)
        dataset = ray.data.from_items([{"row": json.dumps(r, ensure_ascii=False)} for r in todo])
        results = dataset.map_batches(
            _Actor,
            fn_constructor_kwargs={"make_fn": make_fn},
            batch_size=config.batch_size,
            compute=ray.data.ActorPoolStrategy(size=config.workers),
            batch_format="numpy",
        )
        with make_bar(len(rows), len(rows) - len(todo), config.progress) as bar:
            for batch in results.iter_batches(
                batch_size=config.checkpoint_every, batch_format="numpy"
            ):
                done = [json.loads(text) for text in batch["result"]]
                checkpoints.write(done)
                bar.update(len(done))
        check_results(todo, [r for r in ordered(todo, checkpoints)], config.key)
    return ordered(rows, checkpoints)
