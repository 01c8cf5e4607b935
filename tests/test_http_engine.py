"""The http engine against a real OpenAI-compatible server: llama-cpp-python's, started here."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
from conftest import free_port, wait_until_up

from pasar.errors import ContextLengthError, EngineRequestError, EngineUnavailableError
from pasar.models.registry import load_engine

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def server_url(embedded_gguf):
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(embedded_gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "512",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/v1"
    wait_until_up(f"{url}/models", proc, "llama_cpp.server")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_chat_over_http(server_url, llama_engine):
    engine = load_engine(server_url)
    result = engine.chat(HI, max_tokens=20)
    local = llama_engine.chat(HI, max_tokens=20)
    # Same prompt through the same chat template; llama-cpp-python's server and its Python API
    # need not pick the same greedy tokens (they do not in 0.3.36), so the text is not compared.
    assert result.text.startswith("Hello!")
    assert result.usage.prompt_tokens == local.usage.prompt_tokens
    assert 0 < result.usage.completion_tokens <= 20
    assert result.finish_reason == ("stop" if result.usage.completion_tokens < 20 else "length")


def test_stream_over_http(server_url):
    engine = load_engine(server_url)
    whole = engine.chat(HI, max_tokens=20)
    chunks = list(engine.stream(HI, max_tokens=20))
    assert len(chunks) > 3
    assert "".join(c.text for c in chunks) == whole.text
    assert chunks[-1].finish_reason == whole.finish_reason
    # llama-cpp-python's server sends no usage in streams; pasar says so rather than invent it.
    assert chunks[-1].usage is None


def test_json_schema_over_http_falls_back_to_the_servers_form(server_url):
    schema = {"type": "object", "properties": {"sku": {"type": "integer"}}, "required": ["sku"]}
    engine = load_engine(server_url)
    for _ in range(2):  # the second call goes straight to the form that worked
        result = engine.chat(
            [{"role": "user", "content": "Give a SKU as JSON"}], max_tokens=30, json_schema=schema
        )
        jsonschema.validate(json.loads(result.text), schema)
    assert engine._schema_styles == ["json_object"]


def test_server_error_is_reported_with_its_status(server_url):
    with pytest.raises(ContextLengthError, match="maximum context length is 512"):
        load_engine(server_url).chat([{"role": "user", "content": "Hi " * 600}], max_tokens=10)
    wrong_path = server_url.removesuffix("/v1") + "/nope#some-model"
    with pytest.raises(EngineRequestError, match="answered 404") as info:
        load_engine(wrong_path).chat(HI, max_tokens=5)
    assert info.value.status_code == 404


def test_unreachable_url_names_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EngineUnavailableError, match=f"cannot reach .* at {url}"):
        load_engine(url, max_retries=0).chat(HI, max_tokens=5)


def test_remote_model_from_url_fragment(server_url):
    engine = load_engine(server_url + "#my-remote-id")
    assert engine.remote_model == "my-remote-id"
    assert load_engine(server_url).remote_model.endswith(".gguf")  # the first model listed
