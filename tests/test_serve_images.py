"""Images in `pasar serve`'s chat completions: a `pasar vision train` folder registered with
`pasar models add` reads `image_url` data URLs through the official openai client; bad images
and images sent to a text-only model are refused with a 400 that says what to do."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import openai
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from pasar.cli.main import app
from pasar.models.engine import TextOnlyModelError, check_messages
from pasar.models.registry import load_engine, model_version, resolve_model
from pasar.store.interactions import get_conversation, list_conversations

COLOURS = {"red": (220, 20, 20), "blue": (20, 20, 220)}
TEXT_MODEL = "smollm2-135m-instruct"
PROMPT = "Describe this product."


def png(name: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), COLOURS[name]).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(raw: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(raw).decode()}"


def ask(url: str, text: str = PROMPT) -> list[dict]:
    """One user turn: the image, then the question (the layout the model was trained on)."""
    return [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "text", "text": text},
            ],
        }
    ]


@pytest.fixture(scope="module")
def colour_model(tiny_hf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A captioner (random 2-layer Llama, hidden 8, 2×2 tiny-conv patches, MLP connector)
    trained for 40 steps to name two solid colours: a unit-test fixture, about 3 s, that shows
    the image reaches the model; it says nothing about real photos."""
    from pasar.apps.vision.model import VisionModelConfig, build_vision_model, save_vision_model
    from pasar.apps.vision.train import pad_batch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread beats two that contend
    config = VisionModelConfig(
        llm=str(tiny_hf_dir), backbone="tiny-conv", connector="mlp", visual_vocab_size=16
    )
    model = build_vision_model(config)
    batch = pad_batch(
        [model.encode(PROMPT, name) for name in COLOURS], model.tokenizer.pad_token_id
    )
    pixels = model.pixels([Image.open(io.BytesIO(png(name))) for name in COLOURS])
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-2)
    for _ in range(40):
        model(**batch, pixel_values=pixels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.config.llm_training = "full"
    torch.set_num_threads(threads)
    return save_vision_model(model, tmp_path_factory.mktemp("colour-vision"))


@pytest.fixture
def api(colour_model: Path, make_server, tmp_path: Path):
    """A server with the colour captioner registered as `shop-vision` through the CLI."""
    added = CliRunner().invoke(app, ["models", "add", "shop-vision", str(colour_model)])
    assert added.exit_code == 0, added.output
    assert "(vision)" in added.output
    server = make_server(f"sqlite:///{tmp_path / 'store.db'}")
    return server, openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def test_vision_model_reads_data_url_images_and_the_exchange_is_recorded(api):
    server, client = api
    assert "shop-vision" in [m.id for m in client.models.list().data]

    answers = {}
    for name in COLOURS:
        response = client.chat.completions.create(
            model="shop-vision", messages=ask(data_url(png(name))), max_tokens=4, temperature=0
        )
        answers[name] = response
    # The image changes the answer: each colour is named from the pixels alone.
    assert [answers[n].choices[0].message.content for n in COLOURS] == list(COLOURS)
    text_only = client.chat.completions.create(
        model="shop-vision", messages=[{"role": "user", "content": PROMPT}], max_tokens=4
    )
    assert text_only.choices[0].message.content
    # <image> expands to <img> + 4 patches + </img>: the usage counts the visual positions.
    assert answers["red"].usage.prompt_tokens >= text_only.usage.prompt_tokens + 4 + 2

    stream = client.chat.completions.create(
        model="shop-vision", messages=ask(data_url(png("blue"))), max_tokens=4, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "blue"

    red = get_conversation(server.store, conversation_id=answers["red"].conversation_id)
    user, reply = red["messages"]
    sha = hashlib.sha256(png("red")).hexdigest()
    assert user["content"] == f"[image image/png, {len(png('red'))} bytes, sha256 {sha}]\n{PROMPT}"
    assert reply["content"] == "red" and reply["engine"] == "vision"
    assert reply["usage"]["prompt_tokens"] == answers["red"].usage.prompt_tokens
    assert len(list_conversations(server.store)) == 4


def test_bad_images_and_images_for_a_text_model_get_a_400(api):
    server, client = api
    bad = {
        "https://shop.example/photo.png": "does not fetch URLs",
        "data:image/png;base64,not base64!!": "messages[0].content[0]: the data URL's base64",
        data_url(b"just some text"): "messages[0].content[0]: the data URL is not an image",
        data_url(png("red")[:60]): "messages[0].content[0]: the data URL is a truncated",
        data_url(png("red"), media="text/plain"): "holds text/plain, not an image",
    }
    for url, expected in bad.items():
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="shop-vision", messages=ask(url), max_tokens=4)
        assert expected in info.value.body["message"], info.value.body
        assert info.value.body["code"] == "invalid_image"

    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=TEXT_MODEL, messages=ask(data_url(png("red"))), max_tokens=4
        )
    body = info.value.body
    assert body["code"] == "image_not_supported" and body["param"] == "messages[0].content[0]"
    assert "reads text only" in body["message"] and "shop-vision" in body["message"]

    placeholder = [{"role": "user", "content": "What is <image> here?"}]
    with pytest.raises(openai.BadRequestError, match="reserves for images"):
        client.chat.completions.create(model="shop-vision", messages=placeholder, max_tokens=4)

    removed = CliRunner().invoke(app, ["models", "remove", "shop-vision"])
    assert removed.exit_code == 0, removed.output
    with pytest.raises(openai.BadRequestError, match="No vision model is served here"):
        client.chat.completions.create(
            model=TEXT_MODEL, messages=ask(data_url(png("red"))), max_tokens=4
        )
    assert list_conversations(server.store) == []


def test_text_engines_refuse_images_and_load_engine_runs_the_vision_folder(colour_model: Path):
    with pytest.raises(TextOnlyModelError, match=r"messages\[0\]\.content\[0\] is an image"):
        check_messages(ask(data_url(png("red"))))
    text_parts = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert check_messages(text_parts) == [{"role": "user", "content": "Hi"}]

    # The vision app's engine type (entry point `pasar.engines`) recognises the folder and
    # loads it like any other model: no refusal, no special case in the registry.
    spec = resolve_model(str(colour_model))
    assert spec.engine == "vision"
    with load_engine(str(colour_model)) as engine:
        assert engine.kind == "vision" and engine.reads_images
        assert engine.spec == spec and engine.version == model_version(spec)
        answer = engine.chat(ask(data_url(png("blue"))), max_tokens=4)
        assert answer.text == "blue"
    with pytest.raises(ValueError, match="cannot run on the vision engine"):
        load_engine("smollm2-135m-instruct", engine="vision")
