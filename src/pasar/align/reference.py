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
import torch.utils.checkpoint
from tqdm.auto import tqdm
from trl.trainer.utils import selective_log_softmax


def token_logps(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """log p(token t | tokens < t) for t = 1..T-1: a (B, T-1) tensor."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]  # (B, T-1, V)
    return selective_log_softmax(logits, input_ids[:, 1:])  # (B, T-1)


def _head_logps(
    hidden: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    logits = torch.nn.functional.linear(hidden, weight, bias).float()  # (n, V)
    return logits.gather(-1, targets[:, None])[:, 0] - torch.logsumexp(logits, dim=-1)  # (n,)


def completion_logps(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    mask: torch.Tensor,
    *,
    output_head: Any,
    chunk: int = 1024,
) -> torch.Tensor:
    """Like ``token_logps`` on the positions where ``mask`` (B, T-1) is 1 (0 elsewhere), without
    ever holding the (B, T, V) logits: the forward stops at the last hidden state, and the output
    layer and log-softmax run on completion tokens only, ``chunk`` at a time, recomputed in the
    backward pass (activation checkpointing). On SmolLM2 (V = 49,152) that is the largest
    tensor of a step. The forward still goes through ``model`` itself, so DDP wrappers work.
    """
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        logits_to_keep=1,
        output_hidden_states=True,
        use_cache=False,
    )
    hidden = out.hidden_states[-1][:, :-1]  # (B, T-1, H): position t predicts token t+1
    selected = mask.bool()  # (B, T-1)
    h, y = hidden[selected], input_ids[:, 1:][selected]  # (N, H), (N,)
    pieces = [
        torch.utils.checkpoint.checkpoint(
            _head_logps,
            h[i : i + chunk],
            y[i : i + chunk],
            output_head.weight,
            output_head.bias,
            use_reentrant=False,
        )
        for i in range(0, len(y), chunk)
    ]
    logps = torch.zeros(selected.shape, dtype=torch.float32, device=hidden.device)  # (B, T-1)
    if pieces:
        logps = logps.index_put((selected,), torch.cat(pieces))
    return logps


def chunked_matches_full(model: Any, batch: dict[str, torch.Tensor], output_head: Any) -> bool:
    """Whether ``completion_logps`` reproduces the model's own logits on a batch.

    It would not for models whose logits are more than output_head(last hidden state), e.g.
    with logit soft-capping or scaling; those train with the plain path.
    """
    mask = batch["completion_mask"][:, 1:].bool()
    with torch.no_grad():
        try:
            chunked = completion_logps(
                model, batch["input_ids"], batch["attention_mask"], mask, output_head=output_head
            )
        except (TypeError, ValueError):  # a model that does not take logits_to_keep
            return False
        full = token_logps(model, batch["input_ids"], batch["attention_mask"]).float()
    return bool(torch.allclose(chunked[mask], full[mask], atol=1e-4))


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
