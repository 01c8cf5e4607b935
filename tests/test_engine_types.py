"""One way from a name to an engine: engine types registered through the `pasar.engines` entry
points, the spec and version an engine carries, and the agents as models (`pasar chat -m
taskbot-flows`)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import SHARED_DATA
from typer.testing import CliRunner

from pasar.cli.main import app
from pasar.errors import NoCommerceDataError
from pasar.models import registry
from pasar.models.registry import (
    ModelSpec,
    add_model,
    engine_types,
    list_models,
    load_engine,
    model_version,
    resolve_model,
)
from pasar.store.db import open_store
from pasar.store.interactions import get_conversation, list_conversations

PLUGIN = """
from pasar.models.engine import Engine
from pasar.models.types import ChatChunk, ChatResult, Usage
from pasar.models.registry import ModelSpec, register_engine_type


class EchoEngine(Engine):
    kind = "echo"

    def _complete(self, messages, params, json_schema, tools):
        return ChatResult(messages[-1]["content"][::-1], "stop", Usage(1, 1), self.name)

    def _stream(self, messages, params, json_schema):
        yield ChatChunk(messages[-1]["content"][::-1], "stop", Usage(1, 1))


def load(spec, context, **options):
    return EchoEngine(spec.name, **options)


def register():
    register_engine_type(
        "echo",
        load,
        exclusive=True,
        detect=lambda path: (path / "echo.txt").is_file(),
        source_help="an echo folder (with echo.txt)",
        models=lambda settings: [ModelSpec("echo-bot", "echo", "", description="echoes")],
        weights=False,
    )
"""


@pytest.fixture
def echo_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A package installed on sys.path whose `pasar.engines` entry point registers `echo`."""
    site = tmp_path / "site"
    (site / "pasar_echo_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "pasar_echo_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pasar-echo-plugin\nVersion: 0.1\n"
    )
    (site / "pasar_echo_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[pasar.engines]\necho = pasar_echo_plugin:register\n"
    )
    (site / "pasar_echo_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry, "ENGINE_TYPES", dict(registry.ENGINE_TYPES))
    monkeypatch.setattr(registry, "_discovered", False)
    yield
    monkeypatch.delitem(sys.modules, "pasar_echo_plugin", raising=False)


def test_an_engine_type_from_an_entry_point_is_loaded_by_name(echo_plugin, tmp_path: Path):
    assert "echo" in engine_types()
    # The apps' entry points (pyproject.toml) are found the same way.
    assert {"llamacpp", "hf", "http", "taskbot", "vision"} <= set(engine_types())

    assert "echo-bot" in [m.name for m in list_models() if m.available]
    with load_engine("echo-bot") as engine:
        assert engine.kind == "echo" and engine.spec == resolve_model("echo-bot")
        assert engine.chat([{"role": "user", "content": "abc"}]).text == "cba"
        assert engine.version is None  # no weights

    folder = tmp_path / "my-echo"
    folder.mkdir()
    (folder / "echo.txt").write_text("")
    assert resolve_model(str(folder)).engine == "echo"  # its detect recognises the folder
    add_model(ModelSpec("parrot", "echo", str(folder)))
    assert load_engine("parrot").name == "parrot"
    with pytest.raises(ValueError, match="is not an echo folder"):
        add_model(ModelSpec("parrot", "echo", str(tmp_path)))
    with pytest.raises(ValueError, match="built-in model name"):
        add_model(ModelSpec("echo-bot", "echo", str(folder)))
    # An exclusive engine type runs its own models only, and PASAR_ENGINE does not apply.
    with pytest.raises(ValueError, match="cannot run on the echo engine"):
        load_engine("smollm2-135m-instruct", engine="echo")
    settings = registry.get_settings().model_copy(update={"engine": "hf"})
    assert load_engine("echo-bot", settings=settings).kind == "echo"


def test_a_loaded_engine_carries_its_spec_and_version(embedded_gguf: Path):
    spec = resolve_model("smollm2-135m-instruct")
    with load_engine("smollm2-135m-instruct", n_ctx=256) as engine:
        assert engine.spec == spec and engine.kind == "llamacpp"
        assert engine.version is not None and engine.version.startswith("w-")
        assert engine.version == model_version(spec)
    with load_engine(spec, n_ctx=256) as again:
        assert again.spec == spec  # a ModelSpec is loaded as given, not resolved again
    url = load_engine("http://127.0.0.1:9/v1#remote-id")
    assert url.spec is not None and url.spec.engine == "http" and url.version == "remote-id"


def test_the_agents_are_models_with_the_llm_s_version(store, embedded_gguf: Path, tmp_path: Path):
    llm = load_engine("smollm2-135m-instruct", n_ctx=512)
    asked: list[str] = []

    def models(name: str):
        asked.append(name)
        return llm

    bot = load_engine("taskbot", store=store, models=models)
    assert bot.kind == "taskbot" and asked == ["smollm2-135m-instruct"]
    assert bot.version == llm.version and bot.version is not None
    flows = load_engine("taskbot-flows", store=store)
    assert flows.version is None and flows.spec == resolve_model("taskbot-flows")
    reply = flows.chat([{"role": "user", "content": "Where is my order #W3579467?"}])
    assert "email" in reply.text.lower()

    empty = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(NoCommerceDataError, match="pasar store import"):
        load_engine("taskbot-flows", store=empty)
    llm.close()


def test_pasar_chat_talks_to_the_flows_agent(pasar_home: Path, tmp_path: Path):
    runner = CliRunner()
    refused = runner.invoke(app, ["chat", "-m", "taskbot-flows", "-p", "Hi", "--no-stream"])
    assert refused.exit_code == 2 and "pasar store import" in refused.output

    imported = runner.invoke(app, ["store", "import", str(SHARED_DATA / "retail" / "db.json")])
    assert imported.exit_code == 0, imported.output
    report = tmp_path / "answer.json"
    prompt = "Where is my order #W3579467? My email is yusuf.khan7390@example.com"
    done = runner.invoke(
        app, ["chat", "-m", "taskbot-flows", "-p", prompt, "--no-stream", "--out", str(report)]
    )
    assert done.exit_code == 0, done.output
    answer = json.loads(report.read_text())
    assert answer["model"] == "taskbot-flows" and answer["engine"] == "taskbot"
    assert "#W3579467" in answer["text"] and answer["text"] in done.output

    store = open_store(f"sqlite:///{pasar_home / 'store.db'}")
    [conversation] = list_conversations(store)
    user, reply = get_conversation(store, conversation_id=conversation["id"])["messages"]
    assert user["content"] == prompt and reply["content"] == answer["text"]
    assert reply["engine"] == "taskbot"
