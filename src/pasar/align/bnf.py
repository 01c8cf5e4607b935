"""BNFTrainer: alignment from good-only, bad-only or paired feedback with the BNF loss.

    trainer = BNFTrainer(model, BNFConfig(output_dir="out", ref="precompute"),
                         train_dataset=dataset, processing_class=tokenizer)
    trainer.train()

Data: TRL's unpaired format (prompt / completion / label) or paired (prompt / chosen /
rejected, split into one desirable and one undesirable row), standard or conversational.
Reference log-probs, per token, three ways: ``precompute`` (once, cached on disk, so training
holds one model), ``model`` (a frozen copy, computed each step) or ``adapter`` (the PEFT
model with its adapter switched off). Built on transformers' Trainer, so checkpoints, exact
resume, gradient accumulation and ``accelerate launch`` (DDP/FSDP/DeepSpeed) come with it.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from datasets import Dataset
from transformers import Trainer, TrainingArguments
from trl.data_utils import (
    common_prefix_length,
    extract_prompt,
    is_conversational,
    unpair_preference_dataset,
)
from trl.trainer.kto_trainer import DataCollatorForUnpairedPreference
from trl.trainer.utils import pad

from pasar.align.curves import TrainingLogCallback
from pasar.align.losses import bnf_loss, bnf_token_weights
from pasar.align.reference import (
    chunked_matches_full,
    completion_logps,
    precompute_reference,
    token_logps,
)
from pasar.config import get_settings

RefMode = Literal["precompute", "model", "adapter"]


@dataclass
class BNFConfig(TrainingArguments):
    """Settings of a BNF run. Every transformers TrainingArguments field applies as well.

    Defaults suit a CPU: fp32, no gradient checkpointing, a learning rate that moves a small
    model in tens of steps.
    """

    ref: RefMode = field(
        default="precompute",
        metadata={
            "help": "Reference log-probs: precompute (cached on disk, one model in memory), model "
            "(a frozen copy of the start model), adapter (the PEFT adapter switched off)."
        },
    )
    ref_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "Where precomputed reference log-probs are cached. "
            "Default: $PASAR_HOME/cache/ref_logps."
        },
    )
    max_length: int | None = field(
        default=512,
        metadata={"help": "Longest prompt + completion in tokens; longer ones are cut at the end."},
    )
    learning_rate: float = field(default=1e-5, metadata={"help": "AdamW learning rate."})
    logging_steps: float = field(default=1, metadata={"help": "Log every N steps."})
    save_only_model: bool = field(
        default=False,
        metadata={"help": "Keep optimizer state in checkpoints (needed for exact resume)."},
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep the tokenized columns for the collator."}
    )
    report_to: Any = field(default="none", metadata={"help": "Also log to tensorboard, wandb, ..."})
    plot: bool = field(
        default=True, metadata={"help": "Write log.csv and curves.png in output_dir."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ref not in ("precompute", "model", "adapter"):
            raise ValueError(f"ref={self.ref!r}: use precompute, model or adapter")
        if self.max_length is not None and self.max_length < 8:
            raise ValueError(
                f"max_length={self.max_length} is too short for a prompt and a completion"
            )


@dataclass
class BNFCollator(DataCollatorForUnpairedPreference):
    """TRL's unpaired collator plus per-token reference log-probs aligned with input_ids."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().torch_call(
            [{k: e[k] for k in ("prompt_ids", "completion_ids", "label")} for e in examples]
        )
        if "ref_token_logps" in examples[0]:
            rows = []
            for e, n in zip(examples, batch["attention_mask"].sum(-1).tolist(), strict=True):
                values = [0.0] * len(e["prompt_ids"]) + list(e["ref_token_logps"])
                rows.append(torch.tensor(values[:n], dtype=torch.float32))
            batch["ref_token_logps"] = pad(rows, padding_value=0, padding_side="right")  # (B, T)
        return batch


def tokenize_example(example: dict[str, Any], tokenizer: Any) -> dict[str, list[int]]:
    """prompt_ids and completion_ids, the completion starting where the two renderings part.
    A ``tools`` column (a list or its JSON string, as TRL reads it) goes to the chat template."""
    if is_conversational(example):
        tools = example.get("tools")
        rendering = {
            "tokenize": True,
            "return_dict": True,
            "tools": (json.loads(tools) if isinstance(tools, str) else tools) or None,
        }
        prompt = tokenizer.apply_chat_template(
            example["prompt"], add_generation_prompt=True, **rendering
        )["input_ids"]
        full = tokenizer.apply_chat_template(
            example["prompt"] + example["completion"], **rendering
        )["input_ids"]
    else:
        prompt = tokenizer(example["prompt"])["input_ids"]
        completion = example["completion"]
        if not completion.endswith(tokenizer.eos_token):
            completion += tokenizer.eos_token  # teach the model to stop
        full = tokenizer(example["prompt"] + completion)["input_ids"]
    cut = common_prefix_length(prompt, full)
    return {"prompt_ids": prompt[:cut], "completion_ids": full[cut:]}


