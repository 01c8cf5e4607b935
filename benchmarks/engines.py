"""Engine speed on the embedded models, and pasar's overhead over raw llama.cpp.

    .venv/bin/python benchmarks/engines.py [--repeats 3] [--max-tokens 64] [--models M ...]

The headline, for every embedded model: the ratio of raw ``llama_cpp.Llama``'s wall time to
pasar's llamacpp engine's on identical work (same file, threads and repetition penalty, same
prompts, same greedy tokens), for whole answers (``chat``) and streams, the stream split into
prompt (time to first token) and generation (the rest); runs interleaved so that machine noise
hits both alike, each run on a reset context (no prompt-cache hit). Target: >= 0.95 (under 5%
overhead). Each model's generation speed is set
against this machine's ceiling: measured memory bandwidth / bytes of weights read per token.
Then, on the 135M model, each engine
(pasar's llamacpp, hf and http engines) streams the same greedy answers and reports prompt
tokens/s (prompt tokens / time to first token) and generation tokens/s (later tokens / the
rest of the time). Prompts are product questions built from the
real retail catalogue in ../shared/data/retail/db.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gguf
import httpx
import llama_cpp
import torch

from pasar.config import Settings
from pasar.evaluate.scorecard import library_versions
from pasar.models.embedded import CARDS, find_embedded_gguf
from pasar.models.engine import Engine
from pasar.models.llamacpp import LlamaCppEngine
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


def overhead_ratio(model: str, prompts: list, max_tokens: int, repeats: int) -> dict[str, Any]:
    """pasar's llamacpp engine against raw llama_cpp.Llama on identical greedy work: the same
    file, threads and repetition penalty (the model card's), runs interleaved."""
    pasar = load_engine(model, n_ctx=2048)
    assert isinstance(pasar, LlamaCppEngine)
    raw = llama_cpp.Llama(
        model_path=pasar.path, n_ctx=2048, n_threads=pasar.llm.n_threads, verbose=False
    )
    params = {
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "top_p": 1.0,
        "top_k": 0,
        "min_p": 0.0,
        "repeat_penalty": pasar.repeat_penalty,
    }
    keys = ("chat", "stream", "stream_prompt", "stream_generation")
    times: dict[str, dict[str, float]] = {
        side: dict.fromkeys(keys, 0.0) for side in ("pasar", "raw")
    }
    tokens = {"pasar": 0, "raw": 0}

    def timed_stream(side: str, chunks: Any, text_of: Any) -> None:
        started = time.perf_counter()
        first = None
        for chunk in chunks:
            if first is None and text_of(chunk):
                first = time.perf_counter()
        end = time.perf_counter()
        first = first or end
        times[side]["stream"] += end - started
        times[side]["stream_prompt"] += first - started
        times[side]["stream_generation"] += end - first

    def run_raw(messages: list, mode: str) -> None:
        raw.reset()  # no prompt-cache hit: the prompt is processed in every timed run
        if mode == "chat":
            started = time.perf_counter()
            out: Any = raw.create_chat_completion(messages, **params)
            times["raw"]["chat"] += time.perf_counter() - started
            tokens["raw"] += out["usage"]["completion_tokens"]
        else:
            chunks = raw.create_chat_completion(messages, stream=True, **params)
            timed_stream("raw", chunks, lambda c: c["choices"][0]["delta"].get("content"))

    def run_pasar(messages: list, mode: str) -> None:
        pasar.llm.reset()
        if mode == "chat":
            started = time.perf_counter()
            answer = pasar.chat(messages, max_tokens=max_tokens)
            times["pasar"]["chat"] += time.perf_counter() - started
            tokens["pasar"] += answer.usage.completion_tokens
        else:
            timed_stream("pasar", pasar.stream(messages, max_tokens=max_tokens), lambda c: c.text)

    for rep in range(repeats):
        for i, messages in enumerate(prompts):
            for mode in ("chat", "stream"):
                # Alternate who goes first, so cache and frequency effects fall on both.
                first, second = (run_raw, run_pasar) if (rep + i) % 2 == 0 else (run_pasar, run_raw)
                first(messages, mode)
                second(messages, mode)
    threads = pasar.llm.n_threads
    path = pasar.path
    pasar.close()
    raw.close()
    assert tokens["pasar"] == tokens["raw"], "pasar and raw llama.cpp generated different tokens"
    # Every stream's first token ends its prompt phase; the others are generation. A base model
    # under a chat template may end every answer at once: then there is no generation to time.
    generated = tokens["pasar"] - repeats * len(prompts)
    seconds = times["pasar"]["stream_generation"]
    generation = generated / seconds if generated > 0 and seconds > 0 else None
    per_token = weight_bytes_per_token(path)
    return {
        "threads": threads,
        "weight_bytes_per_token": per_token,
        "generation_tokens_per_s": round(generation, 1) if generation else None,
        # What generation would reach if reading the weights were all it did.
        "weight_read_gb_s": round(generation * per_token / 1e9, 2) if generation else None,
        "repeat_penalty": pasar.repeat_penalty,
        "completion_tokens_each": tokens["pasar"],
        "seconds": {k: {m: round(t, 3) for m, t in v.items()} for k, v in times.items()},
        # raw time / pasar time: 1.0 = no overhead; >= 0.95 is the target.
        **{f"ratio_{k}": ratio(times["raw"][k], times["pasar"][k]) for k in keys},
    }


def ratio(raw: float, pasar: float) -> float | None:
    return round(raw / pasar, 3) if pasar else None


def write_report(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def memory_bandwidth_gb_s(threads: int, gib: int = 1, repeats: int = 5) -> float:
    """This machine's memory read bandwidth: the best of a few sums over a buffer far larger
    than any cache, on as many threads as llama.cpp uses."""
    torch.set_num_threads(threads)
    data = torch.ones(gib * 2**30 // 4)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        data.sum()
        best = min(best, time.perf_counter() - started)
    return data.numel() * 4 / best / 1e9


def weight_bytes_per_token(path: str) -> int:
    """Bytes of weights llama.cpp reads to generate one token: every tensor once, except that
    of the token embedding table only one row is read when the output layer has its own
    matrix (when they are tied, the table is read whole as the output layer)."""
    sizes = {t.name: int(t.n_bytes) for t in gguf.GGUFReader(path).tensors}
    if "output.weight" in sizes:
        sizes.pop("token_embd.weight", None)
    return sum(sizes.values())


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


def measure_engines(
    report: dict[str, Any], gguf: Path, prompts: list, max_tokens: int, hf_prompts: int
) -> None:
    """Each engine (pasar's llamacpp, http and hf) on the 135M model, into report["engines"]."""
    print("llamacpp engine ...", file=sys.stderr)
    with load_engine("smollm2-135m-instruct") as engine:
        report["engines"]["llamacpp"] = summarise(measure_engine(engine, prompts, max_tokens))
    print("http engine (llama_cpp.server on loopback) ...", file=sys.stderr)
    proc, url = start_http_server(gguf)
    try:
        with load_engine(url) as engine:
            report["engines"]["http"] = summarise(measure_engine(engine, prompts, max_tokens))
    finally:
        proc.terminate()
    print("hf engine ...", file=sys.stderr)
    with load_engine("smollm2-135m-instruct", engine="hf") as engine:
        report["engines"]["hf"] = summarise(
            measure_engine(engine, prompts[:hf_prompts], max_tokens)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=8, help="catalogue prompts per engine")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the overhead runs")
    parser.add_argument("--hf-prompts", type=int, default=3, help="prompts for the slow hf engine")
    parser.add_argument(
        "--models", nargs="+", default=list(CARDS), help="models of the overhead runs"
    )
    parser.add_argument(
        "--overhead-prompts", type=int, default=4, help="prompts per model in the overhead runs"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/engines.json")
    parser.add_argument(
        "--overhead-only",
        action="store_true",
        help="only the overhead runs of --models, merged into --out's other models and engines",
    )
    args = parser.parse_args()

    gguf = find_embedded_gguf(Path.home() / ".pasar")
    assert gguf, "embedded model missing: run scripts/setup"
    prompts = catalogue_prompts(args.prompts)
    report: dict[str, Any] = {
        "model": "smollm2-135m-instruct",
        "max_tokens": args.max_tokens,
        "prompts": len(prompts),
        "libraries": library_versions(),
        "engines": {},
        "overhead_vs_raw_llamacpp": {},
    }
    if args.overhead_only and args.out.exists():
        earlier = json.loads(args.out.read_text())
        report["engines"] = earlier.get("engines", {})
        report["overhead_vs_raw_llamacpp"] = earlier.get("overhead_vs_raw_llamacpp", {})

    threads = Settings().threads or os.cpu_count() or 1  # what load_engine gives llama.cpp
    bandwidth = memory_bandwidth_gb_s(threads)
    report["memory_bandwidth_gb_s"] = {"threads": threads, "measured": round(bandwidth, 2)}
    for model in args.models:
        print(f"overhead: pasar llamacpp vs raw llama_cpp.Llama, {model} ...", file=sys.stderr)
        over = overhead_ratio(
            model, prompts[: args.overhead_prompts], args.max_tokens, args.repeats
        )
        ceiling = bandwidth * 1e9 / over["weight_bytes_per_token"]
        over["bandwidth_ceiling_tokens_per_s"] = round(ceiling, 1)
        generation = over["generation_tokens_per_s"]
        over["fraction_of_ceiling"] = round(generation / ceiling, 3) if generation else None
        report["overhead_vs_raw_llamacpp"][model] = over
        write_report(args.out, report)  # after each model: a crash keeps what was measured

    if not args.overhead_only:
        measure_engines(report, gguf, prompts, args.max_tokens, args.hf_prompts)
    write_report(args.out, report)
    print(json.dumps(report, indent=2))
    shown = (
        "ratio_chat",
        "ratio_stream",
        "ratio_stream_prompt",
        "ratio_stream_generation",
        "generation_tokens_per_s",
        "bandwidth_ceiling_tokens_per_s",
        "fraction_of_ceiling",
    )
    for model, over in report["overhead_vs_raw_llamacpp"].items():
        # raw time / pasar time (>= 0.95 is the target); generation against its ceiling
        print(model, json.dumps({k: over[k] for k in shown}), file=sys.stderr)


if __name__ == "__main__":
    main()
