"""Continued and from-scratch pretraining on packed shards, through accelerate.

    train(PretrainConfig(model="llama-30m", tokenizer="runs/pretrain/tokenizer-32k",
                         shards=Path("runs/pretrain/shards"), output_dir=Path("runs/scratch")))

``model`` is a pasar model name or HF directory (continued pretraining, e.g. the output of
``pasar pretrain extend-vocab``), or a Llama config (one of ``CONFIGS`` or a JSON file) with a
``tokenizer`` (from scratch). Each optimizer step reads the rows ``ShardSet.batch`` draws for
``(seed, step)``; with N processes each takes its slice of those rows, so the batch is the same
on 1 CPU or 8 GPUs (``accelerate launch``: DDP, or FSDP from its config). Checkpoints are
``accelerate`` states (model, optimizer, schedule, RNG) written under a temporary name and
renamed: a killed run resumes from the last one and repeats exactly the steps it would have
taken. Logged per step: loss, tokens/s and achieved FLOP/s (model FLOPs: 6 per parameter of
every matrix multiply per token plus attention scores); the held-out loss per language at
every evaluation; ``loss.png`` draws both.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from pasar.data.runs import check_same_run, read_log, resume, save_checkpoint, write_log
from pasar.pretrain.shards import ShardSet, mix_weights

CONFIGS = Path(__file__).parent / "configs"
Method = Literal["full", "lora"]


@dataclass
class PretrainConfig:
    model: str
    shards: Path
    output_dir: Path
    tokenizer: str | None = None
    method: Method = "full"
    lora_rank: int = 64
    seq_len: int = 512
    batch_size: int = 8
    grad_accum: int = 1
    learning_rate: float = 3e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    weight_decay: float = 0.1
    max_grad_norm: float = 1.0
    max_steps: int = 200
    save_every: int = 50
    keep_checkpoints: int = 2
    eval_every: int = 50
    eval_windows: int = 8
    temperature: float = 3.0
    english_share: float = 0.1
    seed: int = 0
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"
    languages: dict[str, float] = field(default_factory=dict)  # filled from the shards

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


# what may differ between a run and its resumption without changing the steps already taken
RESUMABLE_CHANGES = {"max_steps", "save_every", "keep_checkpoints", "eval_every"}


def config_path(model: str) -> Path | None:
    """The Llama config file a model name stands for, or None for a pretrained model."""
    packaged = CONFIGS / f"{model}.json"
    if packaged.exists():
        return packaged
    path = Path(model)
    return path if path.suffix == ".json" and path.is_file() else None


def build_model(model: str, tokenizer: str | None, seed: int) -> tuple[nn.Module, Any]:
    """(model, tokenizer): a pretrained model to continue, or a new Llama from a config."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from pasar.models.weights import load_tokenizer, load_trainable

    config_file = config_path(model)
    if config_file is None:
        return load_trainable(model)
    if tokenizer is None:
        raise ValueError(
            f"{model} is a config: training from scratch needs --tokenizer "
            "(e.g. the output of `pasar pretrain tokenizer`)"
        )
    tok = (
        AutoTokenizer.from_pretrained(tokenizer)
        if Path(tokenizer).is_dir()
        else load_tokenizer(tokenizer)
    )
    settings = json.loads(config_file.read_text())
    settings.pop("_comment", None)
    config = LlamaConfig(
        **settings,
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config), tok


