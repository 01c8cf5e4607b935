"""One entry point for every method: load model and data, train, save a loadable model.

    report = run_alignment(AlignOptions(method="bnf", model="smollm2-135m-instruct",
                                        data="feedback.jsonl", output_dir="out/bnf"))

``sft``, ``dpo`` and ``kto`` are TRL's own trainers with CPU-sane settings, so that the same
data can be compared method against method; ``bnf`` is pasar's BNFTrainer. The output directory
is a plain Hugging Face model directory (LoRA merged), usable as a model name anywhere in pasar.
"""

from __future__ import annotations

import copy
import json
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from pasar.align.chat_templates import training_chat_template
from pasar.align.curves import TrainingLogCallback
from pasar.data.datasets import METHOD_FORMATS, detect_format, load_data_file
from pasar.models.registry import trained_lineage
from pasar.models.weights import load_trainable, save_trained

Method = Literal["sft", "bnf", "dpo", "kto"]


@dataclass
class AlignOptions:
    method: Method
    model: str
    data: str
    output_dir: str
    lora: bool = False
    lora_rank: int = 16
    max_steps: int = 100
    learning_rate: float | None = None  # per-method default below
    batch_size: int = 4
    grad_accum: int = 1
    max_length: int = 512
    ref: Literal["precompute", "model", "adapter"] = "precompute"
    seed: int = 0
    save_steps: int = 50
    resume: bool = False
    report_to: str = "none"  # also log to "tensorboard" (in output_dir/runs), "wandb", ...
    drop_longer: bool = False  # sft: leave out rows over max_length rather than cut them

    def __post_init__(self) -> None:
        if self.method not in METHOD_FORMATS:
            raise ValueError(f"method {self.method!r} is not one of {', '.join(METHOD_FORMATS)}")
        if self.max_steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("max_steps, batch_size and grad_accum must be at least 1")
        if self.drop_longer and self.method != "sft":
            raise ValueError("--drop-longer is for sft (conversations in `messages` rows)")
        if self.ref == "adapter" and not self.lora:
            raise ValueError(
                "--ref adapter needs --lora (the reference is the adapter switched off)"
            )


DEFAULT_LR = {"sft": 2e-5, "bnf": 1e-5, "dpo": 5e-6, "kto": 5e-6}


def common_args(options: AlignOptions) -> dict[str, Any]:
    """TrainingArguments shared by every method (CPU-friendly, resumable)."""
    return {
        "output_dir": options.output_dir,
        "max_steps": options.max_steps,
        "per_device_train_batch_size": options.batch_size,
        "per_device_eval_batch_size": options.batch_size,
        "gradient_accumulation_steps": options.grad_accum,
        "learning_rate": options.learning_rate or DEFAULT_LR[options.method],
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": options.save_steps,
        "save_total_limit": 2,
        "seed": options.seed,
        "bf16": False,
        "gradient_checkpointing": False,
        "report_to": options.report_to,
        "use_cpu": not torch.cuda.is_available(),
        "remove_unused_columns": False,
    }


def lora_config(options: AlignOptions) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=options.lora_rank,
        lora_alpha=2 * options.lora_rank,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def reference_copy(options: AlignOptions, model: Any) -> Any:
    """TRL loads its reference model from the model's path, which a GGUF does not have: give it
    the frozen copy it would build. With LoRA, TRL uses the adapter switched off instead."""
    return None if options.lora else copy.deepcopy(model)


