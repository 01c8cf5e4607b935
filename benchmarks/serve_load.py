"""Load on `pasar serve` over loopback: feedback writes, non-generating endpoints, generation.

    .venv/bin/python benchmarks/serve_load.py [--models M ...] [--streams 8] [--max-tokens 64]

Starts a real `pasar serve` process (SQLite store with durable commits, in a temporary
PASAR_HOME, PASAR_PARALLEL=--streams). First bounded bursts of concurrent requests to the
non-generating endpoints (p50/p99 latency, throughput). Then for each model, in one run:

* single stream: the same greedy answers from raw llama-cpp-python (in this process, streamed,
  each from a reset context), then from the server (streamed over HTTP), one at a time;
* the ``--streams`` answers at once from pasar's batching engine in this process (no HTTP);
* ``--streams`` answers streamed at once from the server (continuous batching), with
  ``/health`` and ``/v1/models`` probed one request after another meanwhile;
* ratios: served / raw single-stream, and the concurrent total / raw single-stream;
* weights read per second (weights bytes x decoding steps per second) at batch 1 and batched,
  beside the machine's measured read bandwidth, the ceiling of batch-1 decoding.

Client and server share the machine's cores. Writes benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import llama_cpp

from pasar.config import Settings
from pasar.evaluate.scorecard import library_versions, memory_bandwidth_gb_s
from pasar.models.embedded import CARDS
from pasar.models.llamacpp import LlamaCppEngine
from pasar.models.registry import resolve_model

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m-instruct"  # answers the request the feedback burst rates
PROMPTS = [
    "Write a short description of a stainless steel water bottle.",
    "Suggest a title for a red cotton T-shirt.",
    "How do I return a pair of shoes that do not fit?",
    "Explain what a chargeback is in one paragraph.",
    "Write a friendly greeting for an online shop.",
    "List three features of a mechanical keyboard.",
    "What should I check before buying a used phone?",
    "Describe a leather wallet for a product page.",
]


def find_gguf(model: str) -> Path:
    return Path(resolve_model(model, Settings()).source)


def start_server(home: Path, port: int, parallel: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pasar.cli.main", "serve", "--port", str(port)],
        # The per-client limits would otherwise refuse most of a single client's burst.
        env={
            **os.environ,
            "PASAR_HOME": str(home),
            "PASAR_RATE_LIMIT_PER_MINUTE": "100000000",
            "PASAR_TOKEN_LIMIT_PER_MINUTE": "100000000",
            "PASAR_PARALLEL": str(parallel),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("pasar serve did not start")


def percentiles(latencies: list[float], wall: float) -> dict[str, float]:
    latencies = sorted(latencies)
    return {
        "requests": len(latencies),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
        "throughput_rps": round(len(latencies) / wall, 1),
    }


async def burst(
    client: httpx.AsyncClient, make_request: Any, n: int, concurrency: int
) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    queue = iter(range(n))

    async def worker() -> None:
        nonlocal failures
        for i in queue:
            started = time.perf_counter()
            response = await make_request(client, i)
            latencies.append(time.perf_counter() - started)
            failures += response.status_code >= 400

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if failures:
        raise RuntimeError(f"{failures} of {n} requests failed; the figures would mean nothing")
    return percentiles(latencies, time.perf_counter() - started)


async def stream_one(
    client: httpx.AsyncClient, model: str, prompt: str, max_tokens: int
) -> dict[str, float]:
    """One streamed greedy answer: tokens, time to first token, generation rate after it."""
    request = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first = last = None
    tokens = 0
    async with client.stream("POST", "/v1/chat/completions", json=request, timeout=600) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{model}: {r.status_code} {await r.aread()!r}")
        async for line in r.aiter_lines():
            if line.startswith("data: {") and '"content": "' in line and '""' not in line:
                last = time.perf_counter()
                first = first or last
            if line.startswith("data: {") and '"usage"' in line:
                tokens = json.loads(line[6:])["usage"]["completion_tokens"]
    return timing(tokens, started, first, last)


def timing(tokens: int, started: float, first: float | None, last: float | None) -> dict[str, Any]:
    """An answer's figures; a model that answered nothing (a base model under a chat template)
    has no first token."""
    done = time.perf_counter()
    return {
        "tokens": tokens,
        "seconds": done - started,
        "first_token_s": None if first is None else first - started,
        "generation_tokens_per_s": (tokens - 1) / (last - first)
        if first is not None and last is not None and last > first
        else None,
    }


def raw_one(
    llm: llama_cpp.Llama, prompt: str, max_tokens: int, repeat_penalty: float
) -> dict[str, Any]:
    """The same answer from llama-cpp-python directly, streamed, in this process (with the
    model card's repetition penalty, as the server samples)."""
    params = {
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "top_p": 1.0,
        "top_k": 0,
        "min_p": 0.0,
        "repeat_penalty": repeat_penalty,
    }
    messages = [{"role": "user", "content": prompt}]
    llm.reset()  # no prompt-cache hit from the previous answer
    started = time.perf_counter()
    first = last = None
    text = []
    chunks: Any = llm.create_chat_completion(messages, stream=True, **params)  # type: ignore[arg-type]
    for chunk in chunks:
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            last = time.perf_counter()
            first = first or last
            text.append(piece)
    tokens = len(llm.tokenize("".join(text).encode(), add_bos=False, special=True))
    return timing(tokens, started, first, last)


def summary(runs: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    firsts = sorted(r["first_token_s"] for r in runs if r["first_token_s"] is not None)
    rates = [r["generation_tokens_per_s"] for r in runs if r["generation_tokens_per_s"]]
    tokens = sum(r["tokens"] for r in runs)
    return {
        "answers": len(runs),
        "answers_with_text": len(firsts),
        "completion_tokens": int(tokens),
        "seconds": round(wall, 3),
        "tokens_per_s": round(tokens / wall, 1),
        "first_token_p50_s": round(statistics.median(firsts), 3) if firsts else None,
        "first_token_p95_s": round(firsts[min(len(firsts) - 1, int(0.95 * len(firsts)))], 3)
        if firsts
        else None,
        "generation_tokens_per_s_per_answer": round(statistics.mean(rates), 1) if rates else None,
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


async def metric(client: httpx.AsyncClient, name: str, model: str) -> float:
    text = (await client.get("/metrics")).text
    line = next((x for x in text.splitlines() if x.startswith(f'{name}{{model="{model}"}}')), None)
    return float(line.split()[-1]) if line else 0.0


async def probe(client: httpx.AsyncClient, done: asyncio.Event) -> dict[str, dict[str, float]]:
    """Non-generating endpoints, a pair of requests every 0.1 s, while generation runs."""
    latencies: dict[str, list[float]] = {"GET /health": [], "GET /v1/models": []}
    while not done.is_set():
        for name in latencies:
            started = time.perf_counter()
            (await client.get(name.split()[1])).raise_for_status()
            latencies[name].append(time.perf_counter() - started)
        await asyncio.sleep(0.1)
    return {
        name: {k: v for k, v in percentiles(values, 1.0).items() if k != "throughput_rps"}
        for name, values in latencies.items()
    }


async def model_load(
    client: httpx.AsyncClient, model: str, path: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Raw single-stream answers and the batching engine in a process of their own, then the
    same answers served one at a time, then ``--streams`` at once. Nothing of llama.cpp runs in
    this client process: its threads keep spinning after each answer and would steal the
    server's cores."""
    await stream_one(client, model, "Hi", 4)  # loads the model in the server
    local = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--local", model, "--streams", str(args.streams)]
            + ["--max-tokens", str(args.max_tokens)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    raw, raw_wall = local["raw"], local["raw_wall"]
    in_process_tokens, in_process_wall = local["in_process_tokens"], local["in_process_wall"]
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.streams)]
    served = []
    started = time.perf_counter()
    for prompt in prompts:
        served.append(await stream_one(client, model, prompt, args.max_tokens))
    served_wall = time.perf_counter() - started
    steps_before = await metric(client, "pasar_batch_sequences_count", model)
    done = asyncio.Event()
    probing = asyncio.create_task(probe(client, done))
    started = time.perf_counter()
    together = await asyncio.gather(
        *(stream_one(client, model, p, args.max_tokens) for p in prompts)
    )
    wall = time.perf_counter() - started
    done.set()
    endpoints = await probing
    steps = await metric(client, "pasar_batch_sequences_count", model) - steps_before
    raw_summary = summary(raw, raw_wall)
    served_summary = summary(served, served_wall)
    concurrent = summary(together, wall)
    weights_gb = path.stat().st_size / 1e9
    raw_rate = raw_summary["generation_tokens_per_s_per_answer"]
    return {
        "weights_bytes": path.stat().st_size,
        "raw_llamacpp_single_stream": raw_summary,
        "served_single_stream": served_summary,
        f"engine_in_process_{args.streams}_at_once": {
            "completion_tokens": in_process_tokens,
            "seconds": round(in_process_wall, 3),
            "tokens_per_s": round(in_process_tokens / in_process_wall, 1),
        },
        f"served_{args.streams}_streams": concurrent,
        "endpoints_during_generation": endpoints,
        "ratios": {
            "single_stream_served_vs_raw": ratio(
                served_summary["tokens_per_s"], raw_summary["tokens_per_s"]
            ),
            "single_stream_generation_served_vs_raw": ratio(
                served_summary["generation_tokens_per_s_per_answer"],
                raw_summary["generation_tokens_per_s_per_answer"],
            ),
            f"{args.streams}_streams_served_vs_raw_single_stream": ratio(
                concurrent["tokens_per_s"], raw_summary["tokens_per_s"]
            ),
            f"{args.streams}_at_once_in_process_vs_raw_single_stream": ratio(
                in_process_tokens / in_process_wall, raw_summary["tokens_per_s"]
            ),
        },
        # Weights read per second: each decoding step reads every weight once.
        "weights_read_gb_per_s": {
            "batch_1": round(weights_gb * (raw_rate or 0), 2),
            f"{args.streams}_streams": round(weights_gb * steps / wall, 2),
            "decoding_steps": int(steps),
            "mean_sequences_per_step": round(concurrent["completion_tokens"] / steps, 2)
            if steps
            else None,
        },
    }


def local_runs(model: str, streams: int, max_tokens: int) -> dict[str, Any]:
    """``--local``: raw llama-cpp-python one answer at a time, then pasar's batching engine
    with every answer at once (no HTTP, no SSE, no store), in this process."""
    path = find_gguf(model)
    penalty = CARDS[model].repeat_penalty if model in CARDS else 1.0
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(streams)]
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=2048, n_threads=os.cpu_count(), verbose=False)
    raw_one(llm, "Hi", 4, penalty)  # warm
    started = time.perf_counter()
    raw = [raw_one(llm, prompt, max_tokens, penalty) for prompt in prompts]
    raw_wall = time.perf_counter() - started
    llm.close()
    engine = LlamaCppEngine(
        model, str(path), n_threads=os.cpu_count(), parallel=streams, repeat_penalty=penalty
    )
    engine.chat([{"role": "user", "content": "Hi"}], max_tokens=4)
    started = time.perf_counter()
    batched = engine.batch(
        [[{"role": "user", "content": p}] for p in prompts], max_tokens=max_tokens
    )
    in_process_wall = time.perf_counter() - started
    engine.close()
    return {
        "raw": raw,
        "raw_wall": raw_wall,
        "in_process_tokens": sum(r.usage.completion_tokens for r in batched),
        "in_process_wall": in_process_wall,
    }


async def run(args: argparse.Namespace, base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=base, timeout=60, limits=httpx.Limits(max_connections=args.concurrency)
    ) as client:
        first = (
            await client.post(
                "/v1/chat/completions",
                json={
                    "model": MODEL,
                    "messages": [{"role": "user", "content": "Hi"}],
                    "temperature": 0,
                    "max_tokens": 8,
                },
            )
        ).json()

        async def feedback(c: httpx.AsyncClient, i: int) -> httpx.Response:
            return await c.post(
                "/v1/feedback",
                json={"message_id": first["id"], "rating": "up" if i % 2 else "down"},
            )

        async def models(c: httpx.AsyncClient, i: int) -> httpx.Response:
            return await c.get("/v1/models")

        async def health(c: httpx.AsyncClient, i: int) -> httpx.Response:
            return await c.get("/health")

        async def conversations(c: httpx.AsyncClient, i: int) -> httpx.Response:
            return await c.get("/v1/conversations?limit=20")

        report: dict[str, Any] = {"libraries": library_versions()}
        for name, request in [
            ("POST /v1/feedback", feedback),
            ("GET /v1/models", models),
            ("GET /health", health),
            ("GET /v1/conversations", conversations),
        ]:
            print(f"{name} x {args.requests} ...", file=sys.stderr)
            report[name] = await burst(client, request, args.requests, args.concurrency)
        report["models"] = {}
        for model in args.models:
            path = find_gguf(model)
            print(f"{model}: raw and served, 1 then {args.streams} streams ...", file=sys.stderr)
            report["models"][model] = await model_load(client, model, path, args)
        return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(CARDS),
        help="models to load (default: every embedded model)",
    )
    parser.add_argument(
        "--streams", type=int, default=8, help="concurrent streams, and the server's PASAR_PARALLEL"
    )
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serve_load.json")
    parser.add_argument("--local", help=argparse.SUPPRESS)  # the raw runs' own process
    args = parser.parse_args()
    if args.local:
        print(json.dumps(local_runs(args.local, args.streams, args.max_tokens)))
        return

    home = Path(tempfile.mkdtemp(prefix="pasar-load-"))
    port = 18000 + os.getpid() % 1000
    bandwidth = memory_bandwidth_gb_s()  # before the server loads anything
    proc = start_server(home, port, args.streams)
    try:
        report = asyncio.run(run(args, f"http://127.0.0.1:{port}"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    report["memory_read_bandwidth_gb_s"] = round(bandwidth, 1)
    report["settings"] = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "streams": args.streams,
        "max_tokens": args.max_tokens,
        "store": "sqlite (WAL, synchronous=FULL)",
        "cores": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
