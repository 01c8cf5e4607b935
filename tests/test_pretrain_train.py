"""`pasar.pretrain` shards, language mix and the training loop (tiny models from a config)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_DATA, invoke_pasar
from safetensors.torch import load_file
from typer.testing import CliRunner

from pasar.cli.main import app
from pasar.pretrain.shards import ShardSet, mix_weights, write_shards
from pasar.pretrain.train import (
    PretrainConfig,
    build_model,
    flops_per_token,
    learning_rate_at,
    matmul_parameters,
    train,
)

NTREX = SHARED_DATA / "ntrex"
FILES = {"th": "tha", "vi": "vie", "en": "eng-US"}


def ntrex(lang: str, start: int, stop: int) -> list[str]:
    lines = (NTREX / f"newstest2019-ref.{FILES[lang]}.txt").read_text("utf-8").splitlines()
    return lines[start:stop]


@pytest.fixture(scope="module")
def tokenizer(tiny_hf_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_hf_dir)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory, tokenizer) -> Path:
    """train: 60 sentences a language; heldout: the next 10. Small shards, so windows cross."""
    out = tmp_path_factory.mktemp("shards")
    for split, (a, b) in {"train": (0, 60), "heldout": (60, 70)}.items():
        texts = {lang: ntrex(lang, a, b) for lang in FILES}
        write_shards(texts, tokenizer, out / split, shard_tokens=1000, progress=False)
    return out


def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "llama-test.json"
    path.write_text(
        json.dumps(
            {
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "max_position_embeddings": 256,
                "tie_word_embeddings": True,
            }
        )
    )
    return path


def test_shards_pack_every_document_and_resume(tmp_path: Path, tokenizer):
    texts = {"vi": ntrex("vi", 0, 40), "th": ntrex("th", 0, 5)}
    manifest = write_shards(texts, tokenizer, tmp_path, shard_tokens=300, progress=False)
    eos = tokenizer.eos_token_id
    for lang, docs in texts.items():
        expected = [
            t for d in docs for t in [*tokenizer(d, add_special_tokens=False)["input_ids"], eos]
        ]
        stream = ShardSet.open(tmp_path).window(lang, 0, len(expected))
        assert stream.tolist() == expected, lang
        assert manifest["languages"][lang]["tokens"] == len(expected)
    assert manifest["dtype"] == "uint16" and manifest["languages"]["vi"]["shards"] >= 3
    assert len(list((tmp_path / "vi").glob("*.bin"))) == manifest["languages"]["vi"]["shards"]

    # a kill during the last shard: its files never appeared; a rerun writes the same bytes
    shard_files = sorted((tmp_path / "vi").glob("*.bin"))
    before = [p.read_bytes() for p in shard_files]
    shard_files[-1].unlink()
    shard_files[-1].with_suffix(".json").unlink()
    (tmp_path / "vi" / "00009.bin.partial").write_bytes(b"junk")
    write_shards(texts, tokenizer, tmp_path, shard_tokens=300, progress=False)
    assert [p.read_bytes() for p in sorted((tmp_path / "vi").glob("*.bin"))] == before


def test_mix_weights_temperature_and_english_replay():
    sizes = {"th": 800, "vi": 100, "en": 50}
    by_size = mix_weights(sizes, temperature=1.0, english_share=0.1)
    assert by_size == pytest.approx({"th": 0.8, "vi": 0.1, "en": 0.1})
    flatter = mix_weights(sizes, temperature=3.0, english_share=0.1)
    assert flatter == pytest.approx({"th": 0.6, "vi": 0.3, "en": 0.1})  # 800^(1/3) = 2 * 100^(1/3)
    assert mix_weights(sizes, temperature=1e9)["th"] == pytest.approx(0.5)  # uniform
    assert "en" not in mix_weights({"th": 10, "en": 0}, english_share=0.5)
    with pytest.raises(ValueError, match="positive"):
        mix_weights(sizes, temperature=0)
    with pytest.raises(ValueError, match="shard the corpus"):
        mix_weights({"en": 10})


def test_batches_depend_only_on_seed_and_step(shards: Path):
    data = ShardSet.open(shards / "train")
    weights = {"th": 0.5, "vi": 0.4, "en": 0.1}
    a, langs = data.batch(step=3, rows=400, seq_len=16, weights=weights, seed=0)
    b, _ = data.batch(step=3, rows=400, seq_len=16, weights=weights, seed=0)
    c, _ = data.batch(step=4, rows=400, seq_len=16, weights=weights, seed=0)
    assert a.shape == (400, 17) and np.array_equal(a, b) and not np.array_equal(a, c)
    share = {lang: langs.count(lang) / len(langs) for lang in weights}
    assert share == pytest.approx(weights, abs=0.07)
    # a window across a shard boundary is the concatenated stream
    first = len(data.shards["vi"][0])
    across = data.window("vi", first - 3, 6)
    assert across.tolist() == [*data.shards["vi"][0][-3:], *data.shards["vi"][1][:3]]
    with pytest.raises(ValueError, match="lower --seq-len"):
        data.batch(step=0, rows=1, seq_len=10**6, weights=weights, seed=0)


def test_flops_and_learning_rate_schedule(tmp_path: Path, tiny_hf_dir: Path):
    model, tok = build_model(str(tiny_config(tmp_path)), str(tiny_hf_dir), seed=0)
    v, d, f, layers = len(tok), 32, 64, 2
    kv = d // 4 * 2  # 2 key/value heads of width 8
    per_layer = d * d * 2 + d * kv * 2 + 3 * d * f  # q, o, k, v, gate/up/down
    assert matmul_parameters(model) == layers * per_layer + v * d  # the tied output layer counts
    assert flops_per_token(model, 128) == 6 * (layers * per_layer + v * d) + 12 * layers * d * 128
    config = PretrainConfig(
        model="x",
        shards=tmp_path,
        output_dir=tmp_path,
        learning_rate=1.0,
        warmup_steps=10,
        max_steps=110,
        min_lr_ratio=0.1,
    )
    assert learning_rate_at(0, config) == pytest.approx(0.1)
    assert learning_rate_at(9, config) == pytest.approx(1.0)
    assert learning_rate_at(60, config) == pytest.approx(0.55)
    assert learning_rate_at(110, config) == pytest.approx(0.1)


def test_tiny_model_learns_from_shards_and_resume_is_exact(
    tmp_path: Path, shards: Path, tiny_hf_dir: Path
):
    def config(out: str) -> PretrainConfig:
        return PretrainConfig(
            model=str(tiny_config(tmp_path)),
            tokenizer=str(tiny_hf_dir),
            shards=shards,
            output_dir=tmp_path / out,
            seq_len=32,
            batch_size=4,
            grad_accum=2,
            learning_rate=1e-2,
            warmup_steps=2,
            max_steps=16,
            save_every=8,
            eval_every=8,
            eval_windows=4,
        )

    straight = train(config("straight"))
    assert straight["final_loss"] < straight["first_loss"] - 1.0
    for lang in ("th", "vi", "en"):
        assert straight["heldout_loss_end"][lang] < straight["heldout_loss_start"][lang] - 1.0
    assert straight["tokens_seen"] == 16 * 8 * 32
    assert straight["tokens_per_s"] > 0 and straight["flops_per_s"] > 0

    assert train(config("killed"), stop_at=11) == {"stopped_at": 11}  # killed in step 12
    assert [p.name for p in (tmp_path / "killed/checkpoints").iterdir()] == ["step-000008"]
    resumed = train(config("killed"))
    assert resumed["final_loss"] == straight["final_loss"]

    def losses(run: str) -> list:
        rows = (tmp_path / run / "log.jsonl").read_text().splitlines()
        return [(r["step"], r.get("loss"), r.get("heldout_loss")) for r in map(json.loads, rows)]

    assert losses("killed") == losses("straight")
    weights = [
        load_file(str(tmp_path / run / "model.safetensors")) for run in ("straight", "killed")
    ]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert (tmp_path / "straight/loss.png").stat().st_size > 10_000
    assert (tmp_path / "straight/config.json").exists()  # the trained model is a model folder

    with pytest.raises(ValueError, match="other settings"):
        changed = config("killed")
        changed.learning_rate = 1e-3
        train(changed)


def test_cli_shards_train_lora_and_eval(tmp_path: Path, tiny_hf_dir: Path):
    from pasar.pretrain.data import _write_jsonl

    data = tmp_path / "data"
    for lang in ("th", "vi"):
        (data / lang).mkdir(parents=True)
        _write_jsonl(data / lang / "train.jsonl", ntrex(lang, 0, 40))
        _write_jsonl(data / lang / "heldout.jsonl", ntrex(lang, 40, 50))
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "pretrain",
            "shards",
            "--data",
            str(data),
            "--tokenizer",
            str(tiny_hf_dir),
            "--out",
            str(tmp_path / "shards"),
            "--english",
            str(NTREX / "newstest2019-ref.eng-US.txt"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "shards/train/manifest.json").read_text())["languages"]) == {
        "th",
        "vi",
        "en",
    }
    common = [
        "--shards",
        str(tmp_path / "shards"),
        "--seq-len",
        "32",
        "--batch-size",
        "2",
        "--max-steps",
        "3",
        "--save-every",
        "3",
        "--warmup-steps",
        "1",
    ]
    result = runner.invoke(
        app,
        [
            "pretrain",
            "train",
            "--model",
            str(tiny_hf_dir),
            "--method",
            "lora",
            "--lora-rank",
            "4",
            "--out",
            str(tmp_path / "lora"),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "lora/train-report.json").read_text())
    embedding = report["parameters"] - report["trainable_parameters"]
    assert 0 < embedding < report["parameters"] and report["mix"]["en"] == pytest.approx(0.1)
    before = build_model(str(tiny_hf_dir), None, 0)[0].get_input_embeddings().weight
    after = build_model(str(tmp_path / "lora"), None, 0)[0].get_input_embeddings().weight
    assert before.shape == after.shape and not torch.equal(before, after)

    result = runner.invoke(
        app,
        [
            "pretrain",
            "eval",
            "--model",
            str(tmp_path / "lora"),
            "--data",
            str(data),
            "--english",
            str(NTREX / "newstest2019-ref.eng-US.txt"),
            "--max-bytes",
            "2000",
            "--out",
            str(tmp_path / "bpb.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert set(json.loads((tmp_path / "bpb.json").read_text())["languages"]) == {"th", "vi", "en"}

    result = runner.invoke(
        app, ["pretrain", "train", "--model", "llama-tiny", "--out", str(tmp_path / "x"), *common]
    )
    assert result.exit_code == 2 and "needs --tokenizer" in result.output
    result = runner.invoke(
        app,
        [
            "pretrain",
            "train",
            "--model",
            "llama-tiny",
            "--tokenizer",
            "smollm2-135m-instruct",
            "--shards",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 2 and "pasar pretrain shards" in result.output


def test_two_processes_take_the_same_steps_as_one(tmp_path: Path, shards: Path, tiny_hf_dir: Path):
    """DDP over gloo (torchrun, 2 CPU processes, each its slice of the rows) matches one process
    with the same global batch: the data order does not depend on the number of processes."""
    import subprocess
    import sys

    bin_dir = Path(sys.executable).parent
    common = [
        "pretrain",
        "train",
        "--model",
        str(tiny_config(tmp_path)),
        "--tokenizer",
        str(tiny_hf_dir),
        "--shards",
        str(shards),
        "--seq-len",
        "32",
        "--max-steps",
        "4",
        "--save-every",
        "4",
        "--eval-every",
        "2",
        "--warmup-steps",
        "1",
        "--grad-accum",
        "2",
    ]
    one = subprocess.run(
        [str(bin_dir / "pasar"), *common, "--batch-size", "4", "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
    )
    two = subprocess.run(
        [
            str(bin_dir / "torchrun"),
            "--nproc_per_node",
            "2",
            "-m",
            "pasar.cli.main",
            *common,
            "--batch-size",
            "2",
            "--out",
            str(tmp_path / "two"),
            "--name",
            "scratch-ddp",
        ],
        capture_output=True,
        text=True,
    )
    assert one.returncode == 0 and two.returncode == 0, one.stderr[-2000:] + two.stderr[-2000:]
    reports = [json.loads((tmp_path / r / "train-report.json").read_text()) for r in ("one", "two")]
    # Registered once, by the main process, with its lineage.
    shown = json.loads(invoke_pasar("models", "show", "scratch-ddp").stdout)
    assert shown["lineage"]["method"] == "pretrain-full" and shown["version"].startswith("w-")
    assert [r["processes"] for r in reports] == [1, 2]

    def losses(run: str) -> list:
        rows = map(json.loads, (tmp_path / run / "log.jsonl").read_text().splitlines())
        return [(r["step"], r.get("loss"), r.get("heldout_loss")) for r in rows]

    for a, b in zip(losses("one"), losses("two"), strict=True):
        assert a[0] == b[0] and (a[1] is None) == (b[1] is None)
        assert a[1] is None or a[1] == pytest.approx(b[1], abs=1e-3)  # summed in another order
        assert a[2] is None or a[2] == pytest.approx(b[2], abs=1e-3)
