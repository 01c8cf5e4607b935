"""A reward model from preference pairs, with TRL's RewardTrainer.

    report = train_reward_model(RewardOptions(model="smollm2-135m-instruct",
                                              data="pairs.jsonl", output_dir="out/rm"))

The start model gets a one-output head; the trained model is a plain Hugging Face directory that
``pasar eval winrate --judge reward:DIR`` and the on-policy loop score with.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification

from pasar.align.curves import TrainingLogCallback
from pasar.data.datasets import detect_format, load_data_file
from pasar.models.weights import load_trainable


@dataclass
class RewardOptions:
    model: str
    data: str
    output_dir: str
    max_steps: int = 100
    learning_rate: float = 1e-5
    batch_size: int = 4
    max_length: int = 512
    seed: int = 0


def load_reward_base(name: str) -> tuple[Any, Any]:
    """(sequence-classification model with one output, tokenizer) from any pasar model: the
    causal model's body, a new scalar head."""
    causal, tokenizer = load_trainable(name)
    config = causal.config
    config.num_labels = 1
    config.pad_token_id = tokenizer.pad_token_id
    model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    missing, _ = model.load_state_dict(causal.state_dict(), strict=False)
    new = [k for k in missing if not k.startswith("score")]
    if new:
        raise ValueError(f"{name}: the reward model's body lacks weights {new[:3]}")
    return model, tokenizer


def train_reward_model(options: RewardOptions) -> dict[str, Any]:
    from trl import RewardConfig, RewardTrainer

    dataset = load_data_file(options.data)
    if detect_format(dataset) != "paired":
        raise ValueError(
            f"a reward model trains on prompt/chosen/rejected pairs; {options.data} is not "
            "(`pasar feedback export --format dpo` writes pairs)"
        )
    torch.manual_seed(options.seed)
    model, tokenizer = load_reward_base(options.model)
    config = RewardConfig(
        output_dir=options.output_dir,
        max_steps=options.max_steps,
        per_device_train_batch_size=options.batch_size,
        learning_rate=options.learning_rate,
        max_length=options.max_length,
        logging_steps=1,
        save_strategy="no",
        seed=options.seed,
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = RewardTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[TrainingLogCallback()],
    )
    started = time.perf_counter()
    trainer.train()
    output = Path(options.output_dir)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    logs = [h for h in trainer.state.log_history if "loss" in h]
    report = {
        "options": asdict(options),
        "rows": len(dataset),
        "steps": trainer.state.global_step,
        "runtime_s": round(time.perf_counter() - started, 2),
        "first_log": logs[0] if logs else None,
        "last_log": logs[-1] if logs else None,
        "model_dir": str(output),
    }
    (output / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    return report
