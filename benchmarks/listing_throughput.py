"""Catalog localization throughput: items/min end to end against the raw engine on the same
prompts, and projected machine-hours for 100 million items on a GPU engine.

    PYTHONPATH=src .venv/bin/python benchmarks/listing_throughput.py \
        [--items 24] [--to id,th] [--model smollm2-135m-instruct] [--out FILE]

Items from examples/listing/catalog.csv go through the local runner (batches, checkpoints,
progress bar) and the localizer (rewrite, translate, gates, embeddings for the memory and the
meaning gate, retries), with the engine wrapped so that the time of every engine batch is
measured: that is the raw engine on exactly the pipeline's prompts, timed in the same run, so
that the load of a shared machine hits both alike. Overhead = pipeline wall time / engine time
- 1 (target <= 10%); the time outside the engine is split into embeddings and the rest.

The projection multiplies measured tokens per item (prompt and completion, retries included)
by a GPU engine's throughput, which cannot be measured here (no GPU): it is an assumption,
given on the command line and written into the JSON next to the measured figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pasar.apps.listing.catalog import read_catalog
from pasar.apps.listing.job import fingerprint
from pasar.apps.listing.localize import LocalizeConfig, Localizer
from pasar.evaluate.scorecard import library_versions
from pasar.models.engine import Engine, SamplingParams
from pasar.models.registry import load_engine
from pasar.models.types import ChatChunk, ChatResult, Message
from pasar.pipelines.local import RunConfig, run_local

ROOT = Path(__file__).resolve().parent.parent


class RecordingEngine(Engine):
    """Passes every call to ``inner`` and times it."""

    kind = "recording"

    def __init__(self, inner: Engine):
        super().__init__(inner.name)
        self.inner = inner
        self.calls = 0
        self.conversations = 0
        self.seconds = 0.0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def _complete(self, messages, params, json_schema, tools) -> ChatResult:
        return self._complete_batch([messages], params, json_schema)[0]

    def _stream(self, messages, params, json_schema) -> Iterator[ChatChunk]:
        raise NotImplementedError("the localizer only batches")

    def _complete_batch(
        self, conversations: list[list[Message]], params: SamplingParams, json_schema
    ) -> list[ChatResult]:
        started = time.perf_counter()
        results = self.inner._complete_batch(conversations, params, json_schema)
        self.seconds += time.perf_counter() - started
        self.calls += 1
        self.conversations += len(conversations)
        self.prompt_tokens += sum(r.usage.prompt_tokens for r in results)
        self.completion_tokens += sum(r.usage.completion_tokens for r in results)
        return results


class TimedEmbeddings:
    """Times ``pasar.apps.listing.memory.embed`` (fuzzy memory and meaning gate)."""

    def __init__(self) -> None:
        import pasar.apps.listing.memory as memory

        self.memory, self.inner, self.seconds = memory, memory.embed, 0.0
        memory.embed = self  # type: ignore[assignment]

    def __call__(self, texts: list[str]) -> Any:
        started = time.perf_counter()
        try:
            return self.inner(texts)
        finally:
            self.seconds += time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--to", default="id,th")
    parser.add_argument("--model", default=None)
    parser.add_argument("--catalog", type=Path, default=ROOT / "examples/listing/catalog.csv")
    parser.add_argument(
        "--gpu-decode-tokens-per-s",
        type=float,
        default=20_000.0,
        help="ASSUMED aggregate generation throughput of one GPU machine (e.g. vLLM serving an "
        "8B model on one H100 at large batch); not measured here",
    )
    parser.add_argument(
        "--gpu-prefill-tokens-per-s",
        type=float,
        default=200_000.0,
        help="ASSUMED prompt (prefill) throughput of the same machine; not measured here",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/listing.json")
    args = parser.parse_args()

    rows = read_catalog(args.catalog)
    step = max(1, len(rows) // args.items)
    items = rows[::step][: args.items]  # spread over the catalogue: many product types
    config = LocalizeConfig(targets=tuple(args.to.split(",")), model=args.model)
    engine = RecordingEngine(load_engine(args.model))
    embeddings = TimedEmbeddings()
    with tempfile.TemporaryDirectory() as tmp:
        run = RunConfig(work_dir=Path(tmp) / "work", fingerprint=fingerprint(items, config))
        started = time.perf_counter()
        results = run_local(items, lambda: Localizer(config, engine=engine), run)
        pipeline_s = time.perf_counter() - started
    raw_s = engine.seconds

    fields = [
        f
        for r in results
        for lang in r["report"]["languages"].values()
        for f in lang["fields"].values()
    ]
    per_item_prompt = engine.prompt_tokens / len(items)
    per_item_completion = engine.completion_tokens / len(items)
    overhead = pipeline_s / raw_s - 1
    gpu_s_per_item = (
        per_item_completion / args.gpu_decode_tokens_per_s
        + per_item_prompt / args.gpu_prefill_tokens_per_s
    ) * (1 + max(overhead, 0.0))
    report = {
        "libraries": library_versions(),
        "model": engine.name,
        "targets": list(config.targets),
        "items": len(items),
        "measured": {
            "pipeline_s": round(pipeline_s, 2),
            "raw_engine_s": round(raw_s, 2),
            "pipeline_items_per_min": round(len(items) / pipeline_s * 60, 2),
            "raw_engine_items_per_min": round(len(items) / raw_s * 60, 2),
            "overhead": round(overhead, 4),
            "overhead_target": 0.10,
            "embedding_s": round(embeddings.seconds, 2),
            "other_pipeline_s": round(pipeline_s - raw_s - embeddings.seconds, 2),
            "engine_batches": engine.calls,
            "model_calls": engine.conversations,
            "prompt_tokens_per_item": round(per_item_prompt, 1),
            "completion_tokens_per_item": round(per_item_completion, 1),
            "fields_per_item": round(len(fields) / len(items), 2),
            "attempts_per_field": round(sum(f["attempts"] for f in fields) / len(fields), 3),
            "fields_passed": round(sum(f["passed"] for f in fields) / len(fields), 3),
        },
        "projection_100m_items": {
            "assumptions": {
                "gpu_decode_tokens_per_s": args.gpu_decode_tokens_per_s,
                "gpu_prefill_tokens_per_s": args.gpu_prefill_tokens_per_s,
                "tokens_per_item": "as measured above with this model and these targets; a "
                "stronger model retries less (fewer tokens), more targets cost proportionally",
                "pipeline_overhead": "as measured above (runner, gates, memory, checkpoints), "
                "applied on top of engine time",
                "memory_hits": "none counted: repeated strings would lower the figure",
            },
            "seconds_per_item_one_gpu": round(gpu_s_per_item, 6),
            "gpu_machine_hours": round(gpu_s_per_item * 100e6 / 3600, 1),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["measured"], indent=2))
    print(json.dumps(report["projection_100m_items"], indent=2))


if __name__ == "__main__":
    main()
