"""Per-token log-probabilities of completions, and the reference model's, cached on disk.

TRL caches only a sequence's summed reference log-prob; BNF needs one per token. Computing
them once before training lets training hold a single model in memory; the cache is keyed
by the model's weights and the tokenized data, so a rerun (or a resume) reuses it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from trl.trainer.utils import selective_log_softmax


def token_logps(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """log p(token t | tokens < t) for t = 1..T-1: a (B, T-1) tensor."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]  # (B, T-1, V)
    return selective_log_softmax(logits, input_ids[:, 1:])  # (B, T-1)


def model_fingerprint(model: Any) -> str:
    """A cheap but weight-sensitive hash: shapes and the first values of every parameter."""
    digest = hashlib.sha256()
    for name, param in model.state_dict().items():
        flat = param.detach().reshape(-1)[:256].float().cpu()
        digest.update(f"{name}:{tuple(param.shape)}".encode())
        digest.update(flat.numpy().tobytes())
    return digest.hexdigest()[:16]


def data_fingerprint(
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    max_length: int | None,
) -> str:
    digest = hashlib.sha256(f"max_length={max_length}".encode())
    for prompt, completion in zip(prompt_ids, completion_ids, strict=True):
        digest.update(str((list(prompt), list(completion))).encode())
    return digest.hexdigest()[:16]


def precompute_reference(
    model: Any,
    examples: list[dict[str, Any]],
    collate: Any,
    *,
    cache_dir: Path,
    batch_size: int = 8,
) -> list[list[float]]:
    """The reference log-prob of every completion token of every example (cached on disk).

    ``examples`` carry ``prompt_ids``/``completion_ids``; ``collate`` is the trainer's collator.
    Returns one list per example, as long as its (possibly truncated) completion.
    """
    key = data_fingerprint(
        [e["prompt_ids"] for e in examples],
        [e["completion_ids"] for e in examples],
        getattr(collate, "max_length", None),
    )
    path = cache_dir / f"ref-{model_fingerprint(model)}-{key}.pt"
    if path.exists():
        cached: list[list[float]] = torch.load(path)
        return cached
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[list[float]] = []
    with torch.no_grad():
        for start in tqdm(
            range(0, len(examples), batch_size),
            desc="reference log-probs",
            unit="batch",
            disable=len(examples) <= batch_size,
        ):
            batch = collate(
                [
                    {k: e[k] for k in ("prompt_ids", "completion_ids", "label")}
                    for e in examples[start : start + batch_size]
                ]
            )
            logps = (
                token_logps(
                    model, batch["input_ids"].to(device), batch["attention_mask"].to(device)
                )
                .float()
                .cpu()
            )  # (b, T-1)
            mask = batch["completion_mask"][:, 1:].bool()  # (b, T-1)
            out += [row[m].tolist() for row, m in zip(logps, mask, strict=True)]
    model.train(was_training)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(out, tmp)
    os.replace(tmp, path)
    return out
