"""`pasar serve` over real HTTP, with the official openai client, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import jsonschema
import openai
import pytest
from conftest import stop_before_fifth_word

from pasar.models.embedded import CARDS
from pasar.models.registry import model_version, resolve_model
from pasar.store.interactions import get_conversation, list_conversations
from pasar.store.keys import create_key, revoke_key

MODEL = "smollm2-135m-instruct"
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def server(make_server, store_url):
    return make_server(store_url)


def client(server, key: str = "none") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)


def test_models_and_chat_are_recorded(server, greedy_hi):
    expected = greedy_hi(20)
    counts = (expected.usage.prompt_tokens, expected.usage.completion_tokens)
    api = client(server)
    assert MODEL in [m.id for m in api.models.list().data]
    response = api.chat.completions.create(model=MODEL, messages=HI, temperature=0, max_tokens=20)
    assert response.choices[0].message.content == expected.text
    assert response.choices[0].finish_reason == expected.finish_reason
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == counts

    [conv] = list_conversations(server.store)
    stored = get_conversation(server.store, conversation_id=conv["id"])
    user, reply = stored["messages"]
    assert (user["role"], user["content"]) == ("user", "Hi")
    assert reply["id"] == response.id and reply["content"] == expected.text
    assert (
        reply["model"] == MODEL
        and reply["engine"] == "llamacpp"
        and reply["model_version"] == model_version(resolve_model(MODEL))  # the weights' hash
        and reply["model_version"].startswith("w-")
    )
    assert reply["usage"] == dict(zip(("prompt_tokens", "completion_tokens"), counts, strict=True))
    assert reply["sampling"]["temperature"] == 0 and reply["sampling"]["max_tokens"] == 20
    assert reply["latency_ms"] > 0


def test_a_request_without_temperature_gets_the_model_cards(server):
    # Before, OpenAI's 1.0: the default 1.5B then wrote nonsense for a one-line translation.
    api = client(server)
    response = api.chat.completions.create(model=MODEL, messages=HI, max_tokens=4)
    [reply] = [
        m
        for c in list_conversations(server.store)
        for m in get_conversation(server.store, conversation_id=c["id"])["messages"]
        if m["id"] == response.id
    ]
    assert reply["sampling"]["temperature"] == CARDS[MODEL].temperature == 0.2


def test_stream_with_usage_and_conversation_continues(server, greedy_hi):
    expected = greedy_hi(20)
    api = client(server)
    stream = api.chat.completions.create(
        model=MODEL,
        messages=HI,
        temperature=0,
        max_tokens=20,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected.text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == expected.finish_reason
    assert chunks[-1].usage.completion_tokens == expected.usage.completion_tokens
    assert chunks[-1].choices == []
    [conv] = list_conversations(server.store)
    # Continue the same conversation: only the new messages are added.
    follow_up = [*HI, {"role": "assistant", "content": text}, {"role": "user", "content": "Thanks"}]
    api.chat.completions.create(
        model=MODEL,
        messages=follow_up,
        temperature=0,
        max_tokens=10,
        extra_body={"conversation_id": conv["id"]},
    )
    stored = get_conversation(server.store, conversation_id=conv["id"])
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant", "user", "assistant"]
    assert stored["messages"][1]["id"] == chunks[0].id


def test_json_schema_n_seed_and_stop(server, greedy_hi):
    api = client(server)
    schema = {
        "type": "object",
        "properties": {"sku": {"type": "string", "maxLength": 12}, "qty": {"type": "integer"}},
        "required": ["sku", "qty"],
        "additionalProperties": False,
    }
    response = api.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "An order line as JSON"}],
        max_tokens=60,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "line", "schema": schema}},
    )
    jsonschema.validate(json.loads(response.choices[0].message.content), schema)

    sampled = dict(
        model=MODEL,
        messages=[{"role": "user", "content": "Name a fruit."}],
        temperature=1.0,
        max_tokens=12,
        n=3,
        seed=11,
    )
    first = api.chat.completions.create(**sampled)
    again = api.chat.completions.create(**sampled)
    assert len(first.choices) == 3
    assert [c.message.content for c in first.choices] == [c.message.content for c in again.choices]

    stop, before = stop_before_fifth_word(greedy_hi(20).text)
    stopped = api.chat.completions.create(
        model=MODEL, messages=HI, temperature=0, max_tokens=20, stop=[stop]
    )
    assert stopped.choices[0].message.content == before


def test_tools_come_back_as_openai_tool_calls(server):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "order_status",
                "description": "Status of an order.",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string"}},
                    "required": ["order_id"],
                },
            },
        }
    ]
    response = client(server).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Status of order W1?"}],
        tools=tools,
        temperature=0,
        max_tokens=60,
    )
    message = response.choices[0].message
    if message.tool_calls:
        assert response.choices[0].finish_reason == "tool_calls"
        assert message.tool_calls[0].function.name == "order_status"
        assert "order_id" in json.loads(message.tool_calls[0].function.arguments)
    else:  # a reply, or an answer cut short by max_tokens: never the protocol's raw JSON
        assert message.content or response.choices[0].finish_reason == "length"
        assert not (message.content or "").lstrip().startswith("{")
    # The answer is stored with the tools it was offered: an export of it trains on them.
    [answer] = [
        m
        for c in list_conversations(server.store)
        for m in get_conversation(server.store, conversation_id=c["id"])["messages"]
        if m["id"] == response.id or m.get("completion_id") == response.id
    ]
    assert answer["sampling"]["tools"] == tools

    # tool_choice="none": no call, but the model still reads the tools (OpenAI's meaning);
    # they were dropped before, so the prompt was the same as without them.
    ask = dict(model=MODEL, messages=[{"role": "user", "content": "Status of order W1?"}])
    for stream in (False, True):
        plain = client(server).chat.completions.create(**ask, max_tokens=5)
        none = client(server).chat.completions.create(
            **ask, tools=tools, tool_choice="none", max_tokens=60, stream=stream,
            **({"stream_options": {"include_usage": True}} if stream else {}),
        )  # fmt: skip
        if stream:
            chunks = list(none)
            assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
            usage = chunks[-1].usage
        else:
            assert not none.choices[0].message.tool_calls
            assert none.choices[0].finish_reason != "tool_calls"
            usage = none.usage
        assert usage.prompt_tokens > plain.usage.prompt_tokens + 20  # the tool list was shown


def test_errors_in_openai_shape_and_nothing_stored(server):
    api = client(server)
    with pytest.raises(openai.NotFoundError) as info:
        api.chat.completions.create(model="gpt-9", messages=HI)
    assert info.value.body["code"] == "model_not_found" and MODEL in info.value.body["message"]
    with pytest.raises(openai.BadRequestError) as info:
        api.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi " * 3000}]
        )
    assert info.value.body["code"] == "context_length_exceeded"
    # A pattern with a \d escape: llama.cpp cannot parse the converted grammar and the broken
    # grammar crashed the whole server (a segfault) before; now a 400 that names the fix.
    for schema, fix in (
        ({"type": "objekt"}, ""),
        ({"type": "string", "pattern": "^\\d{3}$"}, "[0-9]"),
    ):
        with pytest.raises(openai.BadRequestError) as info:
            api.chat.completions.create(
                model=MODEL,
                messages=HI,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": schema},
                },
            )
        assert info.value.body["code"] == "invalid_json_schema" and fix in str(info.value.body)

    url = f"{server.url}/v1/chat/completions"
    malformed = httpx.post(url, content=b'{"model": ', headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert "not valid JSON" in malformed.json()["error"]["message"]
    wrong_type = httpx.post(url, json={"model": MODEL, "messages": HI, "max_tokens": "many"})
    assert wrong_type.status_code == 400 and wrong_type.json()["error"]["param"] == "max_tokens"
    no_messages = httpx.post(url, json={"model": MODEL, "messages": []})
    assert no_messages.status_code == 400
    too_big = httpx.post(
        url, json={"model": MODEL, "messages": [{"role": "user", "content": "x" * 5_000_000}]}
    )
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "request_too_large"
    assert list_conversations(server.store) == []


def test_feedback_api(server, greedy_hi):
    api = client(server)
    response = api.chat.completions.create(model=MODEL, messages=HI, temperature=0, max_tokens=20)
    url = f"{server.url}/v1/feedback"
    created = httpx.post(
        url,
        json={
            "message_id": response.id,
            "rating": "down",
            "correction": "Hi! Looking for an order?",
            "tags": ["tone"],
        },
    )
    assert created.status_code == 201
    assert created.json()["message_id"] == response.id and created.json()["tags"] == ["tone"]
    unknown = httpx.post(url, json={"message_id": "chatcmpl-nope", "rating": "up"})
    assert unknown.status_code == 404 and "chatcmpl-nope" in unknown.json()["error"]["message"]
    empty = httpx.post(url, json={"message_id": response.id})
    assert empty.status_code == 400 and "rating" in empty.json()["error"]["message"]
    bad_rating = httpx.post(url, json={"message_id": response.id, "rating": "meh"})
    assert bad_rating.status_code == 400

    conv_id = list_conversations(server.store)[0]["id"]
    conv = httpx.get(f"{server.url}/v1/conversations/{conv_id}").json()
    [fb] = conv["messages"][1]["feedback"]
    assert (fb["rating"], fb["correction"]) == ("down", "Hi! Looking for an order?")
    assert httpx.get(f"{server.url}/v1/conversations/conv_nope").status_code == 404

    export = httpx.get(f"{server.url}/v1/admin/export", params={"format": "dpo"})
    rows = [json.loads(line) for line in export.text.splitlines()]
    assert rows == [
        {
            "prompt": HI,
            "chosen": [{"role": "assistant", "content": "Hi! Looking for an order?"}],
            "rejected": [{"role": "assistant", "content": greedy_hi(20).text}],
        }
    ]
    stats = httpx.get(f"{server.url}/v1/admin/stats").json()
    assert stats["feedback_by_model_and_day"][0]["down"] == 1
    assert stats["recent_thumbs_down"][0]["correction"] == "Hi! Looking for an order?"


def test_keys_scopes_and_rate_limits(server):
    user_key, _ = create_key(server.store, name="app", scope="user", rate_limit_per_minute=3)
    admin_key, _ = create_key(server.store, name="ops", scope="admin")
    server.app.state.pasar._auth_checked = -1e9  # see the new keys now, not within the second
    models = f"{server.url}/v1/models"
    missing = httpx.get(models)
    assert missing.status_code == 401 and "pasar keys create" in missing.json()["error"]["message"]
    assert httpx.get(models, headers={"Authorization": "Bearer psr_wrong"}).status_code == 401
    as_user = {"Authorization": f"Bearer {user_key}"}
    assert httpx.get(models, headers=as_user).status_code == 200
    assert httpx.get(f"{server.url}/v1/admin/stats", headers=as_user).status_code == 403
    limited = httpx.get(models, headers=as_user)  # the third request of three allowed
    assert limited.status_code == 200
    over = httpx.get(models, headers=as_user)
    assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
    assert (
        httpx.get(
            f"{server.url}/v1/admin/stats", headers={"Authorization": f"Bearer {admin_key}"}
        ).status_code
        == 200
    )
    revoke_key(server.store, name="ops")
    assert httpx.get(models, headers={"Authorization": f"Bearer {admin_key}"}).status_code == 401


def test_health_metrics_and_cors(make_server, tmp_path):
    server = make_server(f"sqlite:///{tmp_path / 's.db'}", cors_origins=["https://shop.example"])
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and MODEL in health["models"]
    client(server).chat.completions.create(model=MODEL, messages=HI, temperature=0, max_tokens=5)
    metrics = httpx.get(f"{server.url}/metrics").text
    assert (
        'pasar_http_requests_total{method="POST",route="/v1/chat/completions",status="200"} 1.0'
        in metrics
    )
    assert f'pasar_tokens_total{{kind="completion",model="{MODEL}"}} 5.0' in metrics
    preflight = httpx.options(
        f"{server.url}/v1/chat/completions",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    other = httpx.options(
        f"{server.url}/v1/chat/completions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers
