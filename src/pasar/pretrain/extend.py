"""Vocabulary extension: add a regional BPE's tokens to a model's tokenizer and embeddings.

    merges = extension_merges(base_tokenizer, regional_tokenizer, max_new=8000)
    tokenizer = extended_tokenizer(base_tokenizer, merges, work_dir)
    extend_embeddings(model, base_tokenizer, tokenizer, [a + b for a, b in merges])

Both tokenizers are byte-level BPEs with the same pre-tokeniser (SmolLM2's and pasar's are), so
their token strings are comparable. The regional merges are walked in their learned order; a
merge whose result the base vocabulary lacks and whose two parts it has (or has gained) is
appended after the base merges, and its result gets the next id. The base merges keep their
ranks, so text is split by the base merges first and the new ones only join what remains:
every old token keeps its id, and a new token's embedding (input and output) starts as the
mean of the embeddings of the old tokens it replaces. Before training, the extended model
gives the same logits as the old one on text made of old tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _merge_pairs(merges: list[Any]) -> list[tuple[str, str]]:
    # tokenizers writes merges as ["a", "b"] (new) or "a b" (old files)
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in merges]  # type: ignore[misc]


def _model_spec(tokenizer: Any) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(tokenizer.backend_tokenizer.to_str())
    if spec["model"]["type"] != "BPE" or (spec.get("pre_tokenizer") or {}).get("type") != (
        "ByteLevel"
    ):
        raise ValueError("vocabulary extension needs two byte-level BPE tokenizers")
    return spec


def extension_merges(base: Any, regional: Any, *, max_new: int) -> list[tuple[str, str]]:
    """The regional merges to append to ``base`` (at most ``max_new``), in learned order."""
    vocab = set(_model_spec(base)["model"]["vocab"])
    added: list[tuple[str, str]] = []
    for a, b in _merge_pairs(_model_spec(regional)["model"]["merges"]):
        if len(added) == max_new:
            break
        if a + b not in vocab and a in vocab and b in vocab:
            vocab.add(a + b)
            added.append((a, b))
    return added


def extended_tokenizer(base: Any, merges: list[tuple[str, str]], out_dir: Path) -> Any:
    """``base`` with ``merges`` appended (new ids after the last one), saved to ``out_dir``
    with the base's chat template and special tokens, and loaded back."""
    from transformers import AutoTokenizer

    spec = _model_spec(base)
    vocab, old_merges = spec["model"]["vocab"], spec["model"]["merges"]
    next_id = 1 + max([*vocab.values(), *(t["id"] for t in spec.get("added_tokens", []))])
    as_list = not old_merges or isinstance(old_merges[0], list)
    for offset, (a, b) in enumerate(merges):
        vocab[a + b] = next_id + offset
        old_merges.append([a, b] if as_list else f"{a} {b}")
    base.save_pretrained(out_dir)
    (out_dir / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False))
    return AutoTokenizer.from_pretrained(out_dir)


def extend_embeddings(model: Any, base: Any, extended: Any, tokens: list[str]) -> None:
    """Grow ``model``'s embeddings (and untied output layer) by ``tokens``, each row the mean
    of the rows of the base tokens that spell it; row i is the extended tokenizer's id i."""
    import torch

    old = model.get_input_embeddings().weight.shape[0]
    ids_new = extended.convert_tokens_to_ids(tokens)
    if ids_new != list(range(old, old + len(tokens))):
        raise ValueError(
            f"the model has {old} embedding rows but the new tokens' ids start at "
            f"{ids_new[0] if ids_new else '-'}: extend the tokenizer the model was trained with"
        )
    parts = []
    for token in tokens:
        ids = base(base.convert_tokens_to_string([token]), add_special_tokens=False)["input_ids"]
        if not ids or max(ids) >= old:
            raise ValueError(f"token {token!r} is not spelt by base tokens")
        parts.append(ids)
    model.resize_token_embeddings(old + len(tokens), mean_resizing=False)
    tables = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight.data_ptr() != tables[0].data_ptr():
        tables.append(output.weight)
    with torch.no_grad():
        for table in tables:
            for row, ids in enumerate(parts, start=old):
                table[row] = table[ids].mean(dim=0)


def extend_model(
    model: str, tokenizer_dir: Path, out: Path, *, new_tokens: int, data: Path | None = None
) -> dict[str, Any]:
    """Add a regional tokenizer's tokens to ``model`` and save the result in ``out`` (HF
    format); returns the report (tokens added, vocabulary sizes, and with ``data`` - the
    output of ``pasar pretrain data`` - tokens per character before and after)."""
    from transformers import AutoTokenizer

    from pasar.models.weights import load_trainable, save_trained
    from pasar.pretrain.data import read_splits
    from pasar.pretrain.tokenizer import tokens_per_char

    if new_tokens < 1:
        raise ValueError(f"new_tokens={new_tokens}: give at least 1")
    if not (tokenizer_dir / "tokenizer.json").exists():
        raise ValueError(
            f"{tokenizer_dir}: no tokenizer.json; run `pasar pretrain tokenizer` first"
        )
    regional = AutoTokenizer.from_pretrained(tokenizer_dir)
    weights, base = load_trainable(model)
    merges = extension_merges(base, regional, max_new=new_tokens)
    extended = extended_tokenizer(base, merges, out)
    extend_embeddings(weights, base, extended, [a + b for a, b in merges])
    save_trained(weights, extended, out)
    report: dict[str, Any] = {
        "model": model,
        "tokenizer": str(tokenizer_dir),
        "output": str(out),
        "tokens_added": len(merges),
        "vocab_before": len(base),
        "vocab_after": len(extended),
    }
    if data is not None:
        report["tokens_per_char"] = {
            lang: {
                "before": round(tokens_per_char(base, texts), 4),
                "after": round(tokens_per_char(extended, texts), 4),
            }
            for lang, texts in read_splits(data, "heldout").items()
        }
    return report
