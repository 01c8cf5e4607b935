"""Training the vision-language model in Ovis's three stages, each a run through accelerate.

    train(VisionTrainConfig(stage=1, data=Path("../shared/data/images"), output_dir=Path("s1")))
    train(VisionTrainConfig(stage=2, data=..., output_dir=Path("s2"), previous=Path("s1")))
    train(VisionTrainConfig(stage=3, data=..., output_dir=Path("s3"), previous=Path("s2")))

Stage 1 trains the connector (Ovis: visual head + visual embedding table; baseline: the MLP)
with the backbone and the LLM frozen; stage 2 adds the backbone; stage 3 adds the LLM, fully or
through LoRA. A stage starts from the previous stage's output folder. With the backbone frozen
its patch features are computed once per run, not per step.

Each step trains on the rows drawn for ``(seed, step)``, so a run's batches do not depend on
how often it was interrupted. Checkpoints are ``accelerate`` states (trainable weights,
optimizer, RNG) written under ``step-N.partial`` and renamed to ``step-N``: a killed run resumes
from the last one and repeats exactly the steps it would have taken. ``log.jsonl`` holds the
loss, learning rate and visual-token temperature per step and the held-out caption loss (on
products never trained on) at every checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from pasar.apps.vision.data import ProductImage, load_examples, split_by_product
from pasar.apps.vision.model import (
    DEFAULT_LLM,
    Connector,
    Schedule,
    TokenizeFunction,
    VisionLanguageModel,
    VisionModelConfig,
    build_vision_model,
    load_vision_model,
    save_vision_model,
    temperature_at,
)
from pasar.data.runs import check_same_run, read_log, resume, save_checkpoint, write_log

LLMMethod = Literal["full", "lora"]
STAGE_LEARNING_RATES = {1: 1e-3, 2: 2e-4, 3: 1e-4}
# what may differ between a run and its resumption without changing the steps already taken
RESUMABLE_CHANGES = {"max_steps", "save_every", "keep_checkpoints"}


@dataclass
class VisionTrainConfig:
    stage: int  # 1: connector; 2: + backbone; 3: + LLM (full or LoRA)
    data: Path  # the shared images folder, one of its two folders, or a JSONL manifest
    output_dir: Path
    previous: Path | None = None  # the previous stage's output folder (needed for stages 2, 3)
    # the model, when stage 1 starts without ``previous``:
    model: str = DEFAULT_LLM
    backbone: str = "efficientnet-lite0"
    connector: Connector = "ovis"
    visual_vocab_size: int = 8192
    tokenize_function: TokenizeFunction = "softmax"
    prompt: str = "Describe this product."
    # visual-token temperature, annealed from start to end over the run
    temperature_start: float = 1.0
    temperature_end: float = 1.0
    temperature_schedule: Schedule = "constant"
    llm_method: LLMMethod = "lora"  # stage 3 only
    lora_rank: int = 16
    batch_size: int = 8
    learning_rate: float = 0.0  # 0: the stage's default (STAGE_LEARNING_RATES)
    warmup_steps: int = 10
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_steps: int = 100
    save_every: int = 25
    keep_checkpoints: int = 2
    heldout_percent: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if self.stage not in (1, 2, 3):
            raise ValueError(f"stage must be 1, 2 or 3, not {self.stage}")
        if self.stage > 1 and self.previous is None:
            raise ValueError(
                f"stage {self.stage} starts from stage {self.stage - 1}'s output: give --from "
                f"with the --out folder of `pasar vision train --stage {self.stage - 1}`"
            )
        if self.llm_method not in ("full", "lora"):
            raise ValueError(f"llm_method must be 'full' or 'lora', not {self.llm_method!r}")
        for name in ("batch_size", "max_steps", "save_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.learning_rate <= 0:
            self.learning_rate = STAGE_LEARNING_RATES[self.stage]

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def learning_rate_at(step: int, config: VisionTrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak at ``max_steps``."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def batch_rows(step: int, count: int, rows: int, seed: int) -> np.ndarray:
    """The example indices of ``step``'s batch: a function of (seed, step) only."""
    rng = np.random.default_rng([seed, step])
    return rng.choice(count, size=rows, replace=rows > count)


