"""Tokenised, packed, memory-mapped shards, and the language mix that samples them.

    write_shards(read_splits(data, "train", english), tokenizer, Path("runs/pretrain/shards/train"))
    shards = ShardSet.open(Path("runs/pretrain/shards/train"))
    weights = mix_weights(shards.tokens, temperature=3.0, english_share=0.1)
    rows = shards.batch(step=0, rows=8, seq_len=512, weights=weights, seed=0)

Layout: ``DIR/LANG/NNNNN.bin`` (token ids, each document followed by end-of-text, packed with
no padding; ``uint16`` when the vocabulary fits, else ``uint32``), ``DIR/LANG/NNNNN.json`` (its
token count and how many documents of the language it completes) and ``DIR/manifest.json``.
A shard is written under a temporary name and renamed, so a killed run resumes at the first
document no finished shard holds. The rows of a training step are a pure function of
``(seed, step)``: a resumed run, or any number of processes each taking its slice, reads exactly
the rows an uninterrupted single process would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pasar.errors import MissingInputError

SHARD_TOKENS = 1 << 22  # 8 MB of uint16 per shard


def token_dtype(vocab_size: int) -> type[np.unsignedinteger[Any]]:
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32


def _finished_shards(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("[0-9]*.json"))]


def _packed(tokenizer: Any, texts: list[str], batch: int = 256) -> Iterator[list[int]]:
    """Token ids of each document followed by the end-of-text id."""
    eos = tokenizer.eos_token_id
    for i in range(0, len(texts), batch):
        for ids in tokenizer(texts[i : i + batch], add_special_tokens=False)["input_ids"]:
            yield [*ids, eos]


def write_language(
    texts: list[str],
    tokenizer: Any,
    folder: Path,
    *,
    shard_tokens: int = SHARD_TOKENS,
    progress: bool = True,
) -> dict[str, int]:
    """Pack one language's documents into shards of about ``shard_tokens``; resumes."""
    folder.mkdir(parents=True, exist_ok=True)
    dtype = token_dtype(len(tokenizer))
    done = _finished_shards(folder)
    start = done[-1]["documents_end"] if done else 0
    buffer: list[int] = []
    index = len(done)

    def flush(documents_end: int) -> None:
        nonlocal buffer, index
        name = f"{index:05d}"
        partial = folder / f"{name}.bin.partial"
        np.asarray(buffer, dtype=dtype).tofile(partial)
        partial.replace(folder / f"{name}.bin")
        meta = {"tokens": len(buffer), "documents_end": documents_end}
        (folder / f"{name}.json").write_text(json.dumps(meta))
        done.append(meta)
        buffer, index = [], index + 1

    documents = tqdm(
        _packed(tokenizer, texts[start:]),
        total=len(texts) - start,
        desc=f"pack {folder.name}",
        unit="doc",
        disable=not progress,
    )
    for n, ids in enumerate(documents, start=start + 1):
        buffer.extend(ids)
        if len(buffer) >= shard_tokens:
            flush(n)
    if buffer:
        flush(len(texts))
    return {"documents": len(texts), "tokens": sum(d["tokens"] for d in done), "shards": len(done)}


def write_shards(
    texts: dict[str, list[str]],
    tokenizer: Any,
    out_dir: Path,
    *,
    shard_tokens: int = SHARD_TOKENS,
    progress: bool = True,
) -> dict[str, Any]:
    """Shards of every language of ``texts`` (``{language: documents}``) and the manifest."""
    languages = {
        lang: write_language(
            docs, tokenizer, out_dir / lang, shard_tokens=shard_tokens, progress=progress
        )
        for lang, docs in texts.items()
        if docs
    }
    manifest = {
        "tokenizer": getattr(tokenizer, "name_or_path", ""),
        "vocab_size": len(tokenizer),
        "eos_token_id": tokenizer.eos_token_id,
        "dtype": np.dtype(token_dtype(len(tokenizer))).name,
        "languages": languages,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def mix_weights(
    tokens: dict[str, int], *, temperature: float = 3.0, english_share: float = 0.0
) -> dict[str, float]:
    """Sampling probability per language: ``tokens ** (1 / temperature)``, normalised.

    Temperature 1 samples in proportion to size; higher temperatures move towards uniform, so
    small languages (Malay, Tagalog) are seen more often than their share of the text. English,
    when present, is the replay that limits forgetting: it gets exactly ``english_share``.
    """
    if temperature <= 0:
        raise ValueError(f"temperature {temperature}: give a positive number (1 = by size)")
    if not 0 <= english_share < 1:
        raise ValueError(f"english share {english_share}: give a share in [0, 1)")
    regional = {lang: n ** (1 / temperature) for lang, n in tokens.items() if lang != "en" and n}
    if not regional:
        raise ValueError("no regional language has tokens; shard the corpus first")
    english = english_share if tokens.get("en") else 0.0
    total = sum(regional.values())
    weights = {lang: (1 - english) * w / total for lang, w in regional.items()}
    if english:
        weights["en"] = english
    return weights


@dataclass
class ShardSet:
    """The memory-mapped shards of one split, per language."""

    folder: Path
    shards: dict[str, list[np.memmap[Any, Any]]]
    manifest: dict[str, Any]

    @classmethod
    def open(cls, folder: Path) -> ShardSet:
        manifest_path = folder / "manifest.json"
        if not manifest_path.exists():
            raise MissingInputError(
                f"{folder}: no manifest.json; run `pasar pretrain shards --out {folder.parent}`"
            )
        manifest = json.loads(manifest_path.read_text())
        dtype = np.dtype(manifest["dtype"])
        shards = {
            lang: [
                np.memmap(p, dtype=dtype, mode="r")
                for p in sorted((folder / lang).glob("[0-9]*.bin"))
            ]
            for lang in manifest["languages"]
        }
        return cls(folder, shards, manifest)

    @property
    def tokens(self) -> dict[str, int]:
        return {lang: sum(len(s) for s in shards) for lang, shards in self.shards.items()}

    def window(self, language: str, start: int, length: int) -> np.ndarray:
        """``length`` tokens of a language's stream from ``start`` (the shards concatenated)."""
        parts, remaining = [], length
        for shard in self.shards[language]:
            if start >= len(shard):
                start -= len(shard)
                continue
            part = shard[start : start + remaining]
            parts.append(np.asarray(part, dtype=np.int64))
            remaining -= len(part)
            start = 0
            if not remaining:
                break
        if remaining:
            raise ValueError(f"{language}: fewer than {length} tokens from that position")
        return np.concatenate(parts)

    def batch(
        self, *, step: int, rows: int, seq_len: int, weights: dict[str, float], seed: int
    ) -> tuple[np.ndarray, list[str]]:
        """``rows`` windows of ``seq_len + 1`` tokens for a training step, and their languages.

        Each row draws a language by ``weights``, then a uniform start in its token stream;
        the draw depends only on ``(seed, step)``.
        """
        languages = sorted(weights)
        short = [lang for lang in languages if self.tokens.get(lang, 0) <= seq_len + 1]
        if short:
            raise ValueError(
                f"{', '.join(short)}: fewer than {seq_len + 2} tokens in {self.folder}; "
                "lower --seq-len or give that language a weight of 0"
            )
        rng = np.random.default_rng([seed, step])
        p = np.array([weights[lang] for lang in languages])
        picks = [languages[i] for i in rng.choice(len(languages), size=rows, p=p / p.sum())]
        windows = [
            self.window(lang, int(rng.integers(self.tokens[lang] - seq_len)), seq_len + 1)
            for lang in picks
        ]
        return np.stack(windows), picks

    def fixed_windows(self, language: str, count: int, seq_len: int) -> np.ndarray:
        """The first ``count`` non-overlapping windows of a language (held-out loss)."""
        count = min(count, self.tokens[language] // (seq_len + 1))
        return (
            np.stack([self.window(language, i * (seq_len + 1), seq_len + 1) for i in range(count)])
            if count
            else np.zeros((0, seq_len + 1), dtype=np.int64)
        )
