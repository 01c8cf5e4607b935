"""Engine speed on the embedded model, and pasar's overhead over raw llama.cpp.

    .venv/bin/python benchmarks/engines.py [--repeats 3] [--max-tokens 64] [--out FILE]

For each engine (pasar's llamacpp, hf and http engines, and raw ``llama_cpp.Llama`` as the
peer) it streams the same greedy answers to the same prompts and measures prompt tokens/s
(prompt tokens / time to first token) and generation tokens/s (later tokens / the rest of the
time). The headline is the ratio of raw llama.cpp's wall time to pasar's llamacpp engine's on
identical work (same prompts, same greedy tokens), runs interleaved so that machine noise hits
both alike. Target: >= 0.95 (under 5% overhead). Prompts are product questions built from the
real retail catalogue in ../shared/data/retail/db.json.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import llama_cpp

from pasar.models.embedded import find_embedded_gguf
from pasar.models.engine import Engine
from pasar.models.registry import load_engine

ROOT = Path(__file__).resolve().parent.parent
DB = ROOT.parent / "shared" / "data" / "retail" / "db.json"


def catalogue_prompts(n: int) -> list[list[dict[str, str]]]:
    """Questions about real products: name and variant options from the retail database."""
    products = list(json.loads(DB.read_text())["products"].values())[:n]
    prompts = []
    for product in products:
        variant = next(iter(product["variants"].values()))
        options = ", ".join(f"{k}: {v}" for k, v in variant["options"].items())
        prompts.append(
            [
                {
                    "role": "user",
                    "content": f"Write a short, appealing product description for an online shop. "
                    f"Product: {product['name']}. Options: {options}. Price: ${variant['price']}.",
                }
            ]
        )
    return prompts


def stream_timed(chunks: Any) -> dict[str, float]:
    started = time.perf_counter()
    first = None
    pieces = 0
    usage = None
    for chunk in chunks:
        if chunk.text and first is None:
            first = time.perf_counter()
        pieces += bool(chunk.text)
        usage = chunk.usage or usage
    end = time.perf_counter()
    completion = usage.completion_tokens if usage else pieces  # a piece is about a token
    first = first or end
    return {
        "completion_tokens": completion,
        "ttft_s": first - started,
        "gen_s": end - first,
        "total_s": end - started,
    }


def summarise(runs: list[dict[str, float]]) -> dict[str, float]:
    prompt = sum(r["prompt_tokens"] for r in runs)
    completion = sum(r["completion_tokens"] for r in runs)
    return {
        "requests": len(runs),
        "prompt_tokens_per_s": round(prompt / sum(r["ttft_s"] for r in runs), 1),
        "generation_tokens_per_s": round(
            (completion - len(runs)) / max(sum(r["gen_s"] for r in runs), 1e-9), 1
        ),
        "total_s": round(sum(r["total_s"] for r in runs), 3),
    }


def measure_engine(engine: Engine, prompts: list, max_tokens: int) -> list[dict[str, float]]:
    runs = []
    for messages in prompts:
        run = stream_timed(engine.stream(messages, max_tokens=max_tokens))
        # Counted after the timed run, so that the count does not warm llama.cpp's prompt cache
        # (the http engine's server reports no usage in streams).
        run["prompt_tokens"] = engine.chat(messages, max_tokens=1).usage.prompt_tokens
        runs.append(run)
    return runs


def overhead_ratio(gguf: Path, prompts: list, max_tokens: int, repeats: int) -> dict[str, Any]:
    """pasar's llamacpp engine against raw llama_cpp.Llama on identical greedy work."""
    pasar = load_engine("smollm2-135m-instruct", n_ctx=2048)
    raw = llama_cpp.Llama(model_path=str(gguf), n_ctx=2048, verbose=False)
    params = {
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "top_p": 1.0,
        "top_k": 0,
        "min_p": 0.0,
        "repeat_penalty": 1.0,
    }
    times: dict[str, dict[str, float]] = {
        "pasar": {"chat": 0.0, "stream": 0.0},
        "raw": {"chat": 0.0, "stream": 0.0},
    }
    tokens = {"pasar": 0, "raw": 0}

    def run_raw(messages: list, mode: str) -> None:
        started = time.perf_counter()
        if mode == "chat":
            out: Any = raw.create_chat_completion(messages, **params)
            tokens["raw"] += out["usage"]["completion_tokens"]
        else:
            for _ in raw.create_chat_completion(messages, stream=True, **params):
                pass
        times["raw"][mode] += time.perf_counter() - started

    def run_pasar(messages: list, mode: str) -> None:
        started = time.perf_counter()
        if mode == "chat":
            tokens["pasar"] += pasar.chat(messages, max_tokens=max_tokens).usage.completion_tokens
        else:
            for _ in pasar.stream(messages, max_tokens=max_tokens):
                pass
        times["pasar"][mode] += time.perf_counter() - started

    for rep in range(repeats):
        for i, messages in enumerate(prompts):
            for mode in ("chat", "stream"):
                # Alternate who goes first, so cache and frequency effects fall on both.
                first, second = (run_raw, run_pasar) if (rep + i) % 2 == 0 else (run_pasar, run_raw)
                first(messages, mode)
                second(messages, mode)
    assert tokens["pasar"] == tokens["raw"], "pasar and raw llama.cpp generated different tokens"
    return {
        "completion_tokens_each": tokens["pasar"],
        "seconds": {k: {m: round(t, 3) for m, t in v.items()} for k, v in times.items()},
        "ratio_chat": round(times["raw"]["chat"] / times["pasar"]["chat"], 3),
        "ratio_stream": round(times["raw"]["stream"] / times["pasar"]["stream"], 3),
    }


def start_http_server(gguf: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(300):
        try:
            httpx.get(f"{url}/models", timeout=1).raise_for_status()
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("llama_cpp.server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=8, help="catalogue prompts per engine")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the overhead runs")
    parser.add_argument("--hf-prompts", type=int, default=3, help="prompts for the slow hf engine")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/engines.json")
    args = parser.parse_args()

    gguf = find_embedded_gguf(Path.home() / ".pasar")
    assert gguf, "embedded model missing: run scripts/setup"
    prompts = catalogue_prompts(args.prompts)
    report: dict[str, Any] = {
        "model": "smollm2-135m-instruct",
        "max_tokens": args.max_tokens,
        "prompts": len(prompts),
        "engines": {},
    }

    print("overhead: pasar llamacpp vs raw llama_cpp.Llama ...", file=sys.stderr)
    report["overhead_vs_raw_llamacpp"] = overhead_ratio(
        gguf, prompts, args.max_tokens, args.repeats
    )

    print("llamacpp engine ...", file=sys.stderr)
    with load_engine() as engine:
        report["engines"]["llamacpp"] = summarise(measure_engine(engine, prompts, args.max_tokens))
    print("http engine (llama_cpp.server on loopback) ...", file=sys.stderr)
    proc, url = start_http_server(gguf)
    try:
        with load_engine(url) as engine:
            report["engines"]["http"] = summarise(measure_engine(engine, prompts, args.max_tokens))
    finally:
        proc.terminate()
    print("hf engine ...", file=sys.stderr)
    with load_engine(engine="hf") as engine:
        hf_runs = measure_engine(engine, prompts[: args.hf_prompts], args.max_tokens)
        report["engines"]["hf"] = summarise(hf_runs)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    over = report["overhead_vs_raw_llamacpp"]
    print(
        f"\npasar llamacpp / raw llama.cpp speed: chat {over['ratio_chat']:.3f}, "
        f"stream {over['ratio_stream']:.3f} (target >= 0.95)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
