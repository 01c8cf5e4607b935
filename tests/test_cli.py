"""The `pasar` command: as a user runs it (a real subprocess on the embedded model) where it
answers with a model, in this process where it only reads and writes files and the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import invoke_pasar

PASAR = [sys.executable, "-m", "pasar.cli.main"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PASAR, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_one_shot_chat_answers_offline_and_writes_a_report(tmp_path: Path, chat_hi):
    expected = chat_hi
    report = tmp_path / "answer.json"
    done = run("chat", "-p", "Hi", "--out", str(report))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected.text
    data = json.loads(report.read_text())
    assert data["text"] == expected.text
    assert data["usage"] == {
        "prompt_tokens": expected.usage.prompt_tokens,
        "completion_tokens": expected.usage.completion_tokens,
    }
    assert data["engine"] == "llamacpp" and data["finish_reason"] == expected.finish_reason


def test_chat_with_json_schema_prints_valid_json(tmp_path: Path):
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "title": {"type": "string", "maxLength": 40},
                    "in_stock": {"type": "boolean"},
                },
                "required": ["title", "in_stock"],
            }
        )
    )
    done = run(
        "chat", "-p", "A blue mug, as JSON", "--json-schema", str(schema), "--max-tokens", "60"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert isinstance(data["in_stock"], bool) and len(data["title"]) <= 40


def test_interactive_session_keeps_history_and_resets(pasar_home: Path, chat_hi):
    done = run("chat", stdin="Hi\n/reset\nHi\n/exit\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(chat_hi.text) == 2
    assert "conversation forgotten" in done.stdout
    assert (pasar_home / "chat_history").read_text().count("Hi") >= 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["chat", "-m", "nope", "-p", "hi"], "unknown model 'nope'"),
        (["chat", "-p", "hi", "--json-schema", "/no/such.json"], "no such file"),
        (["chat", "-p", "hi", "--temperature", "-1"], "temperature=-1.0"),
        (["chat", "-p", "hi", "--engine", "vllm"], "not one of llamacpp, hf, http"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(args, message):
    done = invoke_pasar(*args)
    assert done.returncode == 2
    assert message in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_models_list_show_add(embedded_gguf: Path):
    listed = {m["name"]: m for m in json.loads(invoke_pasar("models", "list", "--json").stdout)}
    assert listed["smollm2-135m-instruct"]["available"]
    shown = json.loads(invoke_pasar("models", "show", "smollm2-135m-instruct").stdout)
    assert shown["general.architecture"] == "llama"
    assert shown["size_mb"] == pytest.approx(98.4, abs=0.5)
    assert invoke_pasar("models", "add", "mine", str(embedded_gguf)).returncode == 0
    names = [m["name"] for m in json.loads(invoke_pasar("models", "list", "--json").stdout)]
    assert names[-1] == "mine" and "smollm2-135m-instruct" in names


def test_doctor_reports_a_working_install(tmp_path: Path):
    report = tmp_path / "doctor.json"
    done = run("doctor", "--out", str(report))
    assert done.returncode == 0, done.stdout
    checks = {c["name"]: c for c in json.loads(report.read_text())["checks"]}
    assert checks["engine llamacpp"]["ok"]
    assert checks["model smollm2-135m-instruct"]["ok"]
    assert all(c["ok"] for c in checks.values())


def test_doctor_fails_and_names_the_fix_for_a_broken_http_model(tmp_path: Path):
    assert run("models", "add", "remote", "http://127.0.0.1:9/v1").returncode == 0
    report = tmp_path / "doctor.json"
    done = run("doctor", "--out", str(report))
    assert done.returncode == 1
    checks = {c["name"]: c for c in json.loads(report.read_text())["checks"]}
    assert not checks["engine http"]["ok"]
    assert "127.0.0.1:9" in checks["engine http"]["detail"]


def test_keys_create_list_revoke(pasar_home: Path):
    created = invoke_pasar("keys", "create", "shop-app", "--scope", "admin", "--rate-limit", "30")
    assert created.returncode == 0, created.stderr
    key = created.stdout.split()[0]
    assert key.startswith("psr_")
    listed = invoke_pasar("keys", "list").stdout
    assert "shop-app" in listed and "admin" in listed and key not in listed
    assert invoke_pasar("keys", "create", "shop-app").returncode == 2  # names are unique
    assert invoke_pasar("keys", "revoke", "shop-app").returncode == 0
    assert invoke_pasar("keys", "revoke", "nobody").returncode == 2


def test_feedback_export_writes_trl_files(pasar_home: Path, tmp_path: Path):
    from pasar.config import get_settings
    from pasar.models.types import ChatResult, Usage
    from pasar.store.db import open_store
    from pasar.store.interactions import ExchangeRecord, add_feedback, record_exchange

    store = open_store(get_settings().store_url_resolved)
    prompt = [{"role": "user", "content": "Judul produk untuk kaos merah"}]
    record = ExchangeRecord("smollm2-135m-instruct", None, "llamacpp", {})
    for i, text in enumerate(["Kaos Merah Katun", "Red red red"]):
        record_exchange(
            store,
            conversation_id=None,
            request_messages=prompt,
            completion_id=f"c{i}",
            answers=[ChatResult(text, "stop", Usage(5, 3), "m")],
            record=record,
        )
    add_feedback(store, message_id="c0", rating="up")
    add_feedback(store, message_id="c1", rating="down", correction="Kaos Katun Merah Pria")

    counts = {}
    for fmt in ("sft", "bnf", "kto", "dpo"):
        out = tmp_path / f"{fmt}.jsonl"
        done = invoke_pasar("feedback", "export", "--format", fmt, "--out", str(out))
        assert done.returncode == 0, done.stderr
        counts[fmt] = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["messages"][-1]["content"] for r in counts["sft"]] == [
        "Kaos Merah Katun",
        "Kaos Katun Merah Pria",
    ]
    assert [r["label"] for r in counts["bnf"]] == [True, True, False]
    assert counts["kto"] == counts["bnf"]
    assert counts["dpo"][0]["rejected"][0]["content"] == "Red red red"
    assert (
        invoke_pasar(
            "feedback", "export", "--format", "orpo", "--out", str(tmp_path / "x")
        ).returncode
        == 2
    )
    later = invoke_pasar(
        "feedback",
        "export",
        "--format",
        "sft",
        "--out",
        str(tmp_path / "late.jsonl"),
        "--since",
        "2999-01-01",
    )
    assert later.returncode == 0 and (tmp_path / "late.jsonl").read_text() == ""


def test_chat_is_recorded_and_feedback_can_be_given_from_the_cli(
    pasar_home: Path, tmp_path: Path, chat_hi
):
    expected = chat_hi
    from pasar.config import get_settings
    from pasar.store.db import open_store
    from pasar.store.interactions import feedback_examples, get_conversation, list_conversations

    report = tmp_path / "answer.json"
    done = run("chat", "-p", "Hi", "--out", str(report))
    assert done.returncode == 0, done.stderr
    message_id = json.loads(report.read_text())["message_id"]
    assert message_id in done.stderr  # told how to give feedback on it
    store = open_store(get_settings().store_url_resolved)
    [conv] = list_conversations(store)
    reply = get_conversation(store, conversation_id=conv["id"])["messages"][1]
    assert (reply["id"], reply["content"], reply["engine"]) == (
        message_id,
        expected.text,
        "llamacpp",
    )
    assert reply["usage"] == {
        "prompt_tokens": expected.usage.prompt_tokens,
        "completion_tokens": expected.usage.completion_tokens,
    }

    given = invoke_pasar(
        "feedback", "give", message_id, "--down", "--correction", "Hi! Need help with an order?"
    )
    assert given.returncode == 0, given.stderr
    [example] = feedback_examples(store)
    assert (example.rating, example.correction) == ("down", "Hi! Need help with an order?")
    assert invoke_pasar("feedback", "give", "chatcmpl-nope", "--up").returncode == 2
    assert invoke_pasar("feedback", "give", message_id).returncode == 2  # nothing said

    assert run("chat", "-p", "Hi", "--no-log").returncode == 0
    session = run("chat", stdin="Hi\nThanks\n/reset\nHi\n/exit\n")
    assert session.returncode == 0 and session.stdout.count("saved as chatcmpl-") == 3
    counts = sorted(c["message_count"] for c in list_conversations(store))
    assert counts == [2, 2, 4]  # the -p chat, then a 2-turn conversation and a new one after /reset