def build_trainer(options: AlignOptions, model: Any, tokenizer: Any, dataset: Any) -> Any:
    peft = lora_config(options) if options.lora else None
    args = common_args(options)
    if options.method == "bnf":
        from pasar.align.bnf import BNFConfig, BNFTrainer

        return BNFTrainer(
            model,
            BNFConfig(**args, ref=options.ref, max_length=options.max_length),
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft,
        )
    log: list[Any] = [TrainingLogCallback()]
    if options.method == "sft":
        from trl import SFTConfig, SFTTrainer

        template = training_chat_template(tokenizer) if "messages" in dataset.column_names else None
        if template:  # loss on the assistant's turns only; the saved tokenizer keeps its template
            tokenizer = copy.deepcopy(tokenizer)
            tokenizer.chat_template = template
        sft = SFTConfig(**args, max_length=options.max_length, assistant_only_loss=bool(template))
        return SFTTrainer(
            model=model,
            args=sft,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft,
            callbacks=log,
        )
    # DPO and KTO take the same arguments; TRL's own trainers, as the baselines.
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    config_class, trainer_class = {"dpo": (DPOConfig, DPOTrainer), "kto": (KTOConfig, KTOTrainer)}[
        options.method
    ]
    config = config_class(
        **args, max_length=options.max_length, precompute_ref_log_probs=options.ref == "precompute"
    )
    return trainer_class(
        model=model,
        ref_model=reference_copy(options, model),
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft,
        callbacks=log,
    )


def rows_that_fit(dataset: Any, tokenizer: Any, max_length: int) -> Any:
    """The ``messages`` rows whose whole conversation fits in ``max_length`` tokens."""
    fits = dataset.filter(
        lambda row: (
            len(tokenizer.apply_chat_template(row["messages"], return_dict=True)["input_ids"])
            <= max_length
        )
    )
    if len(fits) == 0:
        raise ValueError(
            f"no conversation fits in --max-length {max_length} tokens; raise it, or leave out "
            "--drop-longer to train on their beginnings"
        )
    return fits


def run_alignment(options: AlignOptions) -> dict[str, Any]:
    """Train, save the model and a report.json in output_dir; return the report."""
    dataset = load_data_file(options.data)
    found = detect_format(dataset)
    if found not in METHOD_FORMATS[options.method]:
        raise ValueError(
            f"{options.method} needs {' or '.join(sorted(METHOD_FORMATS[options.method]))} data; "
            f"{options.data} is {found}. `pasar feedback export --format "
            f"{options.method}` writes the right one"
        )
    output = Path(options.output_dir)
    checkpoints = sorted(output.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    if checkpoints and not options.resume:
        raise ValueError(
            f"{output} already has checkpoints ({checkpoints[-1].name}); pass --resume "
            "to continue that run, or choose another --output"
        )
    torch.manual_seed(options.seed)
    begun = time.perf_counter()
    model, tokenizer = load_trainable(options.model)
    rows = len(dataset)
    if options.drop_longer:
        dataset = rows_that_fit(dataset, tokenizer, options.max_length)
    trainer = build_trainer(options, model, tokenizer, dataset)
    started = time.perf_counter()
    trainer.train(
        resume_from_checkpoint=str(checkpoints[-1]) if checkpoints and options.resume else None
    )
    runtime = time.perf_counter() - started
    save_trained(trainer.model, tokenizer, output)
    logs = [h for h in trainer.state.log_history if "loss" in h]
    report = {
        "lineage": trained_lineage(
            base=options.model,
            data=Path(options.data),
            method=options.method,
            settings=asdict(options),
        ),
        "options": asdict(options),
        "data_format": found,
        "rows": rows,
        "rows_trained": len(dataset),
        "steps": trainer.state.global_step,
        "runtime_s": round(runtime, 2),
        # Loading, reference log-probs computed before training (BNF) and training together.
        "total_s": round(time.perf_counter() - begun, 2),
        "peak_memory_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        # transformers' estimate (6 x parameters x tokens, frozen ones included): a yardstick
        # for comparing runs, not a count of the operations a LoRA run performs.
        "total_flos": trainer.state.total_flos,
        "flops_per_s": round(trainer.state.total_flos / runtime) if runtime else None,
        "loss_on": "assistant turns"
        if getattr(trainer.args, "assistant_only_loss", False)
        else "all tokens",
        "first_log": logs[0] if logs else None,
        "last_log": logs[-1] if logs else None,
        "model_dir": str(output),
    }
    (output / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report
