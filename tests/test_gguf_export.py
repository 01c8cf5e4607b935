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
        ["models", "export-gguf", str(model_dir), "--out", str(out), "--name", "trained-test"]
        + ["--like", str(embedded_gguf)],
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


def qwen2_template(hf_model, tokenizer_gguf: Path, out: Path) -> Path:
    """A Qwen2 GGUF of ``hf_model`` as llama.cpp's converter writes one (f32, Q/K rows as
    transformers keeps them, Q/K/V biases), with the embedded model's tokenizer."""
    from gguf import GGUFValueType, GGUFWriter

    config = hf_model.config
    writer = GGUFWriter(out, "qwen2")
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_file_type(0)
    for name, field in GGUFReader(tokenizer_gguf).fields.items():
        if name.startswith("tokenizer."):
            vtype = GGUFValueType(field.types[0])
            sub = GGUFValueType(field.types[-1]) if vtype == GGUFValueType.ARRAY else None
            writer.add_key_value(name, field.contents(), vtype, sub)
    weights = {k: v.detach().float().numpy() for k, v in hf_model.state_dict().items()}
    names = ["token_embd.weight", "output_norm.weight"]
    for i in range(config.num_hidden_layers):
        names += [f"blk.{i}.{n}.weight" for n in ("attn_norm", "attn_q", "attn_k", "attn_v")]
        names += [f"blk.{i}.{n}.bias" for n in ("attn_q", "attn_k", "attn_v")]
        names += [f"blk.{i}.{n}.weight" for n in ("attn_output", "ffn_norm", "ffn_gate")]
        names += [f"blk.{i}.{n}.weight" for n in ("ffn_up", "ffn_down")]
    for name in names:
        writer.add_tensor(name, weights[hf_name(name)])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def test_a_trained_qwen2_exports_and_llamacpp_computes_what_transformers_does(
    embedded_gguf: Path, tmp_path: Path
):
    """Qwen2 (the embedded Qwen2.5 models): biases carried, Q and K rows left as they are (a
    Llama's rotary reordering would scramble them). The exported file's logits in llama.cpp
    match transformers' on the trained weights."""
    import llama_cpp
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=True,
    )  # fmt: skip
    start = Qwen2ForCausalLM(config)
    template = qwen2_template(start, embedded_gguf, tmp_path / "start.gguf")
    trained = Qwen2ForCausalLM(config)  # other weights: what training changed must show
    with torch.no_grad():
        for layer in trained.model.layers:  # random init leaves biases zero: make them count
            layer.self_attn.q_proj.bias.normal_(0, 0.5)
            layer.self_attn.k_proj.bias.normal_(0, 0.5)
    trained.save_pretrained(tmp_path / "trained")
    out = export_gguf(tmp_path / "trained", like=template, out=tmp_path / "t.gguf", progress=False)

    tokens = [1, 520, 3301, 77, 9412, 15, 44, 2048]
    with torch.no_grad():
        expected = trained(torch.tensor([tokens])).logits[0].numpy()
    llm = llama_cpp.Llama(str(out), n_ctx=64, logits_all=True, verbose=False, n_threads=1)
    llm.eval(tokens)
    got = np.asarray(llm.scores[: len(tokens)])
    llm.close()
    np.testing.assert_allclose(got, expected, atol=2e-2 * np.abs(expected).max())
    assert np.abs(got - expected).max() < np.abs(expected - start_logits(start, tokens)).max() / 10


def start_logits(model, tokens: list[int]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([tokens])).logits[0].numpy()


def test_the_template_of_a_model_trained_from_a_trained_model_is_the_first_gguf(
    embedded_gguf: Path, tmp_path: Path
):
    """An on-policy round trains from the round before: its report's base is a directory."""
    import json

    from pasar.cli.models import gguf_ancestor

    def trained(name: str, base: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        (folder / "report.json").write_text(json.dumps({"lineage": {"base_model": base}}))
        return folder

    round_1 = trained("round-1", str(embedded_gguf))
    round_2 = trained("round-2", str(round_1))
    assert gguf_ancestor(str(round_2)) == embedded_gguf.resolve()
    loop = trained("loop", str(tmp_path / "loop"))  # a report naming itself
    with pytest.raises(ValueError, match="leads to no GGUF file"):
        gguf_ancestor(str(loop))
