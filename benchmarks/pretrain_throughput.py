"""pasar's pretraining loop against a plain Hugging Face Trainer, and against the machine's
matrix-multiply FLOP/s: tokens/s, achieved FLOP/s and peak memory.

    .venv/bin/python benchmarks/pretrain_throughput.py [--model llama-tiny] [--steps 10]
        [--seq-len 512] [--batch-size 8] [--out benchmarks/results/pretrain_throughput.json]

Same model (built from the config with the same seed, or a pretrained one to continue), same
rows (the shards' draw for each step, packed from NTREX's six languages with the model's
tokenizer), same batch, sequence length, optimiser (AdamW, betas 0.9/0.95) and precision (fp32
on a CPU, bf16 on a GPU). Each side runs in its own process, so peak RSS is its own; the first
step is warm-up and is not timed. The sides run in the order pasar, HF, HF, pasar (``--repeats
2``) and each keeps its best run, so a background load that comes and goes hurts neither.
FLOP/s are model FLOPs (6 per matmul weight per token plus attention, as
`pasar.pretrain.train.flops_per_token`); the matmul peak is the best of square fp32 (CPU) or
bf16 (GPU) products at the same thread count: the practical limit of the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pasar.evaluate.scorecard import library_versions

ROOT = Path(__file__).resolve().parent.parent
NTREX = ROOT.parent / "shared" / "data" / "ntrex"
LANGUAGES = {"th": "tha", "vi": "vie", "id": "ind", "ms": "msa", "tl": "fil", "en": "eng-US"}
TOKENIZER = "smollm2-135m-instruct"


def make_shards(tokenizer_name: str, out: Path) -> None:
    from pasar.models.weights import load_tokenizer
    from pasar.pretrain.shards import write_shards

    tokenizer = load_tokenizer(tokenizer_name)
    texts = {
        lang: (NTREX / f"newstest2019-ref.{name}.txt").read_text("utf-8").splitlines()
        for lang, name in LANGUAGES.items()
    }
    for split in ("train", "heldout"):
        write_shards(texts, tokenizer, out / split, progress=False)


def matmul_flops(seconds: float = 5.0) -> dict[str, Any]:
    """Best FLOP/s of square matrix products (fp32 CPU, bf16 GPU) over a few sizes."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    best: dict[str, Any] = {"flops_per_s": 0.0}
    for n in (1024, 2048, 4096) if device == "cpu" else (4096, 8192):
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        a @ b  # warm-up
        reps, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds / 3:
            a @ b
            reps += 1
        if device == "cuda":
            torch.cuda.synchronize()
        rate = 2 * n**3 * reps / (time.perf_counter() - began)
        if rate > best["flops_per_s"]:
            best = {"flops_per_s": round(rate), "size": n, "dtype": str(dtype).split(".")[-1]}
    best["threads"] = torch.get_num_threads()
    best["device"] = device
    return best


def run_pasar(args: argparse.Namespace, shards: Path, out: Path) -> dict[str, Any]:
    import torch

    from pasar.pretrain.train import PretrainConfig, train

    report = train(
        PretrainConfig(
            model=args.model,
            tokenizer=args.tokenizer,
            shards=shards,
            output_dir=out,
            seq_len=args.seq_len,
            batch_size=args.batch_size,
            max_steps=args.steps + 1,
            save_every=10**9,
            eval_every=10**9,
            eval_windows=1,
            mixed_precision="bf16" if torch.cuda.is_available() else "no",
        )
    )
    return {"tokens_per_s": report["tokens_per_s"], "flops_per_token": report["flops_per_token"]}


