"""Bits per byte: a language model's loss on held-out text, independent of its tokenizer.

    bits_per_byte(model, tokenizer, texts, window=1024)

Each text is tokenised, preceded by the tokenizer's document-start token (``<|endoftext|>`` for
SmolLM2 and pasar's tokenizers) so that its first token is predicted too, and cut into windows
of ``window`` tokens; the summed negative log-likelihood (nats) of every text token is divided
by ln 2 and by the text's UTF-8 bytes. Two models with different vocabularies compare fairly:
each pays for the same bytes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def total_nll(model: Any, ids: list[int], *, window: int) -> float:
    """Negative log-likelihood in nats of ``ids[1:]`` given what precedes each, in windows of
    ``window`` tokens (each window after the first starts from the previous one's last token)."""
    import torch

    total = 0.0
    start = 0
    with torch.no_grad():
        while start < len(ids) - 1:
            chunk = torch.tensor([ids[start : start + window]])
            logits = model(chunk).logits[0, :-1].float()
            targets = chunk[0, 1:]
            total += torch.nn.functional.cross_entropy(logits, targets, reduction="sum").item()
            start += window - 1
    return total


def bits_per_byte(model: Any, tokenizer: Any, texts: list[str], *, window: int = 1024) -> float:
    if window < 2:
        raise ValueError(f"window={window}: needs at least 2 tokens")
    start = "<|endoftext|>" if "<|endoftext|>" in tokenizer.get_vocab() else tokenizer.bos_token
    if start is None:
        raise ValueError("the tokenizer has no <|endoftext|> or BOS token to start documents")
    start_id = tokenizer.convert_tokens_to_ids(start)
    nats, size = 0.0, 0
    for text in texts:
        ids = [start_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]
        nats += total_nll(model, ids, window=window)
        size += len(text.encode("utf-8"))
    if not size:
        raise ValueError("no text to measure bits per byte on")
    return nats / math.log(2) / size


def capped_bytes(texts: list[str], max_bytes: int) -> list[str]:
    """The first texts up to ``max_bytes`` UTF-8 bytes (the last one cut at a character)."""
    out: list[str] = []
    total = 0
    for text in texts:
        data = text.encode("utf-8")
        if total + len(data) > max_bytes:
            cut = data[: max_bytes - total].decode("utf-8", errors="ignore")
            return [*out, cut] if cut else out
        out.append(text)
        total += len(data)
    return out


def bpb_report(
    model: str,
    data: Path,
    *,
    english: Path | None,
    max_bytes: int = 40_000,
    window: int = 1024,
) -> dict[str, Any]:
    """Bits per byte of ``model`` on each language's held-out text of ``data`` (the output of
    ``pasar pretrain data``), at most ``max_bytes`` per language, English included."""
    from tqdm import tqdm

    from pasar.models.weights import load_trainable
    from pasar.pretrain.data import read_splits

    texts = read_splits(data, "heldout", english)
    weights, tokenizer = load_trainable(model)
    weights.eval()
    rows = {}
    for lang, docs in tqdm(texts.items(), desc="bits per byte", unit="language"):
        sample = capped_bytes(docs, max_bytes)
        rows[lang] = {
            "bits_per_byte": round(bits_per_byte(weights, tokenizer, sample, window=window), 4),
            "bytes": sum(len(t.encode("utf-8")) for t in sample),
        }
    return {"model": model, "data": str(data), "window": window, "languages": rows}
