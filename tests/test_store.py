"""The store on SQLite and on a real PostgreSQL: migrations, exchanges, feedback, export rows."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from pasar.data.feedback import feedback_to_pairs, feedback_to_sft, feedback_to_unpaired
from pasar.errors import NotFoundError
from pasar.models.engine import Engine
from pasar.models.types import ChatChunk, ChatResult, Usage
from pasar.store.db import StoreError, open_store
from pasar.store.interactions import (
    ExchangeRecord,
    add_feedback,
    feedback_counts_by_model_and_day,
    feedback_examples,
    get_conversation,
    list_conversations,
    record_exchange,
)
from pasar.store.keys import any_active_key, create_key, find_key, revoke_key
from pasar.store.recorder import RecordedEngine
from pasar.store.schema import Base

RECORD = ExchangeRecord("smollm2-135m-instruct", "abc123", "llamacpp", {"temperature": 0.0})


def answer(text: str) -> ChatResult:
    return ChatResult(text, "stop", Usage(10, 3), "smollm2-135m-instruct", latency_s=0.25)


def test_migrations_produce_exactly_the_models_schema(store_url):
    store = open_store(store_url)
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    tables = set(inspect(store.engine).get_table_names())
    assert {"conversations", "messages", "feedback", "api_keys", "alembic_version"} <= tables
    open_store(store_url)  # migrating again is a no-op


def test_exchange_history_and_feedback(store_url):
    store = open_store(store_url)
    first = [{"role": "user", "content": "Where is my order #W123?"}]
    conv = record_exchange(
        store,
        conversation_id=None,
        request_messages=first,
        completion_id="chatcmpl-1",
        answers=[answer("It shipped.")],
        record=RECORD,
    )
    # The client sends the whole history again; only the new user message is stored.
    second = [
        *first,
        {"role": "assistant", "content": "It shipped."},
        {"role": "user", "content": "When will it arrive?"},
    ]
    record_exchange(
        store,
        conversation_id=conv,
        request_messages=second,
        completion_id="chatcmpl-2",
        answers=[answer("Tomorrow."), answer("Friday.")],
        record=RECORD,
    )
    stored = get_conversation(store, conversation_id=conv)
    assert [(m["role"], m["content"], m["position"]) for m in stored["messages"]] == [
        ("user", "Where is my order #W123?", 0),
        ("assistant", "It shipped.", 1),
        ("user", "When will it arrive?", 2),
        ("assistant", "Tomorrow.", 3),
        ("assistant", "Friday.", 3),  # a second choice shares the position
    ]
    reply = stored["messages"][1]
    assert reply["model_version"] == "abc123" and reply["usage"] == {
        "prompt_tokens": 10,
        "completion_tokens": 3,
    }
    assert reply["latency_ms"] == 250.0 and reply["sampling"] == {"temperature": 0.0}
    assert list_conversations(store)[0] == list_conversations(store)[0] | {
        "id": conv,
        "message_count": 5,
    }

    add_feedback(store, message_id="chatcmpl-1", rating="up")
    add_feedback(store, message_id="chatcmpl-2", rating="down", comment="too vague")
    add_feedback(store, message_id="chatcmpl-2", rating=None, correction="It arrives on 12 May.")
    add_feedback(store, message_id="chatcmpl-2", choice=1, rating="down")
    with pytest.raises(NotFoundError, match="no assistant message"):
        add_feedback(store, message_id="chatcmpl-404", rating="up")
    with pytest.raises(NotFoundError, match="and choice 2"):
        add_feedback(store, message_id="chatcmpl-2", choice=2, rating="up")
    stored = get_conversation(store, conversation_id=conv)
    assert [f["rating"] for f in stored["messages"][3]["feedback"]] == ["down", None]
    second_choice = stored["messages"][4]
    assert [f["rating"] for f in second_choice["feedback"]] == ["down"]
    assert second_choice["id"].startswith("msg_")  # its choice is a column, not in its id

    examples = {e.message_id: e for e in feedback_examples(store)}
    assert examples["chatcmpl-2"].rating == "down"
    assert examples["chatcmpl-2"].correction == "It arrives on 12 May."
    assert examples["chatcmpl-2"].prompt == [
        {"role": "user", "content": "Where is my order #W123?"},
        {"role": "assistant", "content": "It shipped."},
        {"role": "user", "content": "When will it arrive?"},
    ]
    assert feedback_examples(store, model="other-model") == []
    [counts] = feedback_counts_by_model_and_day(store)
    assert (counts["up"], counts["down"], counts["corrections"]) == (1, 2, 1)


def test_feedback_becomes_trl_rows(store_url):
    store = open_store(store_url)
    prompt = [{"role": "user", "content": "Title for a red shirt"}]
    for i, text in enumerate(["Red Shirt", "Shirt shirt", "Blue Shirt"]):
        record_exchange(
            store,
            conversation_id=None,
            request_messages=prompt,
            completion_id=f"c{i}",
            answers=[answer(text)],
            record=RECORD,
        )
    add_feedback(store, message_id="c0", rating="up")
    add_feedback(store, message_id="c1", rating="down")
    add_feedback(store, message_id="c2", rating="down", correction="Red Cotton Shirt")
    examples = feedback_examples(store)
    said = lambda text: [{"role": "assistant", "content": text}]  # noqa: E731
    assert feedback_to_sft(examples) == [
        {"messages": [*prompt, *said("Red Shirt")]},
        {"messages": [*prompt, *said("Red Cotton Shirt")]},
    ]
    assert feedback_to_unpaired(examples) == [
        {"prompt": prompt, "completion": said("Red Shirt"), "label": True},
        {"prompt": prompt, "completion": said("Shirt shirt"), "label": False},
        {"prompt": prompt, "completion": said("Red Cotton Shirt"), "label": True},
        {"prompt": prompt, "completion": said("Blue Shirt"), "label": False},
    ]
    assert feedback_to_pairs(examples) == [
        {"prompt": prompt, "chosen": said("Red Cotton Shirt"), "rejected": said("Blue Shirt")}
    ]


def test_feedback_is_selected_by_the_version_that_answered(store_url):
    store = open_store(store_url)
    prompt = [{"role": "user", "content": "Title for a red shirt"}]
    for i, version in enumerate(["w-round1", "w-round2", "w-round2"]):
        record_exchange(
            store,
            conversation_id=None,
            request_messages=prompt,
            completion_id=f"v{i}",
            answers=[answer(f"Shirt {i}")],
            record=ExchangeRecord("shop-bot", version, "llamacpp", {}),
        )
        add_feedback(store, message_id=f"v{i}", rating="up")
    assert [e.answer for e in feedback_examples(store, model_version="w-round2")] == [
        "Shirt 1",
        "Shirt 2",
    ]
    assert [e.answer for e in feedback_examples(store, model_version="w-round1")] == ["Shirt 0"]
    assert feedback_examples(store, model="shop-bot", model_version="w-none") == []


def test_keys_are_hashed_and_revocable(store_url):
    store = open_store(store_url)
    assert not any_active_key(store)
    key, info = create_key(store, name="shop", scope="admin", rate_limit_per_minute=5)
    assert key.startswith("psr_") and len(key) > 40
    with store.session() as session:
        stored = session.connection().exec_driver_sql("SELECT key_hash, prefix FROM api_keys").one()
    assert key not in stored[0] and stored[1] == key[:10]
    assert find_key(store, key=key) == info
    assert find_key(store, key=key + "x") is None
    with pytest.raises(ValueError, match="exists already"):
        create_key(store, name="shop")
    with pytest.raises(ValueError, match="scope"):
        create_key(store, name="other", scope="root")
    revoke_key(store, name="shop")
    assert find_key(store, key=key) is None and not any_active_key(store)


def test_bad_store_urls_say_what_to_do():
    with pytest.raises(StoreError, match="not a database URL"):
        open_store("not a url")
    with pytest.raises(StoreError, match="is the database server running|Check PASAR_STORE_URL"):
        open_store("postgresql+psycopg://nobody@127.0.0.1:9/none")


def test_passwords_and_bound_values_stay_out_of_errors_and_doctor(store_url, monkeypatch):
    from typer.testing import CliRunner

    from pasar.cli.main import app
    from pasar.config import get_settings

    with pytest.raises(StoreError) as refused:
        open_store("postgresql+psycopg://shop:s3cret-pw@127.0.0.1:9/none")
    assert "s3cret-pw" not in str(refused.value) and "***" in str(refused.value)
    with pytest.raises(StoreError) as bad:
        open_store("postgresql+psycopg://shop:s3cret-pw@[bad")
    assert "s3cret-pw" not in str(bad.value)
    # A failing statement's error names the statement, never the values bound to it.
    store = open_store(store_url)
    with pytest.raises(Exception) as failed, store.session() as session:
        session.connection().exec_driver_sql(
            "INSERT INTO api_keys (id) VALUES (%(x)s)"
            if "postgresql" in store_url
            else "INSERT INTO api_keys (id) VALUES (:x)",
            {"x": "private-value@example.com"},
        )
    assert "SQL parameters hidden" in str(failed.value)
    if "sqlite" in store_url:
        assert "private-value@example.com" not in str(failed.value)
    # PostgreSQL's own message may still quote a rejected value (its DETAIL line): not yet
    # scrubbed from a server's error log (docs/security.md, open items).
    monkeypatch.setenv("PASAR_STORE_URL", "postgresql+psycopg://shop:s3cret-pw@127.0.0.1:9/db")
    get_settings.cache_clear()
    done = CliRunner().invoke(app, ["doctor"])
    assert "s3cret-pw" not in done.output and "shop:***@127.0.0.1" in done.output


class EchoEngine(Engine):
    """Answers with the last user message, reversed; streams it a word at a time."""

    kind = "echo"

    def __init__(self) -> None:
        super().__init__("echo")

    def _complete(self, messages, params, json_schema, tools):  # type: ignore[no-untyped-def]
        text = messages[-1]["content"][::-1]
        return ChatResult(text, "stop", Usage(5, len(text.split())), self.name)

    def _stream(self, messages, params, json_schema):  # type: ignore[no-untyped-def]
        words = messages[-1]["content"][::-1].split()
        for word in words[:-1]:
            yield ChatChunk(word + " ")
        yield ChatChunk(words[-1], "stop", Usage(5, len(words)))


def test_a_recorded_engine_records_conversations_as_they_go(store_url):
    store = open_store(store_url)
    engine = RecordedEngine(EchoEngine(), store)
    talk = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
    first = engine.chat(talk, temperature=0.0, json_schema={"type": "string"})
    talk += [{"role": "assistant", "content": first.text}, {"role": "user", "content": "a b c"}]
    assert "".join(c.text for c in engine.stream(talk, max_tokens=9)) == "c b a"
    conversation = get_conversation(store, conversation_id=engine.conversation_id)
    assert [(m["role"], m["content"]) for m in conversation["messages"]] == [
        ("system", "Be brief."),
        ("user", "hello"),
        ("assistant", "olleh"),
        ("user", "a b c"),
        ("assistant", "c b a"),
    ]
    answer_row = conversation["messages"][-1]
    assert answer_row["id"] == engine.message_id and answer_row["engine"] == "echo"
    assert conversation["messages"][2]["sampling"] == {"temperature": 0.0, "json_schema": True}
    assert answer_row["usage"] == {"prompt_tokens": 5, "completion_tokens": 3}

    # A prompt that does not carry on from the last call is a conversation of its own.
    engine.chat([{"role": "user", "content": "other"}])
    assert engine.conversation_id != conversation["id"]
    # A stream its reader left after one chunk is recorded as far as it went.
    stream = engine.stream([{"role": "user", "content": "x y z"}])
    assert next(stream).text == "z "
    stream.close()
    cut = get_conversation(store, conversation_id=engine.conversation_id)["messages"][-1]
    assert (cut["content"], cut["finish_reason"]) == ("z ", "length")
    # A stream refused before its first chunk (a message list that is not one) records nothing.
    with pytest.raises(ValueError, match="messages is empty"):
        next(engine.stream([]))
    assert get_conversation(store, conversation_id=engine.conversation_id)["messages"][-1] == cut
    # A batch: each conversation its own.
    engine.batch([[{"role": "user", "content": "ab"}], [{"role": "user", "content": "cd"}]])
    assert len(list_conversations(store)) == 5


def test_answers_stored_before_completion_ids_get_theirs(store_url):
    from conftest import store_at_revision
    from sqlalchemy import text

    with store_at_revision(store_url, "0003") as connection:
        connection.execute(
            text(
                "INSERT INTO conversations (id, title, created_at, updated_at) "
                "VALUES ('c', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        for message_id, position, choice, role in [
            ("u0", 0, 0, "user"),
            ("chatcmpl-x", 1, 0, "assistant"),
            ("chatcmpl-x.1", 1, 1, "assistant"),
        ]:
            connection.execute(
                text(
                    "INSERT INTO messages (id, conversation_id, position, choice, role, content, "
                    "created_at) VALUES (:id, 'c', :position, :choice, :role, '', "
                    "CURRENT_TIMESTAMP)"
                ),
                {"id": message_id, "position": position, "choice": choice, "role": role},
            )
    store = open_store(store_url)  # migrates to the newest revision
    add_feedback(store, message_id="chatcmpl-x", choice=1, rating="down")
    add_feedback(store, message_id="chatcmpl-x", rating="up")
    messages = get_conversation(store, conversation_id="c")["messages"]
    assert [(m["id"], [f["rating"] for f in m.get("feedback", [])]) for m in messages] == [
        ("u0", []),
        ("chatcmpl-x", ["up"]),
        ("chatcmpl-x.1", ["down"]),
    ]
