"""Load on `pasar serve` over loopback: feedback writes, non-generating endpoints, generation.

    .venv/bin/python benchmarks/serve_load.py [--requests 2000] [--concurrency 16] [--streams 4]

Starts a real `pasar serve` process (SQLite store with durable commits, in a temporary
PASAR_HOME), sends bounded bursts of concurrent requests from one asyncio client, and reports
p50/p99 latency and throughput per endpoint. Generation: `--streams` concurrent streamed
chat completions of 64 greedy tokens, against raw llama_cpp.Llama answering the same prompts
one after another in this process (one llama.cpp context generates one sequence at a time
either way), as a throughput ratio. Client and server share the machine's cores.
Writes benchmarks/results/serve_load.json.
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

from pasar.evaluate.scorecard import library_versions
from pasar.models.embedded import find_embedded_gguf

ROOT = Path(__file__).resolve().parent.parent
MODEL = "smollm2-135m-instruct"
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


def start_server(home: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pasar.cli.main", "serve", "--port", str(port)],
        # The per-client rate limit would otherwise refuse most of a single client's burst.
        env={**os.environ, "PASAR_HOME": str(home), "PASAR_RATE_LIMIT_PER_MINUTE": "100000000"},
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


async def generation(client: httpx.AsyncClient, streams: int, max_tokens: int) -> dict[str, float]:
    async def one(prompt: str) -> int:
        tokens = 0
        request = {
            "model": MODEL,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        async with client.stream(
            "POST", "/v1/chat/completions", json=request, timeout=300
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"usage"' in line:
                    tokens = json.loads(line[6:])["usage"]["completion_tokens"]
        return tokens

    started = time.perf_counter()
    tokens = await asyncio.gather(*(one(PROMPTS[i % len(PROMPTS)]) for i in range(streams)))
    wall = time.perf_counter() - started
    return {
        "streams": streams,
        "completion_tokens": sum(tokens),
        "seconds": round(wall, 3),
        "tokens_per_s": round(sum(tokens) / wall, 1),
    }


def raw_generation(streams: int, max_tokens: int) -> dict[str, float]:
    llm = llama_cpp.Llama(
        model_path=str(find_embedded_gguf(Path.home())), n_ctx=2048, verbose=False
    )
    params = {"max_tokens": max_tokens, "temperature": 0.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0}
    started = time.perf_counter()
    tokens = 0
    for i in range(streams):
        messages = [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]
        out: Any = llm.create_chat_completion(messages, **params)
        tokens += out["usage"]["completion_tokens"]
    wall = time.perf_counter() - started
    return {
        "streams": streams,
        "completion_tokens": tokens,
        "seconds": round(wall, 3),
        "tokens_per_s": round(tokens / wall, 1),
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
        print(f"generation: {args.streams} concurrent streams ...", file=sys.stderr)
        report["generation_served"] = await generation(client, args.streams, args.max_tokens)
        return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument("--streams", type=int, default=4, help="concurrent generation streams")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serve_load.json")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="pasar-load-"))
    port = 18000 + os.getpid() % 1000
    proc = start_server(home, port)
    try:
        report = asyncio.run(run(args, f"http://127.0.0.1:{port}"))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print("generation: raw llama.cpp, same prompts ...", file=sys.stderr)
    report["generation_raw_llamacpp"] = raw_generation(args.streams, args.max_tokens)
    report["generation_ratio_served_vs_raw"] = round(
        report["generation_served"]["tokens_per_s"]
        / report["generation_raw_llamacpp"]["tokens_per_s"],
        3,
    )
    report["settings"] = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "store": "sqlite (WAL, synchronous=FULL)",
        "cores": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