def pad_batch(encoded: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on padding)."""
    length = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), length), pad_id, dtype=torch.long)
    labels = torch.full((len(encoded), length), -100, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), length), dtype=torch.long)
    for row, (ids, row_labels) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(ids)] = torch.tensor(row_labels)
        attention_mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def set_trainable(model: VisionLanguageModel, stage: int, llm_method: LLMMethod, rank: int) -> Any:
    """Freeze all but what ``stage`` trains; LoRA-wrap the LLM in stage 3 when asked."""
    from peft import LoraConfig, PeftModel, get_peft_model

    model.requires_grad_(False)
    model.connector.requires_grad_(True)
    if stage >= 2:
        model.backbone.requires_grad_(True)
    if stage == 3 and llm_method == "full":
        model.llm.requires_grad_(True)
        model.config.llm_training = "full"
    elif stage == 3:
        if not isinstance(model.llm, PeftModel):
            lora = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear")
            model.llm = get_peft_model(model.llm, lora)
        for name, parameter in model.llm.named_parameters():
            parameter.requires_grad_("lora_" in name)
        model.config.llm_training = "lora"
    return model


def _model_for(config: VisionTrainConfig) -> VisionLanguageModel:
    if config.previous is not None:
        return load_vision_model(config.previous)
    vision = VisionModelConfig(
        llm=config.model,
        backbone=config.backbone,
        connector=config.connector,
        visual_vocab_size=config.visual_vocab_size,
        tokenize_function=config.tokenize_function,
        temperature=config.temperature_start,
        prompt=config.prompt,
    )
    return build_vision_model(vision, seed=config.seed)


def _trainable_state_only(names: set[str]) -> Any:
    """An accelerate save hook keeping only trained weights in a checkpoint (a frozen 135M LLM
    would otherwise be written every time); tied tensors once."""

    def hook(models: list[nn.Module], weights: list[dict[str, Any]], output_dir: str) -> None:
        for i, state in enumerate(weights):
            kept, seen = {}, set()
            for key, tensor in state.items():
                if key.removeprefix("module.") in names and tensor.data_ptr() not in seen:
                    kept[key] = tensor
                    seen.add(tensor.data_ptr())
            weights[i] = kept

    return hook


@torch.no_grad()
def _patch_features(
    model: VisionLanguageModel, pixels: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, float]:
    """(N, P, D) features of every image with the frozen backbone; seconds per image."""
    model.backbone.eval()
    began = time.perf_counter()
    chunks = [
        model.backbone.patch_features(pixels[i : i + 16].to(device)).cpu()
        for i in range(0, len(pixels), 16)
    ]
    return torch.cat(chunks), (time.perf_counter() - began) / max(1, len(pixels))


def train(config: VisionTrainConfig, *, stop_at: int | None = None) -> dict[str, Any]:
    """Run (or resume) one stage; returns the report also written to ``train-report.json``.

    ``stop_at`` ends the run before that step as a kill would (tests use it to check resume).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm import tqdm

    from pasar.models.images import load_image

    out = config.output_dir
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    check_same_run(out, "vision-train-config.json", config.to_json(), RESUMABLE_CHANGES)
    set_seed(config.seed)
    examples, heldout = split_by_product(load_examples(config.data), config.heldout_percent)
    if not examples:
        raise ValueError(f"every product in {config.data} is held out: lower heldout_percent")
    model = set_trainable(_model_for(config), config.stage, config.llm_method, config.lora_rank)
    model.config.temperature = temperature_at(
        0,
        start=config.temperature_start,
        end=config.temperature_end,
        steps=config.max_steps,
        schedule=config.temperature_schedule,
    )

    def encode(items: list[ProductImage]) -> list[tuple[list[int], list[int]]]:
        return [model.encode(model.config.prompt, e.caption) for e in items]

    train_encoded, heldout_encoded = encode(examples), encode(heldout)
    train_pixels = model.pixels([load_image(e.image) for e in examples])  # (N, 3, S, S)
    heldout_pixels = model.pixels([load_image(e.image) for e in heldout]) if heldout else None
    frozen_backbone = config.stage == 1
    backbone_seconds = None
    if frozen_backbone:  # the same features every step: compute them once
        model.backbone.to(accelerator.device)
        train_pixels, backbone_seconds = _patch_features(model, train_pixels, accelerator.device)
        if heldout_pixels is not None:
            heldout_pixels, _ = _patch_features(model, heldout_pixels, accelerator.device)
    image_key = "patch_features" if frozen_backbone else "pixel_values"

    trainable_names = {n for n, p in model.named_parameters() if p.requires_grad}
    trainable = [p for p in model.parameters() if p.requires_grad]
    parameters = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_save_state_pre_hook(_trainable_state_only(trainable_names))
    unwrapped: VisionLanguageModel = accelerator.unwrap_model(model)

    start = resume(accelerator, out, strict=False)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "vision-train-config.json").write_text(json.dumps(config.to_json(), indent=2))
    log_path = out / "log.jsonl"
    log = read_log(log_path, start)
    world, rank = accelerator.num_processes, accelerator.process_index
    pad_id = unwrapped.tokenizer.pad_token_id

    def temperature(step: int) -> float:
        return temperature_at(
            step,
            start=config.temperature_start,
            end=config.temperature_end,
            steps=config.max_steps,
            schedule=config.temperature_schedule,
        )

    @torch.no_grad()
    def heldout_loss() -> float | None:
        if heldout_pixels is None:
            return None
        model.eval()
        total, count = 0.0, 0
        for i in range(0, len(heldout_encoded), config.batch_size):
            batch = pad_batch(heldout_encoded[i : i + config.batch_size], pad_id)
            images = heldout_pixels[i : i + config.batch_size]
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            loss = model(**batch, **{image_key: images.to(accelerator.device)}).loss
            total, count = total + loss.item() * len(images), count + len(images)
        model.train()
        return round(total / count, 4)

    def save(step: int) -> None:
        save_checkpoint(accelerator, out, step, config.keep_checkpoints)
        if accelerator.is_main_process:
            write_log(log_path, log)

    if start == 0 and not log:
        log.append({"step": 0, "heldout_loss": heldout_loss()})
    rows_per_step = config.batch_size * world
    bar = tqdm(
        range(start, config.max_steps),
        initial=start,
        total=config.max_steps,
        desc=f"vision stage {config.stage}",
        unit="step",
        disable=not accelerator.is_main_process,
    )
    model.train()
    step_seconds: list[float] = []
    for step in bar:
        if stop_at is not None and step >= stop_at:
            return {"stopped_at": step}
        began = time.perf_counter()
        lr, unwrapped.config.temperature = learning_rate_at(step, config), temperature(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rows = batch_rows(step, len(train_encoded), rows_per_step, config.seed)
        mine = rows[rank * config.batch_size : (rank + 1) * config.batch_size]
        batch = pad_batch([train_encoded[i] for i in mine], pad_id)
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        images = train_pixels[torch.from_numpy(mine)].to(accelerator.device)
        loss = model(**batch, **{image_key: images}).loss
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(trainable, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad()
        step_loss = accelerator.reduce(loss.detach(), reduction="mean").item()
        step_seconds.append(time.perf_counter() - began)
        log.append(
            {
                "step": step + 1,
                "loss": round(step_loss, 4),
                "lr": lr,
                "temperature": round(unwrapped.config.temperature, 4),
                "seconds": round(step_seconds[-1], 3),
            }
        )
        bar.set_postfix(loss=f"{step_loss:.3f}")
        done = step + 1
        if done % config.save_every == 0 or done == config.max_steps:
            log.append({"step": done, "heldout_loss": heldout_loss()})
            save(done)

    unwrapped.config.temperature = temperature(config.max_steps)
    if accelerator.is_main_process:
        save_vision_model(unwrapped, out)
    trained = [r for r in log if "loss" in r]
    evals = [r for r in log if "heldout_loss" in r]
    report = {
        "stage": config.stage,
        "output": str(out),
        "from": str(config.previous) if config.previous else None,
        "connector": unwrapped.config.connector,
        "backbone": unwrapped.config.backbone,
        "llm": unwrapped.config.llm,
        "llm_training": unwrapped.config.llm_training,
        "parameters": parameters,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "train_images": len(examples),
        "heldout_images": len(heldout),
        "heldout_products": len({e.product_id for e in heldout}),
        "processes": world,
        "device": str(accelerator.device),
        "steps": config.max_steps,
        "seconds_per_step": round(float(np.median(step_seconds)), 3) if step_seconds else None,
        "backbone_seconds_per_image": round(backbone_seconds, 4) if backbone_seconds else None,
        "first_loss": trained[0]["loss"] if trained else None,
        "final_loss": trained[-1]["loss"] if trained else None,
        "heldout_loss_start": evals[0]["heldout_loss"] if evals else None,
        "heldout_loss_end": evals[-1]["heldout_loss"] if evals else None,
    }
    if accelerator.is_main_process:
        (out / "train-report.json").write_text(json.dumps(report, indent=2))
    return report
