"""Loading a model for training (from any pasar model name) and saving what training made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from pasar.models.registry import ensure_weights, resolve_model


def _local_weights(name: str) -> tuple[Path, dict[str, Any]]:
    """The folder and ``from_pretrained`` keywords of a local model (GGUF file or HF dir)."""
    spec = resolve_model(name)
    if spec.engine == "http":
        raise ValueError(
            f"{name} is a remote model; training needs local weights (an HF dir or GGUF)"
        )
    path = Path(ensure_weights(spec).source)  # an embedded model is assembled the first time
    if path.suffix == ".gguf":
        return path.parent, {"gguf_file": path.name}
    return path, {}


def load_tokenizer(name: str) -> Any:
    """The tokenizer of a pasar model name, an HF directory or a GGUF file."""
    path, kwargs = _local_weights(name)
    return AutoTokenizer.from_pretrained(path, **kwargs)


def load_trainable(name: str, *, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """(model, tokenizer) for a pasar model name, an HF directory or a GGUF file.

    A GGUF loads dequantised; transformers cannot save such a model ("quantized with gguf"), so it
    is rebuilt from its config without the quantization entry and given the same weights.
    """
    path, kwargs = _local_weights(name)
    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
    if "gguf_file" in kwargs:
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        rebuilt = AutoModelForCausalLM.from_config(config, dtype=dtype)
        rebuilt.load_state_dict(model.state_dict())
        model = rebuilt
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def save_trained(model: Any, tokenizer: Any, output_dir: Path) -> Path:
    """Save a plain HF directory (LoRA merged in) that loads back as a pasar model name."""
    from peft import PeftModel

    if isinstance(model, PeftModel):
        model.save_pretrained(str(output_dir / "adapter"))
        model = model.merge_and_unload()
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir
