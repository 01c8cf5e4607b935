"""`pasar models export-gguf`: a trained HF directory back to GGUF, run by llama.cpp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader, quants
from typer.testing import CliRunner

from pasar.cli.main import app
from pasar.models.gguf_export import export_gguf, hf_name, rope_rows
from pasar.models.registry import load_engine, resolve_model
from pasar.models.weights import load_trainable, save_trained

CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]


def test_names_and_rope_rows():
    assert hf_name("blk.3.attn_q.weight") == "model.layers.3.self_attn.q_proj.weight"
    assert hf_name("output_norm.weight") == "model.norm.weight"
    with pytest.raises(ValueError, match="no transformers name"):
        hf_name("blk.0.attn_qkv.weight")
    # llama.cpp interleaves each head's two rotary halves: rows 0..3 of one head -> 0, 2, 1, 3
    rows = np.arange(8, dtype=np.float32).reshape(8, 1)
    assert rope_rows(rows, heads=2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_export_round_trips_the_embedded_model_and_llamacpp_runs_it(
    embedded_gguf: Path, tmp_path: Path
):
    model, tokenizer = load_trainable(str(embedded_gguf))
    model_dir = save_trained(model, tokenizer, tmp_path / "trained")
    out = tmp_path / "trained.gguf"
    result = CliRunner().invoke(
        app,
        ["models", "export-gguf", str(model_dir), "--out", str(out), "--name", "trained-test"],
    )
    assert result.exit_code == 0, result.output
    assert resolve_model("trained-test").source == str(out.resolve())

    # Every tensor is the starting GGUF's (dequantised), to f16 rounding: Q and K rows included.
    start = {t.name: t for t in GGUFReader(embedded_gguf).tensors}
    exported = {t.name: t for t in GGUFReader(out).tensors}
    assert list(exported) == list(start)
    for name in ("blk.0.attn_q.weight", "blk.5.attn_k.weight", "blk.29.ffn_down.weight"):
        assert exported[name].tensor_type.name == "F16"
        before = quants.dequantize(start[name].data, start[name].tensor_type)
        after = np.asarray(exported[name].data, dtype=np.float32).reshape(before.shape)
        np.testing.assert_allclose(after, before, rtol=1e-3, atol=1e-4)

    # llama.cpp runs it and answers as transformers does on the same weights.
    engine = load_engine("trained-test")
    try:
        assert engine.kind == "llamacpp"
        assert engine.chat(CAPITAL, max_tokens=30).text == "The capital of France is Paris."
    finally:
        engine.close()


def test_export_refuses_a_model_that_does_not_match_the_template(
    tiny_hf_dir: Path, embedded_gguf: Path, tmp_path: Path
):
    with pytest.raises(ValueError, match="the template must be the model the training started"):
        export_gguf(tiny_hf_dir, like=embedded_gguf, out=tmp_path / "x.gguf", progress=False)
    assert not (tmp_path / "x.gguf").exists()
    result = CliRunner().invoke(
        app, ["models", "export-gguf", str(tmp_path), "--out", str(tmp_path / "y.gguf")]
    )
    assert result.exit_code == 2 and "no config.json" in " ".join(result.output.split())
