"""Evaluating the vision model: the pure metrics, listing-photo consistency on a tiny captioner
trained on solid colours, `pasar vision check`, `eval`, the caption schema and
`translate-image`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from pasar.apps.vision.consistency import (
    THRESHOLD_FILE,
    best_threshold,
    consistency_scores,
    contrastive_scores,
    read_image_catalog,
    title_log_likelihoods,
)
from pasar.apps.vision.data import CAPTION_SCHEMA, caption_record, is_heldout
from pasar.apps.vision.evaluate import auroc, recall_at_k
from pasar.apps.vision.model import (
    VisionModelConfig,
    build_vision_model,
    load_vision_model,
    save_vision_model,
)
from pasar.apps.vision.train import pad_batch
from pasar.cli.main import app

COLOURS = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220)}
COLOURS |= {"yellow": (230, 220, 20)}
CATEGORIES = {"red": "Warm / Red", "yellow": "Warm / Yellow", "green": "Cool / Green"}
CATEGORIES |= {"blue": "Cool / Blue"}
HELDOUT_PERCENT = 30  # holds out green and yellow (a hash of the product id)


def colour_photo(name: str) -> Image.Image:
    return Image.new("RGB", (40, 40), COLOURS[name])


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny matrices: one thread is faster than two that contend (and CI machines are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def colour_model(small_llm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A captioner (random 2-layer Llama, hidden 32, 4×4 tiny-conv patches) trained to title
    each of four solid colours by its name: 10 steps of the connector alone, then 45 of
    everything. A unit-test fixture: it says nothing about real photos."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see one_thread
    vision_config = VisionModelConfig(
        llm=str(small_llm_dir), backbone="tiny-conv", visual_vocab_size=16, tiny_grid=4
    )
    model = build_vision_model(vision_config)
    captions = [model.encode(model.config.prompt, name) for name in COLOURS]
    batch = pad_batch(captions, model.tokenizer.pad_token_id)
    pixels = model.pixels([colour_photo(name) for name in COLOURS])
    model.train()
    for trained, steps, learning_rate in (("connector", 10, 5e-2), ("all", 45, 1e-2)):
        model.requires_grad_(trained == "all")
        model.connector.requires_grad_(True)
        parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=learning_rate)
        for _ in range(steps):
            model(**batch, pixel_values=pixels).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    model.config.llm_training = "full"
    torch.set_num_threads(threads)
    return save_vision_model(model, tmp_path_factory.mktemp("colour-model"))


@pytest.fixture(scope="module")
def colour_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four colours as products with a category, in the JSONL layout load_examples reads."""
    folder = tmp_path_factory.mktemp("colour-photos")
    rows = []
    for name in COLOURS:
        colour_photo(name).save(folder / f"{name}.png")
        row = {"image": f"{name}.png", "product_id": name, "title": name}
        rows.append(json.dumps(row | {"attributes": {"category": CATEGORIES[name]}}))
    manifest = folder / "products.jsonl"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def invoke(*args: str):
    return CliRunner().invoke(app, ["vision", *args], env={"COLUMNS": "200"})


# -- metrics on known inputs ---------------------------------------------------------------------


def test_recall_at_k_on_a_known_score_matrix() -> None:
    scores = np.array(
        [
            [0.9, 0.1, 0.0, 0.0],  # truth 0: first
            [0.5, 0.2, 0.9, 0.1],  # truth 1: third
            [0.3, 0.3, 0.1, 0.0],  # truth 0: tied with column 1, which counts against it
        ]
    )
    truth = [0, 1, 0]
    assert recall_at_k(scores, truth, 1) == pytest.approx(1 / 3)
    assert recall_at_k(scores, truth, 2) == pytest.approx(2 / 3)
    assert recall_at_k(scores, truth, 3) == 1.0
    with pytest.raises(ValueError, match="one true column per row"):
        recall_at_k(scores, [0, 1], 1)
    with pytest.raises(ValueError, match="k must be"):
        recall_at_k(scores, truth, 0)


def test_auroc_of_perfect_reversed_and_random_scores() -> None:
    assert auroc([0.9, 0.8, 0.7], [0.1, 0.2]) == 1.0
    assert auroc([0.1, 0.2], [0.9, 0.8, 0.7]) == 0.0
    rng = np.random.default_rng(0)
    assert auroc(rng.random(2000).tolist(), rng.random(2000).tolist()) == pytest.approx(0.5, 0.05)
    assert auroc([1.0, 0.0], [0.5]) == 0.5
    with pytest.raises(ValueError, match="positives and negatives"):
        auroc([0.3], [])


def test_contrastive_scores_and_the_best_threshold() -> None:
    likelihoods = np.array([[-1.0, -2.0, -3.0], [-5.0, -5.0, -2.0]])
    contrastive = contrastive_scores(likelihoods)
    assert np.allclose(contrastive[0], [1.5, 0.0, -1.5])  # -1 - mean(-2, -3), ...
    assert np.allclose(contrastive[1], [-1.5, -1.5, 3.0])
    assert (contrastive.argmax(1) == likelihoods.argmax(1)).all(), "the order within a row stays"
    with pytest.raises(ValueError, match="at least 2 titles"):
        contrastive_scores(np.array([[-1.0]]))

    assert best_threshold([-1.0, -0.5, 0.5, 1.0], [0, 0, 1, 1]) == (0.0, 1.0)
    threshold, accuracy = best_threshold([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    assert accuracy == 0.75 and 0.1 < threshold <= 0.8
    with pytest.raises(ValueError, match="as many labels"):
        best_threshold([0.1, 0.2], [1])


# -- consistency on a trained tiny model ---------------------------------------------------------


def test_consistency_ranks_the_true_title_first(colour_model: Path, one_thread: None) -> None:
    model = load_vision_model(colour_model)
    titles = list(COLOURS)
    photos = [colour_photo(name) for name in titles]
    likelihoods = title_log_likelihoods(model, photos, titles)  # (4, 4)
    assert likelihoods.shape == (4, 4) and (likelihoods < 0).all()
    assert recall_at_k(likelihoods, list(range(4)), 1) == 1.0
    for number, photo in enumerate(photos):
        scores = consistency_scores(model, photo, titles, [])
        assert scores.argmax() == number and scores[number] > 0, titles[number]
        assert np.allclose(scores, contrastive_scores(likelihoods)[number], atol=1e-4)
    # the likelihood of a whole caption line is the same batched or alone
    alone = title_log_likelihoods(model, photos[:1], titles[:1])
    assert alone[0, 0] == pytest.approx(likelihoods[0, 0], abs=1e-4)


# -- the CLI -------------------------------------------------------------------------------------


def test_check_reports_a_broken_image_per_row(
    colour_model: Path, colour_manifest: Path, tmp_path: Path, one_thread: None
) -> None:
    (tmp_path / "broken.png").write_text("not a picture")
    shutil.copy(colour_manifest.parent / "red.png", tmp_path / "red.png")
    absolute = colour_manifest.parent / "blue.png"
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "image,title\nred.png,red\n"
        f"{absolute},yellow\nbroken.png,green\nmissing.png,blue\nred.png,\n"
    )
    report_path = tmp_path / "check.json"
    result = invoke("check", str(catalog), "--model", str(colour_model), "--out", str(report_path))
    assert result.exit_code == 2 and "pasar vision eval" in result.output, "no threshold yet"

    args = ("check", str(catalog), "--model", str(colour_model), "--threshold", "0")
    result = invoke(*args, "--out", str(report_path))
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    rows = report["rows"]
    assert "verdict" in rows[0], rows[0]
    assert rows[0]["verdict"] == "consistent" and rows[0]["score"] > 0
    assert rows[1]["verdict"] == "mismatch" and rows[1]["score"] < 0, "a blue photo, 'yellow'"
    assert "broken.png is not an image" in rows[2]["error"] and "verdict" not in rows[2]
    assert "does not exist" in rows[3]["error"]
    assert "title is empty" in rows[4]["error"]
    assert report["summary"] == {"rows": 5, "consistent": 1, "mismatch": 1, "errors": 3}
    assert report["threshold"] == 0 and report["threshold_from"] == "given"


def test_image_catalog_needs_image_and_title_columns(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("photo,title\na.png,red\n")
    with pytest.raises(ValueError, match="no image column"):
        read_image_catalog(catalog)
    jsonl = tmp_path / "catalog.jsonl"
    jsonl.write_text('{"image": "a.png", "title": "red"}\n')
    assert read_image_catalog(jsonl) == [{"image": str(tmp_path / "a.png"), "title": "red"}]
    with pytest.raises(ValueError, match="does not exist"):
        read_image_catalog(tmp_path / "nope.csv")
    text = tmp_path / "catalog.txt"
    text.write_text("image,title\n")
    with pytest.raises(ValueError, match=r"use \.csv or \.jsonl"):
        read_image_catalog(text)


def test_eval_on_held_out_colours_through_the_cli(
    colour_model: Path, colour_manifest: Path, tmp_path: Path, one_thread: None
) -> None:
    heldout = [name for name in COLOURS if is_heldout(name, HELDOUT_PERCENT)]
    assert heldout == ["green", "yellow"], "the split this test is written for"
    model = shutil.copytree(colour_model, tmp_path / "model")  # eval stores its threshold there
    report_path, page = tmp_path / "eval.json", tmp_path / "page"
    result = invoke(
        "eval",
        "--model",
        str(model),
        "--data",
        str(colour_manifest),
        "--heldout-percent",
        str(HELDOUT_PERCENT),
        "--max-new-tokens",
        "4",
        "--page",
        str(page),
        "--out",
        str(report_path),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["heldout_products"] == 2 and report["train_images"] == 2
    # the tiny model was trained on every colour, so it knows the held-out ones too
    assert report["retrieval"] == {"titles": 2, "recall_at_1": 1.0, "recall_at_5": 1.0}
    consistency = report["consistency"]
    assert consistency["auroc"] == 1.0 and consistency["true_pairs"] == 2
    assert consistency["threshold_from"] == "training split"
    assert consistency["threshold_fit"]["train_accuracy"] == 1.0
    stored = json.loads((model / THRESHOLD_FILE).read_text())
    assert stored["threshold"] == consistency["threshold"]
    category = report["category"]
    assert category["images"] == 2 and category["candidates"] == 4
    assert 0 <= category["accuracy"] <= 1
    predictions = {p["title"]: p for p in report["predictions"]}
    assert predictions["green"]["caption"] == "green"
    assert predictions["green"]["top_titles"][0][0] == "green"
    html = (page / "index.html").read_text()
    assert "Held-out products: 2 photos" in html and "thumbnails/001.png" in html
    assert Image.open(page / "thumbnails" / "000.png").size == (40, 40)

    # check now finds the stored threshold
    catalog = tmp_path / "catalog.jsonl"
    red = str(colour_manifest.parent / "red.png")
    catalog.write_text(
        "".join(json.dumps({"image": red, "title": t}) + "\n" for t in ("red", "blue"))
    )
    result = invoke("check", str(catalog), "--model", str(model), "--out", str(tmp_path / "c.json"))
    assert result.exit_code == 0, result.output
    checked = json.loads((tmp_path / "c.json").read_text())
    assert checked["threshold_from"].endswith(THRESHOLD_FILE)
    assert [row["verdict"] for row in checked["rows"]] == ["consistent", "mismatch"]


def test_caption_schema_and_the_caption_command(
    colour_model: Path, colour_manifest: Path, one_thread: None
) -> None:
    record = caption_record(
        "Granny Smith apple\ncategory: Fruit / Apple\ncolor: green", ["365 Capsules"]
    )
    jsonschema.validate(record, CAPTION_SCHEMA)
    assert record["colour"] == "green" and record["material"] is None
    assert record["category"] == "Fruit / Apple" and record["visible_text"] == ["365 Capsules"]
    for broken in (
        {**record, "attributes": {"weight": 3}},
        {k: v for k, v in record.items() if k != "title"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, CAPTION_SCHEMA)

    photo = colour_manifest.parent / "blue.png"
    result = invoke("caption", str(photo), "--model", str(colour_model), "--no-read-text")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout[result.stdout.index("{") :])
    jsonschema.validate(answer, CAPTION_SCHEMA)
    assert answer["title"] == "blue" and answer["visible_text"] == []


def test_translate_image_through_the_cli(tmp_path: Path) -> None:
    """With the embedded model on llama.cpp: the files and the table, not the translation's
    quality (SmolLM2-135M translates poorly, as --help says)."""
    from pasar.apps.vision.image_text import DEJAVU

    help_text = invoke("translate-image", "--help").output
    assert "cannot read Thai" in help_text and "Vietnamese" in help_text
    assert "translates poorly" in help_text

    label = Image.new("RGB", (900, 300), (250, 245, 230))
    ImageDraw.Draw(label).text(
        (60, 120), "Fresh Orange Juice", font=ImageFont.truetype(str(DEJAVU), 44), fill="navy"
    )
    source = tmp_path / "juice.png"
    label.save(source)
    out = tmp_path / "out"
    result = invoke("translate-image", str(source), "--to", "id", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Fresh Orange Juice" in result.output
    report = json.loads((out / "juice.id.json").read_text())
    assert [line["text"] for line in report["lines"]] == ["Fresh Orange Juice"]
    assert (out / "juice.png").is_file() and (out / "juice.id.png").is_file()
    # The translation's exchange is recorded in the configured store, as every answer is.
    from pasar.store.db import open_configured_store
    from pasar.store.interactions import get_conversation, list_conversations

    [conversation] = list_conversations(open_configured_store())
    messages = get_conversation(open_configured_store(), conversation_id=conversation["id"])
    assert "Fresh Orange Juice" in messages["messages"][-2]["content"]
    assert messages["messages"][-1]["role"] == "assistant"
