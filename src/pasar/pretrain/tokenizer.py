"""A byte-level BPE for the region (Hugging Face ``tokenizers``), and tokens per character.

    tokenizer = train_tokenizer(texts_by_language, vocab_size=32000, out_dir=Path("runs/tok"))
    tokens_per_char(tokenizer, heldout_texts)

Training text is capped per language (``max_chars``) so the big Thai and Vietnamese files do
not crowd out Malay and Tagalog. The special tokens are SmolLM2's, so the tokenizer takes the
same chat template; the saved directory loads with ``AutoTokenizer.from_pretrained``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def capped(texts: list[str], max_chars: int) -> list[str]:
    """The first documents of ``texts`` up to ``max_chars`` characters in all."""
    out: list[str] = []
    total = 0
    for text in texts:
        if total >= max_chars:
            break
        out.append(text[: max_chars - total])
        total += len(out[-1])
    return out


def train_tokenizer(
    texts_by_language: dict[str, list[str]],
    *,
    vocab_size: int,
    out_dir: Path,
    max_chars: int = 3_000_000,
    min_frequency: int = 2,
) -> Any:
    """Train, save to ``out_dir`` and return a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 300:
        raise ValueError(f"vocab_size={vocab_size}: a byte-level BPE needs at least 300")
    mix = {lang: capped(texts, max_chars) for lang, texts in texts_by_language.items()}

    def stream() -> Iterator[str]:
        for texts in mix.values():
            yield from texts

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=True,
    )
    bpe.train_from_iterator(stream(), trainer, length=sum(len(t) for t in mix.values()))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        unk_token="<|endoftext|>",
        pad_token="<|im_end|>",
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    return tokenizer


def tokens_per_char(tokenizer: Any, texts: list[str]) -> float:
    """Tokens per character over ``texts`` (no special tokens): lower is cheaper."""
    chars = sum(len(t) for t in texts)
    if not chars:
        raise ValueError("no text to measure tokens per character on")
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return sum(len(i) for i in ids) / chars
