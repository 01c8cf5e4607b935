"""A trained Hugging Face Llama or Qwen2 directory back to GGUF, so llama.cpp serves what pasar
trained.

    export_gguf(Path("runs/sft"), like=embedded_gguf, out=Path("runs/sft.gguf"), outtype="f16")

``pasar align`` writes a plain HF directory (LoRA merged) of a model that usually started as a
GGUF (the embedded SmolLM2). This writes the new weights into a copy of that starting GGUF: the
metadata (architecture, tokenizer, chat template) and the tensor order are the template's, only
the weights change. Names follow llama.cpp's convert_hf_to_gguf.py for the Llama and Qwen2
architectures (Qwen2's Q, K and V biases included); a Llama's Q and K get llama.cpp's rotary row
order back (transformers undoes it when it loads a Llama GGUF; Qwen2 rotates halves as stored).
Matrices are written as ``outtype``: f16 (default) keeps a fine-tune's small weight changes that
4-bit would round away; ``same`` re-quantises to the template's types (smaller, lossier).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter, quants

from pasar.errors import MissingInputError

OUTTYPES = {
    "f32": GGMLQuantizationType.F32,
    "f16": GGMLQuantizationType.F16,
    "q8_0": GGMLQuantizationType.Q8_0,
}
FILE_TYPES = {"f32": 0, "f16": 1, "q8_0": 7}  # llama.cpp's general.file_type (LLAMA_FTYPE_*)

HF_NAMES = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
ARCHITECTURES = ("llama", "qwen2")
TENSOR = re.compile(r"(?:blk\.(\d+)\.)?(\w+)\.(weight|bias)")


def hf_name(gguf_name: str) -> str:
    """The transformers parameter behind a llama.cpp tensor name."""
    tensor = TENSOR.fullmatch(gguf_name)
    if tensor is None or tensor[2] not in HF_NAMES:
        raise ValueError(f"no transformers name for GGUF tensor {gguf_name!r}")
    block, base, kind = tensor.groups()
    if block is not None:
        return f"model.layers.{block}.{HF_NAMES[base]}.{kind}"
    return f"{HF_NAMES[base]}.{kind}"


def rope_rows(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's row order of a Q or K projection (its convert script's ``permute``)."""
    rows = weight.shape[0]
    return (
        weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def export_gguf(
    model_dir: Path, *, like: Path, out: Path, outtype: str = "f16", progress: bool = True
) -> Path:
    """Write ``model_dir``'s weights into a copy of the GGUF ``like``; returns ``out``."""
    import torch
    from safetensors.torch import load_file
    from tqdm import tqdm

    if outtype not in (*OUTTYPES, "same"):
        raise ValueError(f"outtype {outtype!r}: use one of {', '.join([*OUTTYPES, 'same'])}")
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise MissingInputError(
            f"{model_dir}: no *.safetensors; give the output directory of `pasar align ...`"
        )
    weights: dict[str, Any] = {}
    for file in files:
        weights.update(load_file(file))
    template = GGUFReader(like)
    arch = str(template.fields["general.architecture"].contents())
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"{like}: architecture {arch!r}; only {' and '.join(ARCHITECTURES)} GGUFs can be a "
            "template"
        )
    heads = int(template.fields[f"{arch}.attention.head_count"].contents())
    kv_heads = int(template.fields[f"{arch}.attention.head_count_kv"].contents())

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    writer = GGUFWriter(partial, arch)
    for name, field in template.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        if name == "general.file_type" and outtype != "same":
            writer.add_uint32(name, FILE_TYPES[outtype])
            continue
        vtype = GGUFValueType(field.types[0])
        sub_type = GGUFValueType(field.types[-1]) if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(name, field.contents(), vtype, sub_type)

    for tensor in tqdm(template.tensors, desc="GGUF tensors", unit="tensor", disable=not progress):
        key = hf_name(tensor.name)
        if key == "lm_head.weight" and key not in weights:
            key = "model.embed_tokens.weight"  # tied embeddings
        if key not in weights:
            raise ValueError(
                f"{model_dir} has no {key} (for {tensor.name}): not a {arch} model? The template "
                "must be the model the training started from"
            )
        array = weights[key].to(torch.float32).numpy()
        expected = tuple(int(n) for n in reversed(tensor.shape))
        if array.shape != expected:
            raise ValueError(
                f"{key} is {array.shape} but {like.name} has {expected} for {tensor.name}: "
                "the template must be the model the training started from"
            )
        if arch == "llama" and tensor.name.endswith("attn_q.weight"):
            array = rope_rows(array, heads)
        elif arch == "llama" and tensor.name.endswith("attn_k.weight"):
            array = rope_rows(array, kv_heads)
        if array.ndim == 1 or tensor.tensor_type == GGMLQuantizationType.F32:
            writer.add_tensor(tensor.name, array)
            continue
        qtype = tensor.tensor_type if outtype == "same" else OUTTYPES[outtype]
        if qtype == GGMLQuantizationType.F16:
            writer.add_tensor(tensor.name, array.astype(np.float16))
        elif qtype == GGMLQuantizationType.F32:
            writer.add_tensor(tensor.name, array)
        else:
            writer.add_tensor(tensor.name, quants.quantize(array, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file(progress=False)
    writer.close()
    partial.replace(out)  # a killed export leaves no half-written model under the final name
    return out