def matmul_parameters(model: nn.Module) -> int:
    """Weights that take part in a matrix multiply per token (every Linear, the output layer
    included even when tied to the embedding; embedding lookups are free)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


def flops_per_token(model: nn.Module, seq_len: int) -> int:
    """Training FLOPs per token: 6 per matmul weight (forward 2, backward 4) plus the attention
    scores and their use, 12 · layers · width · sequence (PaLM's accounting, appendix B)."""
    config: Any = model.config
    attention: int = 12 * config.num_hidden_layers * config.hidden_size * seq_len
    return 6 * matmul_parameters(model) + attention


def lm_loss(model: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of rows of ``seq_len + 1`` tokens."""
    logits = model(input_ids=rows[:, :-1]).logits
    return nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1)
    )


def learning_rate_at(step: int, config: PretrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` of the peak at ``max_steps``."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.learning_rate * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def _with_lora(model: nn.Module, rank: int) -> nn.Module:
    """LoRA on every linear layer but the output, and the (tied) embeddings fully trainable:
    new tokens need their rows learnt, not just a low-rank update."""
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(
        model,  # type: ignore[arg-type]
        LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", lora_dropout=0.0),
    )
    peft_model.get_input_embeddings().weight.requires_grad_(True)
    return peft_model


def plot_losses(rows: list[dict[str, Any]], png: Path) -> None:
    """Training loss and held-out loss per language against tokens seen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (train_ax, heldout_ax) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [r for r in rows if "loss" in r]
    train_ax.plot([r["tokens_seen"] for r in steps], [r["loss"] for r in steps], lw=0.8)
    train_ax.set_title("training loss (the mix)")
    evals = [r for r in rows if "heldout_loss" in r]
    for lang in sorted({lang for r in evals for lang in r["heldout_loss"]}):
        points = [(r["tokens_seen"], r["heldout_loss"][lang]) for r in evals]
        heldout_ax.plot(*zip(*points, strict=True), marker=".", label=lang)
    heldout_ax.set_title("held-out loss per language")
    if evals:
        heldout_ax.legend(fontsize=8)
    for ax in (train_ax, heldout_ax):
        ax.set_xlabel("tokens seen")
        ax.set_ylabel("nats per token")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


@torch.no_grad()
def heldout_losses(
    model: nn.Module, windows: dict[str, np.ndarray], batch_size: int, device: torch.device
) -> dict[str, float]:
    """Mean next-token loss on each language's fixed held-out windows."""
    model.eval()
    losses = {}
    for lang, rows in windows.items():
        total = 0.0
        for i in range(0, len(rows), batch_size):
            chunk = torch.from_numpy(rows[i : i + batch_size]).to(device)
            total += lm_loss(model, chunk).item() * len(chunk)
        losses[lang] = round(total / len(rows), 4)
    model.train()
    return losses


def train(config: PretrainConfig, *, stop_at: int | None = None) -> dict[str, Any]:
    """Run (or resume) pretraining; returns the report also written to ``train-report.json``.

    ``stop_at`` ends the run after that step as a kill would (tests use it to check resume).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm import tqdm

    from pasar.models.weights import save_trained

    out = config.output_dir
    train_set = ShardSet.open(config.shards / "train")
    heldout_set = ShardSet.open(config.shards / "heldout")
    config.languages = config.languages or mix_weights(
        train_set.tokens, temperature=config.temperature, english_share=config.english_share
    )
    accelerator = Accelerator(
        gradient_accumulation_steps=config.grad_accum,
        mixed_precision=config.mixed_precision,
        cpu=not torch.cuda.is_available(),  # so torchrun on CPUs runs DDP over gloo
    )
    check_same_run(out, "pretrain-config.json", config.to_json(), RESUMABLE_CHANGES)
    set_seed(config.seed)
    model, tokenizer = build_model(config.model, config.tokenizer, config.seed)
    if len(tokenizer) != train_set.manifest["vocab_size"]:
        raise ValueError(
            f"the shards in {config.shards} were made with a {train_set.manifest['vocab_size']}"
            f"-token tokenizer, the model's has {len(tokenizer)}; shard with the model's tokenizer"
        )
    flops_token = flops_per_token(model, config.seq_len)
    if config.method == "lora":
        model = _with_lora(model, config.lora_rank)
    parameters = sum(p.numel() for p in model.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim >= 2]
    no_decay = [p for p in trainable if p.ndim < 2]
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay},
    ]
    optimizer = torch.optim.AdamW(
        groups,
        lr=config.learning_rate,
        betas=(0.9, 0.95),
        weight_decay=0.0,
        fused=True,  # one kernel per step for all tensors, on CPUs as on GPUs (HF's default too)
    )
    model, optimizer = accelerator.prepare(model, optimizer)

    start = resume(accelerator, out)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "pretrain-config.json").write_text(json.dumps(config.to_json(), indent=2))
    log_path = out / "log.jsonl"
    log = read_log(log_path, start)

    world, rank = accelerator.num_processes, accelerator.process_index
    rows_per_step = config.batch_size * config.grad_accum * world
    tokens_per_step = rows_per_step * config.seq_len
    heldout_windows = {
        lang: heldout_set.fixed_windows(lang, config.eval_windows, config.seq_len)
        for lang in heldout_set.tokens
    }
    heldout_windows = {k: v for k, v in heldout_windows.items() if len(v)}

    def evaluate(step: int) -> None:
        losses = heldout_losses(model, heldout_windows, config.batch_size, accelerator.device)
        log.append({"step": step, "tokens_seen": step * tokens_per_step, "heldout_loss": losses})

    def save(step: int) -> None:
        save_checkpoint(accelerator, out, step, config.keep_checkpoints)
        if accelerator.is_main_process:
            write_log(log_path, log)
            plot_losses(log, out / "loss.png")

    if start == 0 and not log:
        evaluate(0)
    timed_tokens, timed_seconds = 0, 0.0
    bar = tqdm(
        range(start, config.max_steps),
        initial=start,
        total=config.max_steps,
        desc="pretrain",
        unit="step",
        disable=not accelerator.is_main_process,
    )
    model.train()
    for step in bar:
        if stop_at is not None and step >= stop_at:
            return {"stopped_at": step}
        began = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, config)
        rows, _ = train_set.batch(
            step=step,
            rows=rows_per_step,
            seq_len=config.seq_len,
            weights=config.languages,
            seed=config.seed,
        )
        losses = []
        for micro in range(config.grad_accum):
            first = (micro * world + rank) * config.batch_size
            chunk = torch.from_numpy(rows[first : first + config.batch_size])
            with accelerator.accumulate(model):
                loss = lm_loss(model, chunk.to(accelerator.device))
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            losses.append(loss.detach())
        step_loss = accelerator.reduce(torch.stack(losses).mean(), reduction="mean").item()
        seconds = time.perf_counter() - began
        if step > start:  # the first step after a start pays for warm-up and allocation
            timed_tokens, timed_seconds = timed_tokens + tokens_per_step, timed_seconds + seconds
        tokens_per_s = tokens_per_step / seconds
        log.append(
            {
                "step": step + 1,
                "tokens_seen": (step + 1) * tokens_per_step,
                "loss": round(step_loss, 4),
                "lr": learning_rate_at(step, config),
                "tokens_per_s": round(tokens_per_s, 1),
                "flops_per_s": round(tokens_per_s * flops_token),
            }
        )
        bar.set_postfix(loss=f"{step_loss:.3f}", tok_s=f"{tokens_per_s:.0f}")
        done = step + 1
        if done % config.eval_every == 0 or done == config.max_steps:
            evaluate(done)
        if done % config.save_every == 0 or done == config.max_steps:
            save(done)

    unwrapped = accelerator.unwrap_model(model)
    if config.method == "lora":  # LoRA merged into the weights (small models: no FSDP here)
        if accelerator.is_main_process:
            save_trained(unwrapped, tokenizer, out)
    else:  # gathered from every process under FSDP
        state = accelerator.get_state_dict(model)
        if accelerator.is_main_process:
            unwrapped.save_pretrained(out, state_dict=state)
            tokenizer.save_pretrained(out)
    tokens_per_s = timed_tokens / timed_seconds if timed_seconds else None
    evals = [r for r in log if "heldout_loss" in r]
    trained = [r for r in log if "loss" in r]
    report = {
        "model": config.model,
        "output": str(out),
        "method": config.method,
        "parameters": parameters,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "processes": world,
        "device": str(accelerator.device),
        "steps": config.max_steps,
        "tokens_per_step": tokens_per_step,
        "tokens_seen": config.max_steps * tokens_per_step,
        "mix": config.languages,
        "flops_per_token": flops_token,
        "tokens_per_s": round(tokens_per_s, 1) if tokens_per_s else None,
        "flops_per_s": round(tokens_per_s * flops_token) if tokens_per_s else None,
        "first_loss": trained[0]["loss"] if trained else None,
        "final_loss": trained[-1]["loss"] if trained else None,
        "heldout_loss_start": evals[0]["heldout_loss"] if evals else None,
        "heldout_loss_end": evals[-1]["heldout_loss"] if evals else None,
    }
    if accelerator.is_main_process:
        (out / "train-report.json").write_text(json.dumps(report, indent=2))
    return report