def prepare_bnf_dataset(dataset: Dataset, tokenizer: Any, max_length: int | None) -> Dataset:
    """Unpair, tokenize and drop rows with nothing left to learn from."""
    columns = set(dataset.column_names)
    if {"chosen", "rejected"} <= columns:
        if "prompt" not in columns:
            dataset = dataset.map(extract_prompt)
        dataset = unpair_preference_dataset(dataset)
    elif not {"prompt", "completion", "label"} <= set(dataset.column_names):
        raise ValueError(
            f"BNF needs prompt/completion/label or prompt/chosen/rejected columns; "
            f"got {sorted(columns)}"
        )
    dataset = dataset.map(tokenize_example, fn_kwargs={"tokenizer": tokenizer})
    if max_length is not None:
        dataset = dataset.filter(
            lambda e: len(e["prompt_ids"]) < max_length and e["completion_ids"]
        )
    if len(dataset) == 0:
        raise ValueError("no example has a completion that fits max_length; raise --max-length")
    return dataset


class BNFTrainer(Trainer):
    """transformers' Trainer with BNF's loss and per-token reference log-probs."""

    loss_is_scaled_for_ga = False  # our loss is a per-micro-batch mean: let Trainer divide by GA

    def __init__(
        self,
        model: Any,
        args: BNFConfig,
        *,
        train_dataset: Dataset,
        processing_class: Any,
        ref_model: Any | None = None,
        peft_config: Any | None = None,
        callbacks: list[Any] | None = None,
    ):
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        self.ref_mode: RefMode = args.ref
        from peft import PeftModel

        if self.ref_mode == "adapter" and not isinstance(model, PeftModel):
            raise ValueError(
                "ref='adapter' needs a PEFT model (--lora); use 'model' or 'precompute'"
            )
        collator = BNFCollator(
            pad_token_id=processing_class.pad_token_id, max_length=args.max_length
        )
        dataset = prepare_bnf_dataset(train_dataset, processing_class, args.max_length)
        self.ref_model = None
        if self.ref_mode == "precompute":
            cache = (
                Path(args.ref_cache_dir)
                if args.ref_cache_dir
                else get_settings().home / "cache" / "ref_logps"
            )
            examples = dataset.select_columns(["prompt_ids", "completion_ids", "label"]).to_list()
            with _adapter_off(model):
                ref = precompute_reference(
                    model,
                    examples,
                    collator,
                    cache_dir=cache,
                    batch_size=args.per_device_eval_batch_size,
                )
            dataset = dataset.add_column("ref_token_logps", ref)
        elif self.ref_mode == "model":
            self.ref_model = ref_model if ref_model is not None else copy.deepcopy(model)
            self.ref_model.eval().requires_grad_(False)
        self._metrics: dict[str, list[float]] = defaultdict(list)
        callbacks = list(callbacks or [])
        if args.plot:
            callbacks.append(TrainingLogCallback())
        super().__init__(
            model=model,
            args=args,
            train_dataset=dataset,
            data_collator=collator,
            processing_class=processing_class,
            callbacks=callbacks,
        )
        if self.ref_model is not None:
            self.ref_model = self.ref_model.to(self.args.device)
        # Log-probs of completion tokens without materialising (B, T, V) logits, where that
        # gives the model's own numbers (checked once, on two rows of the data).
        probe = collator(
            [
                {k: e[k] for k in ("prompt_ids", "completion_ids", "label")}
                for e in dataset.select(range(min(2, len(dataset))))
            ]
        )
        probe = {k: v.to(self.args.device) for k, v in probe.items()}
        self.chunked = chunked_matches_full(model, probe, model.get_output_embeddings())

    def _logps(self, model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-token log-probs (B, T-1) of the completion tokens (other positions unused)."""
        if not self.chunked:
            return token_logps(model, inputs["input_ids"], inputs["attention_mask"])
        head = self.accelerator.unwrap_model(model).get_output_embeddings()
        return completion_logps(
            model,
            inputs["input_ids"],
            inputs["attention_mask"],
            inputs["completion_mask"][:, 1:],
            output_head=head,
        )

    def _reference_logps(self, model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if "ref_token_logps" in inputs:
            return inputs["ref_token_logps"][:, 1:]  # (B, T-1), aligned like the policy's
        with torch.no_grad():
            if self.ref_model is not None:
                return self._logps(self.ref_model, inputs)
            with _adapter_off(self.accelerator.unwrap_model(model)):
                return self._logps(model, inputs)

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        policy = self._logps(model, inputs)  # (B, T-1)
        ref = self._reference_logps(model, inputs)  # (B, T-1)
        mask = inputs["completion_mask"][:, 1:]  # (B, T-1)
        sign = inputs["label"].float() * 2 - 1  # (B,)
        loss = bnf_loss(policy, ref, mask, sign)
        self._record(policy.detach(), ref, mask.bool(), sign)
        return (loss, {}) if return_outputs else loss

    def _record(
        self, policy: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor, sign: torch.Tensor
    ) -> None:
        w = bnf_token_weights(policy, ref)
        log_ratio = (ref - policy).float()
        kl = torch.exp(log_ratio) - log_ratio - 1  # k3 estimator of KL(π || π_ref), ≥ 0
        self._metrics["kl"].append(kl[mask].mean().item())
        for name, rows in (("desirable", sign > 0), ("undesirable", sign < 0)):
            m = mask & rows[:, None]
            if m.any():
                self._metrics[f"weight/{name}"].append(w[m].mean().item())
                self._metrics[f"logps/{name}"].append(policy[m].float().mean().item())

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        for key, values in self._metrics.items():
            logs[key] = round(sum(values) / len(values), 6)
        self._metrics.clear()
        super().log(logs, start_time)


def _adapter_off(model: Any) -> AbstractContextManager[Any]:
    """A PEFT model with its adapter switched off (its base = the reference); others as they are."""
    from peft import PeftModel

    return model.disable_adapter() if isinstance(model, PeftModel) else nullcontext()
