"""BNF against TRL's DPOTrainer on the embedded model: seconds per step and peak memory.

    .venv/bin/python benchmarks/align_step.py [--steps 3] [--batch-pairs 4] [--seq-len 256]

SmolLM2-135M-Instruct (dequantised to fp32), the same preference pairs built from the retail
catalogue, the same batch (4 pairs = 8 sequences) and sequence length, fp32, on the CPU. BNF
uses precomputed per-token reference log-probs (one model in memory); DPO uses TRL's default
reference model. Three settings: full fine-tuning and LoRA (r=16, all linear layers) without
gradient checkpointing, and full fine-tuning with gradient checkpointing on both sides (TRL's
default for DPO). Each run is its own process, so peak RSS is its own; the first step is a
warm-up and is not timed. Writes benchmarks/results/align_step.json with the ratios BNF / DPO.
Targets: time ≤ 0.75×, peak memory ≤ 0.7×.
"""

from __future__ import annotations

import argparse
import copy
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
DB = ROOT.parent / "shared" / "data" / "retail" / "db.json"


def preference_pairs(n: int) -> list[dict[str, Any]]:
    """Prompts about real products; chosen lists the options, rejected repeats itself."""
    products = list(json.loads(DB.read_text())["products"].values())
    rows = []
    for i in range(n):
        product = products[i % len(products)]
        variant = list(product["variants"].values())[i % len(product["variants"])]
        options = ", ".join(f"{k} {v}" for k, v in variant["options"].items())
        good = (f"{product['name']} with {options}. " * 12).strip()
        bad = (f"{product['name']} {product['name']} great great. " * 12).strip()
        rows.append(
            {
                "prompt": [
                    {
                        "role": "user",
                        "content": f"Describe the {product['name']} ({options}) for our shop.",
                    }
                ],
                "chosen": [{"role": "assistant", "content": good}],
                "rejected": [{"role": "assistant", "content": bad}],
            }
        )
    return rows


def one_run(
    method: str, lora: bool, checkpointing: bool, steps: int, pairs: int, seq_len: int, out: Path
) -> dict[str, Any]:
    """Runs inside a fresh process."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback

    from pasar.models.weights import load_trainable

    torch.manual_seed(0)
    model, tokenizer = load_trainable("smollm2-135m-instruct")
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    data = Dataset.from_list(preference_pairs(pairs * (steps + 1)))
    common = dict(
        output_dir=str(out),
        max_steps=steps + 1,
        learning_rate=1e-6,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=checkpointing,
        seed=0,
        max_length=seq_len,
        remove_unused_columns=False,
    )
    peft = None
    if lora:
        from peft import LoraConfig

        peft = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    step_times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.started = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            step_times.append(time.perf_counter() - self.started)

    if method == "bnf":
        from pasar.align.bnf import BNFConfig, BNFTrainer

        # The same pairs, as 2 × pairs unpaired sequences per step.
        args = BNFConfig(
            **common,
            per_device_train_batch_size=2 * pairs,
            per_device_eval_batch_size=2 * pairs,
            ref="precompute",
            ref_cache_dir=str(out / "cache"),
            plot=False,
        )
        trainer = BNFTrainer(
            model,
            args,
            train_dataset=data,
            processing_class=tokenizer,
            peft_config=peft,
            callbacks=[Timer()],
        )
    else:
        from trl import DPOConfig, DPOTrainer

        args = DPOConfig(**common, per_device_train_batch_size=pairs)
        # TRL would load the reference from the model's path; a GGUF has none, so hand it the
        # same frozen copy it would have built (with LoRA it uses the adapter switched off).
        trainer = DPOTrainer(
            model=model,
            ref_model=None if lora else copy.deepcopy(model),
            args=args,
            train_dataset=data,
            processing_class=tokenizer,
            peft_config=peft,
            callbacks=[Timer()],
        )
    trainer.train()
    timed = step_times[1:]  # the first step warms up allocators and caches
    return {
        "method": method,
        "lora": lora,
        "timed_steps": len(timed),
        "seconds_per_step": round(sum(timed) / len(timed), 3),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "rss_after_load_gib": round(rss_loaded, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps (plus one warm-up)")
    parser.add_argument("--batch-pairs", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/align_step.json")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "LORA"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        method, mode = args.child
        with tempfile.TemporaryDirectory() as tmp:
            result = one_run(
                method,
                mode.startswith("lora"),
                mode.endswith("ckpt"),
                args.steps,
                args.batch_pairs,
                args.seq_len,
                Path(tmp),
            )
        print("RESULT " + json.dumps(result))
        return

    # full / lora: no gradient checkpointing on either side (the same settings, CPU-friendly);
    # full_ckpt: gradient checkpointing on both, which is TRL's default for DPO.
    modes = ("full", "lora", "full_ckpt")
    runs = {}
    for mode in modes:
        for method in ("bnf", "dpo"):
            print(f"{method} {mode} ...", file=sys.stderr)
            command = [
                sys.executable,
                __file__,
                "--child",
                method,
                mode,
                "--steps",
                str(args.steps),
                "--batch-pairs",
                str(args.batch_pairs),
                "--seq-len",
                str(args.seq_len),
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                raise RuntimeError(f"{method} {mode} failed:\n{done.stderr[-3000:]}")
            runs[f"{method}_{mode}"] = json.loads(lines[0][7:])
    report: dict[str, Any] = {
        "libraries": library_versions(),
        "model": "smollm2-135m-instruct (fp32)",
        "batch_pairs": args.batch_pairs,
        "seq_len": args.seq_len,
        "runs": runs,
        "ratios_bnf_over_dpo": {},
    }
    for mode in modes:
        bnf, dpo = runs[f"bnf_{mode}"], runs[f"dpo_{mode}"]
        report["ratios_bnf_over_dpo"][mode] = {
            "time": round(bnf["seconds_per_step"] / dpo["seconds_per_step"], 3),
            "peak_memory": round(bnf["peak_rss_gib"] / dpo["peak_rss_gib"], 3),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
