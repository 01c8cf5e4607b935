"""Every embedded model through every engine path that applies to it, as one JSON.

    .venv/bin/python benchmarks/engine_paths.py [--models M ...] [--out FILE]

For each model: llama.cpp answers a chat (greedy); transformers loads the same GGUF
(dequantised to fp32) and takes one LoRA training step on a short catalogue sentence (the loss
is finite and every LoRA matrix got a gradient). Records seconds, peak memory and library
versions. A path that fails is recorded with its error, not hidden.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from pasar.evaluate.scorecard import library_versions
from pasar.models.embedded import CARDS
from pasar.models.registry import load_engine

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "Red cotton T-shirt, crew neck, size M: Kaos katun merah, leher bulat, ukuran M."


def llamacpp_path(model: str) -> dict[str, Any]:
    started = time.perf_counter()
    with load_engine(model, n_ctx=1024) as engine:
        answer = engine.chat(
            [{"role": "user", "content": "Translate into Indonesian: red cotton T-shirt"}],
            max_tokens=24,
        )
    return {"ok": True, "seconds": round(time.perf_counter() - started, 1), "text": answer.text}


def transformers_lora_step(model: str) -> dict[str, Any]:
    from peft import LoraConfig, get_peft_model

    from pasar.models.weights import load_trainable

    started = time.perf_counter()
    network, tokenizer = load_trainable(model)
    loaded = time.perf_counter() - started
    lora = get_peft_model(
        network, LoraConfig(r=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    batch = tokenizer(SENTENCE, return_tensors="pt")
    started = time.perf_counter()
    loss = lora(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    step = time.perf_counter() - started
    grads = [p.grad for n, p in lora.named_parameters() if p.requires_grad and "lora_B" in n]
    return {
        "ok": bool(torch.isfinite(loss))
        and all(g is not None and g.abs().sum() > 0 for g in grads),
        "load_seconds": round(loaded, 1),
        "step_seconds": round(step, 2),
        "loss": round(float(loss), 3),
        "tokens": int(batch["input_ids"].shape[1]),
        "lora_matrices_with_gradient": len(grads),
        "architecture": network.config.model_type,
        "parameters": sum(p.numel() for p in network.parameters()),
    }


def attempt(function: Any, model: str) -> dict[str, Any]:
    try:
        return function(model)
    except Exception as exc:  # noqa: BLE001 - a failing path is a result to record
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}"[:500],
            "where": traceback.format_exc(limit=2)[-500:],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(CARDS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/engine_paths.json")
    args = parser.parse_args()
    report: dict[str, Any] = {"libraries": library_versions(), "models": {}}
    for model in args.models:
        print(f"{model} ...", file=sys.stderr)
        report["models"][model] = {
            "llamacpp": attempt(llamacpp_path, model),
            "transformers_lora_step": attempt(transformers_lora_step, model),
        }
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
