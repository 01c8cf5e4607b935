"""``pasar pretrain``: data, tokenizer, vocabulary extension, shards, training, bits per byte."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pasar.cli.output import console, run_guarded, write_report
from pasar.config import data_path

app = typer.Typer(
    help=(
        "Pretraining for Southeast Asian languages: clean a raw corpus, train a tokenizer, extend "
        "a model's vocabulary, pack shards, train (continued or from scratch), measure bits per "
        "byte."
    ),
    no_args_is_help=True,
)

ENGLISH = ("ntrex", "newstest2019-ref.eng-US.txt")  # under PASAR_DATA_DIR


@app.command("data")
@run_guarded
def data_command(
    out: Annotated[Path, typer.Option("--out", help="Output folder (one subfolder a language).")],
    corpus: Annotated[
        Path | None,
        typer.Option(
            help="Folder of LANG.txt files (th.txt, vi.txt, ...). Default: $PASAR_DATA_DIR/corpus."
        ),
    ] = None,
    languages: Annotated[
        str | None, typer.Option(help="Comma-separated codes; default: every LANG.txt found.")
    ] = None,
    heldout_share: Annotated[
        float, typer.Option(help="Share of each language's documents held out (by text hash).")
    ] = 0.05,
    threshold: Annotated[
        float, typer.Option(help="MinHash Jaccard similarity from which documents are duplicates.")
    ] = 0.8,
) -> None:
    """Normalise, filter (length, letters, repetition), check the language with lingua, remove
    exact and near-duplicates (MinHash), split train / held-out per language. Writes
    OUT/LANG/{train,heldout}.jsonl and OUT/report.json (what each step removed). A language
    already done is skipped: rerun after a kill to resume."""
    from pasar.pretrain.data import prepare_corpus

    if not 0 <= heldout_share < 1:
        raise ValueError(f"--heldout-share {heldout_share}: give a share in [0, 1)")
    wanted = tuple(languages.split(",")) if languages else None
    report = prepare_corpus(
        corpus or data_path("corpus"),
        out,
        languages=wanted,
        heldout_share=heldout_share,
        threshold=threshold,
    )
    table = Table("language", "docs in", "removed", "kept", "train", "held out", "chars kept")
    for lang, r in report["languages"].items():
        removed = ", ".join(f"{k} {v}" for k, v in r["removed"].items() if v) or "-"
        table.add_row(
            lang,
            str(r["documents_in"]),
            removed,
            str(r["documents_kept"]),
            str(r["train_documents"]),
            str(r["heldout_documents"]),
            f"{r['chars_kept']:,}",
        )
    console.print(table)
    console.print(f"report: {out / 'report.json'}")


@app.command("tokenizer")
@run_guarded
def tokenizer_command(
    data: Annotated[Path, typer.Option(help="The --out folder of `pasar pretrain data`.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the tokenizer and report.json.")],
    vocab_size: Annotated[int, typer.Option(help="Vocabulary size, special tokens included.")] = (
        32000
    ),
    max_chars: Annotated[
        int, typer.Option(help="Training characters per language, at most.")
    ] = 3_000_000,
    english: Annotated[
        Path | None,
        typer.Option(
            help="English text, one sentence a line: its first half trains, the rest measures. "
            "Default: NTREX's English under $PASAR_DATA_DIR."
        ),
    ] = None,
    compare: Annotated[
        str, typer.Option(help="A model name whose tokenizer to compare with.")
    ] = "smollm2-135m-instruct",
) -> None:
    """Train a byte-level BPE on the train splits, then report tokens per character on the
    held-out splits, against another model's tokenizer (SmolLM2's by default)."""
    from pasar.models.weights import load_tokenizer
    from pasar.pretrain.data import read_splits
    from pasar.pretrain.tokenizer import tokens_per_char, train_tokenizer

    english = english or data_path(*ENGLISH)
    train = read_splits(data, "train", english)
    heldout = read_splits(data, "heldout", english)
    ours = train_tokenizer(train, vocab_size=vocab_size, out_dir=out, max_chars=max_chars)
    theirs = load_tokenizer(compare)
    rows = {
        lang: {
            "ours": round(tokens_per_char(ours, texts), 4),
            compare: round(tokens_per_char(theirs, texts), 4),
            "heldout_chars": sum(len(t) for t in texts),
        }
        for lang, texts in heldout.items()
        if texts
    }
    report = {
        "tokenizer": str(out),
        "vocab_size": len(ours),
        "compared_with": compare,
        "compared_vocab_size": len(theirs),
        "max_chars_per_language": max_chars,
        "tokens_per_char": rows,
    }
    write_report(out / "report.json", report)
    table = Table("language", "ours (tokens/char)", f"{compare}", "held-out chars")
    for lang, row in rows.items():
        table.add_row(
            lang, f"{row['ours']:.3f}", f"{row[compare]:.3f}", f"{row['heldout_chars']:,}"
        )
    console.print(table)
    console.print(f"tokenizer: {out}; report: {out / 'report.json'}")


@app.command("extend-vocab")
@run_guarded
def extend_vocab_command(
    tokenizer: Annotated[
        Path, typer.Option(help="A regional tokenizer (`pasar pretrain tokenizer`).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the extended model (HF format).")],
    model: Annotated[str, typer.Option(help="The model to extend (a pasar model name).")] = (
        "smollm2-135m-instruct"
    ),
    new_tokens: Annotated[
        int, typer.Option(help="How many regional tokens to add, at most.")
    ] = 8000,
    data: Annotated[
        Path | None,
        typer.Option(help="`pasar pretrain data` output: report tokens/char before and after."),
    ] = None,
) -> None:
    """Add the regional tokenizer's tokens to a model: its merges are appended after the
    model's own (old tokens keep their ids), and each new embedding starts as the mean of the
    old tokens that spell it. The result is a model name for `pasar align` / continued
    pretraining; before training it answers exactly as the old model on old tokens."""
    from pasar.pretrain.extend import extend_model

    if new_tokens < 1:
        raise ValueError(f"--new-tokens {new_tokens}: give at least 1")
    report = extend_model(model, tokenizer, out, new_tokens=new_tokens, data=data)
    write_report(out / "extend-report.json", report)
    console.print(
        f"added {report['tokens_added']} tokens ({report['vocab_before']} -> "
        f"{report['vocab_after']}); model: {out}"
    )


@app.command("shards")
@run_guarded
def shards_command(
    data: Annotated[Path, typer.Option(help="`pasar pretrain data` output.")],
    tokenizer: Annotated[
        str, typer.Option(help="The model name, model folder or tokenizer folder to tokenise with.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for OUT/train and OUT/heldout.")],
    english: Annotated[
        Path | None,
        typer.Option(
            help="English text for replay (one sentence a line; first half trains). Default: "
            "NTREX's English under $PASAR_DATA_DIR."
        ),
    ] = None,
    shard_tokens: Annotated[int, typer.Option(help="Tokens per shard file.")] = 1 << 22,
) -> None:
    """Tokenise the train and held-out splits, pack documents (each ended by end-of-text) into
    memory-mapped shard files per language. Rerun after a kill: finished shards are kept."""
    from transformers import AutoTokenizer

    from pasar.models.weights import load_tokenizer
    from pasar.pretrain.data import read_splits
    from pasar.pretrain.shards import write_shards

    tok = (
        AutoTokenizer.from_pretrained(tokenizer)
        if (Path(tokenizer) / "tokenizer.json").exists()
        else load_tokenizer(tokenizer)
    )
    if tok.eos_token_id is None:
        raise ValueError(f"{tokenizer}: the tokenizer has no end-of-text token to end documents")
    table = Table("split", "language", "documents", "tokens", "shards")
    for split in ("train", "heldout"):
        manifest = write_shards(
            read_splits(data, split, english or data_path(*ENGLISH)),
            tok,
            out / split,
            shard_tokens=shard_tokens,
        )
        for lang, row in manifest["languages"].items():
            table.add_row(
                split, lang, f"{row['documents']:,}", f"{row['tokens']:,}", str(row["shards"])
            )
    console.print(table)
    console.print(f"shards: {out}/train, {out}/heldout")


@app.command("train")
@run_guarded
def train_command(
    model: Annotated[
        str,
        typer.Option(
            help="A model to continue (name or HF folder, e.g. `extend-vocab` output), or a Llama "
            "config to train from scratch: llama-tiny, llama-small, llama-base, llama-1b or a "
            "JSON file."
        ),
    ],
    shards: Annotated[Path, typer.Option(help="`pasar pretrain shards` output.")],
    out: Annotated[Path, typer.Option("--out", help="Run folder: checkpoints, log, model.")],
    tokenizer: Annotated[
        str | None, typer.Option(help="From scratch only: the tokenizer the shards were made with.")
    ] = None,
    method: Annotated[
        str, typer.Option(help="full: every weight; lora: LoRA + trainable embeddings.")
    ] = "full",
    lora_rank: Annotated[int, typer.Option(help="LoRA rank (--method lora).")] = 64,
    seq_len: Annotated[int, typer.Option(help="Tokens per training row.")] = 512,
    batch_size: Annotated[int, typer.Option(help="Rows per process per micro-batch.")] = 8,
    grad_accum: Annotated[int, typer.Option(help="Micro-batches per optimizer step.")] = 1,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate.")] = 3e-4,
    warmup_steps: Annotated[int, typer.Option(help="Linear warm-up steps.")] = 20,
    max_steps: Annotated[int, typer.Option(help="Optimizer steps (cosine decay to the end).")] = (
        200
    ),
    save_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 50,
    eval_every: Annotated[int, typer.Option(help="Held-out loss every N steps.")] = 50,
    eval_windows: Annotated[
        int, typer.Option(help="Held-out windows per language for that loss (the first ones).")
    ] = 8,
    temperature: Annotated[
        float, typer.Option(help="Language mix: tokens**(1/T); 1 = by size, higher = flatter.")
    ] = 3.0,
    english_share: Annotated[
        float, typer.Option(help="Share of rows from English (replay against forgetting).")
    ] = 0.1,
    mixed_precision: Annotated[str, typer.Option(help="no, bf16 or fp16 (GPUs).")] = "no",
    seed: Annotated[int, typer.Option(help="Seed of the initialisation and the data order.")] = 0,
    name: Annotated[
        str | None,
        typer.Option(
            help="Register the trained model under this name, with its lineage (start model "
            "and version, the shards' manifest sha256, method, settings)."
        ),
    ] = None,
) -> None:
    """Continued pretraining of a model, or pretraining a Llama from scratch, on packed shards.
    Resumes from OUT's last checkpoint (rerun the same command after a kill). Logs loss,
    tokens/s and FLOP/s to OUT/log.jsonl, draws OUT/loss.png, writes OUT/train-report.json and
    the trained model to OUT (a pasar model name). Multi-GPU: `accelerate launch` this command."""
    from pasar.pretrain.train import PretrainConfig, train

    if method not in ("full", "lora"):
        raise ValueError(f"--method {method}: give full or lora")
    if mixed_precision not in ("no", "bf16", "fp16"):
        raise ValueError(f"--mixed-precision {mixed_precision}: give no, bf16 or fp16")
    for flag, value in (
        ("--max-steps", max_steps),
        ("--seq-len", seq_len),
        ("--batch-size", batch_size),
        ("--save-every", save_every),
    ):
        if value < 1:
            raise ValueError(f"{flag} {value}: give at least 1")
    config = PretrainConfig(
        model=model,
        shards=shards,
        output_dir=out,
        tokenizer=tokenizer,
        method=method,  # type: ignore[arg-type]
        lora_rank=lora_rank,
        seq_len=seq_len,
        batch_size=batch_size,
        grad_accum=grad_accum,
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        max_steps=max_steps,
        save_every=save_every,
        eval_every=eval_every,
        eval_windows=eval_windows,
        temperature=temperature,
        english_share=english_share,
        mixed_precision=mixed_precision,  # type: ignore[arg-type]
        seed=seed,
    )
    report = train(config)
    console.print(
        f"{report['steps']} steps, {report['tokens_seen']:,} tokens; loss "
        f"{report['first_loss']} -> {report['final_loss']}; {report['tokens_per_s']} tokens/s, "
        f"{(report['flops_per_s'] or 0) / 1e9:.1f} GFLOP/s"
    )
    console.print(f"model: {out}; log: {out / 'log.jsonl'}; curves: {out / 'loss.png'}")
    if name and os.environ.get("RANK", "0") == "0":  # once, by the main process (torchrun)
        from pasar.models.registry import register_trained, trained_lineage

        lineage = trained_lineage(
            base=model,
            data=shards / "manifest.json",
            method=f"pretrain-{method}",
            settings=asdict(config),
        )
        spec = register_trained(name, out, lineage)
        console.print(f"registered {name} (version {spec.version}) -> {out}")


@app.command("eval")
@run_guarded
def eval_command(
    model: Annotated[str, typer.Option(help="A pasar model name, HF directory or GGUF.")],
    data: Annotated[Path, typer.Option(help="`pasar pretrain data` output (held-out splits).")],
    out: Annotated[Path, typer.Option("--out", help="The JSON report.")],
    max_bytes: Annotated[
        int, typer.Option(help="Held-out UTF-8 bytes per language, at most (first documents).")
    ] = 40_000,
    english: Annotated[
        Path | None,
        typer.Option(
            help="English text (one sentence a line); its second half is measured. Default: "
            "NTREX's English under $PASAR_DATA_DIR."
        ),
    ] = None,
    window: Annotated[int, typer.Option(help="Tokens per forward pass.")] = 1024,
) -> None:
    """Bits per byte of a model on each language's held-out text (lower is better; fair across
    tokenizers), English included to show forgetting."""
    from pasar.pretrain.bpb import bpb_report

    english = english or data_path(*ENGLISH)
    report = bpb_report(model, data, english=english, max_bytes=max_bytes, window=window)
    write_report(out, report)
    table = Table("language", "bits per byte", "bytes")
    for lang, row in report["languages"].items():
        table.add_row(lang, f"{row['bits_per_byte']:.3f}", f"{row['bytes']:,}")
    console.print(table)