def run_hf_trainer(args: argparse.Namespace, shards: Path, out: Path) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from pasar.pretrain.shards import ShardSet, mix_weights
    from pasar.pretrain.train import build_model, flops_per_token

    model, _ = build_model(args.model, args.tokenizer, seed=0)
    data = ShardSet.open(shards / "train")
    weights = mix_weights(data.tokens, temperature=3.0, english_share=0.1)
    rows = [
        row[: args.seq_len].tolist()
        for step in range(args.steps + 1)
        for row in data.batch(
            step=step, rows=args.batch_size, seq_len=args.seq_len, weights=weights, seed=0
        )[0]
    ]
    dataset = Dataset.from_dict({"input_ids": rows, "labels": rows})
    times: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.began = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            times.append(time.perf_counter() - self.began)

    gpu = torch.cuda.is_available()
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(out),
            per_device_train_batch_size=args.batch_size,
            max_steps=args.steps + 1,
            learning_rate=3e-4,
            adam_beta2=0.95,
            weight_decay=0.1,
            lr_scheduler_type="cosine",
            save_strategy="no",
            report_to="none",
            logging_steps=10**9,
            dataloader_drop_last=True,
            bf16=gpu,
            use_cpu=not gpu,
            seed=0,
        ),
        train_dataset=dataset,
        callbacks=[StepTimer()],
    )
    trainer.train()
    timed = times[1:]
    return {
        "tokens_per_s": round(len(timed) * args.batch_size * args.seq_len / sum(timed), 1),
        "flops_per_token": flops_per_token(model, args.seq_len),
    }


def child(args: argparse.Namespace) -> None:
    """One side, in this process; prints its JSON result."""
    shards, work = Path(args.shards), Path(args.work)
    result = (run_pasar if args.child == "pasar" else run_hf_trainer)(args, shards, work)
    result["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    result["torch_threads"] = __import__("torch").get_num_threads()
    result["flops_per_s"] = round(result["tokens_per_s"] * result["flops_per_token"])
    print("RESULT " + json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="llama-tiny", help="a Llama config or a model name")
    parser.add_argument("--tokenizer", default=TOKENIZER, help="for a config: its tokenizer")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (one more is warm-up)")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="runs per side (ABBA order)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/pretrain_throughput.json"))
    parser.add_argument("--child", choices=["pasar", "hf"], help=argparse.SUPPRESS)
    parser.add_argument("--shards", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    from pasar.models.weights import load_tokenizer
    from pasar.pretrain.train import config_path

    tokenizer = args.tokenizer if config_path(args.model) else args.model
    with tempfile.TemporaryDirectory() as tmp:
        make_shards(tokenizer, Path(tmp) / "shards")
        runs: dict[str, list[dict[str, Any]]] = {"pasar": [], "hf": []}
        order = [("pasar", "hf") if i % 2 == 0 else ("hf", "pasar") for i in range(args.repeats)]
        for n, side in enumerate(side for pair in order for side in pair):
            command = [
                sys.executable, __file__, "--child", side, "--model", args.model,
                "--tokenizer", args.tokenizer, "--steps", str(args.steps),
                "--seq-len", str(args.seq_len), "--batch-size", str(args.batch_size),
                "--shards", str(Path(tmp) / "shards"), "--work", str(Path(tmp) / f"{side}-{n}"),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{side} failed:\n{done.stderr[-3000:]}")
            line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
            runs[side].append(json.loads(line.removeprefix("RESULT ")))
    results = {side: max(r, key=lambda x: x["tokens_per_s"]) for side, r in runs.items()}
    peak = matmul_flops()
    report = {
        "libraries": library_versions(),
        "model": args.model,
        "vocab_size": len(load_tokenizer(tokenizer)),
        "steps_timed": args.steps,
        "seq_len": args.seq_len,
        "batch_size": args.batch_size,
        "pasar": results["pasar"],
        "hf_trainer": results["hf"],
        "all_runs_tokens_per_s": {side: [x["tokens_per_s"] for x in r] for side, r in runs.items()},
        "matmul_peak": peak,
        "tokens_per_s_ratio_pasar_over_hf": round(
            results["pasar"]["tokens_per_s"] / results["hf"]["tokens_per_s"], 3
        ),
        "pasar_share_of_matmul_peak": round(
            results["pasar"]["flops_per_s"] / peak["flops_per_s"], 3
        ),
        "hf_share_of_matmul_peak": round(results["hf"]["flops_per_s"] / peak["flops_per_s"], 3),
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
