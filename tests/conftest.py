"""Shared fixtures: an isolated PASAR_HOME per test, and models loaded once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pasar.config import get_settings
from pasar.models.embedded import find_embedded_gguf

TESTS = Path(__file__).parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def pasar_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets an empty PASAR_HOME and fresh settings, so nothing leaks between tests."""
    home = tmp_path / "pasar-home"
    monkeypatch.setenv("PASAR_HOME", str(home))
    for var in ("PASAR_MODEL", "PASAR_ENGINE", "PASAR_CONFIG", "PASAR_N_CTX", "PASAR_STORE_URL"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedded_gguf() -> Path:
    path = find_embedded_gguf(Path("/nonexistent"))
    assert path is not None, "the embedded model is not installed: run scripts/setup"
    return path


@pytest.fixture(scope="session")
def llama_engine(embedded_gguf: Path):
    from pasar.models.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine("smollm2-135m-instruct", str(embedded_gguf), n_ctx=1024)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def hf_gguf_engine(embedded_gguf: Path):
    """The embedded GGUF dequantised into transformers (about 15 s to load)."""
    from pasar.models.hf import HFEngine

    return HFEngine("smollm2-135m-instruct", str(embedded_gguf), n_ctx=1024)


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory: pytest.TempPathFactory, embedded_gguf: Path) -> Path:
    """A random 2-layer Llama, hidden size 8, with SmolLM2's real tokenizer, as an HF dir."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded_gguf.parent, gguf_file=embedded_gguf.name)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
