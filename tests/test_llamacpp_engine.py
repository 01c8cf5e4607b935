"""The llama.cpp engine on the real embedded model (SmolLM2-135M-Instruct, Q4_1)."""

from __future__ import annotations

import json

import pytest
from conftest import stop_before_fifth_word

from pasar.errors import ContextLengthError, InvalidSchemaError

HI = [{"role": "user", "content": "Hi"}]
PRODUCT_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 60},
        "price": {"type": "number"},
        "color": {"enum": ["red", "blue", "green"]},
    },
    "required": ["title", "price", "color"],
    "additionalProperties": False,
}


def test_greedy_answer_is_deterministic(llama_engine):
    first = llama_engine.chat(HI, max_tokens=20)
    second = llama_engine.chat(HI, max_tokens=20)
    assert first.text.startswith("Hello!")
    assert second.text == first.text and second.usage == first.usage
    assert first.usage.prompt_tokens == 31  # SmolLM2's template adds its default system prompt
    assert 0 < first.usage.completion_tokens <= 20
    assert first.finish_reason == ("stop" if first.usage.completion_tokens < 20 else "length")
    assert first.model == "smollm2-135m-instruct"


def test_max_tokens_cuts_with_length(llama_engine):
    result = llama_engine.chat(HI, max_tokens=3)
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 3
    assert result.text == "Hello! How"


def test_stop_string_ends_before_it(llama_engine, greedy_hi):
    stop, before = stop_before_fifth_word(greedy_hi().text)
    result = llama_engine.chat(HI, max_tokens=20, stop=[stop])
    assert result.text == before
    assert result.finish_reason == "stop"


def test_stream_matches_chat_and_reports_usage(llama_engine):
    whole = llama_engine.chat(HI, max_tokens=20)
    chunks = list(llama_engine.stream(HI, max_tokens=20))
    assert len(chunks) > 3, "a stream should arrive in pieces"
    assert "".join(c.text for c in chunks) == whole.text
    assert [c.finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == whole.usage


def test_stream_respects_stop(llama_engine, greedy_hi):
    stop, before = stop_before_fifth_word(greedy_hi().text)
    chunks = list(llama_engine.stream(HI, max_tokens=20, stop=[stop]))
    assert "".join(c.text for c in chunks) == before


def test_seed_makes_sampling_reproducible(llama_engine):
    prompt = [{"role": "user", "content": "Name a fruit."}]
    runs = [
        llama_engine.chat(prompt, max_tokens=12, temperature=1.0, seed=7).text for _ in range(2)
    ]
    assert runs[0] == runs[1]
    others = {
        llama_engine.chat(prompt, max_tokens=12, temperature=1.0, seed=s).text for s in range(8)
    }
    assert len(others) > 1, "different seeds should give different samples"


def test_json_schema_output_parses_and_validates(llama_engine):
    import jsonschema

    prompt = [{"role": "user", "content": "Describe a red T-shirt for sale as JSON."}]
    result = llama_engine.chat(prompt, max_tokens=80, json_schema=PRODUCT_SCHEMA)
    data = json.loads(result.text)
    jsonschema.validate(data, PRODUCT_SCHEMA)
    assert data == result.json()


def test_batch_answers_each_conversation(llama_engine):
    other = [{"role": "user", "content": "What is 2+2?"}]
    results = llama_engine.batch([HI, other], max_tokens=20)
    assert [r.text for r in results] == [
        llama_engine.chat(HI, max_tokens=20).text,
        llama_engine.chat(other, max_tokens=20).text,
    ]


def test_tools_give_well_formed_calls(llama_engine):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_order_status",
                "description": "Look up the status of an order by its id.",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string", "pattern": "^#W[0-9]{7}$"}},
                    "required": ["order_id"],
                },
            },
        }
    ]
    prompt = [{"role": "user", "content": "Where is my order #W2378156? Call the tool."}]
    result = llama_engine.chat(prompt, max_tokens=60, tools=tools)
    # The model may answer or call; whatever it does is well-formed.
    if result.tool_calls:
        assert result.finish_reason == "tool_calls"
        call = result.tool_calls[0]
        assert call.name == "get_order_status"
        assert call.arguments["order_id"].startswith("#W")
    else:  # a reply, or an answer cut short by max_tokens: never the protocol's raw JSON
        assert result.text or result.finish_reason == "length"
        assert not result.text.lstrip().startswith("{")


def test_prompt_longer_than_context_is_a_clear_error(llama_engine):
    long = [{"role": "user", "content": "word " * 2000}]
    with pytest.raises(ContextLengthError, match="context window of 1024"):
        llama_engine.chat(long, max_tokens=5)
    with pytest.raises(ContextLengthError):
        list(llama_engine.stream(long, max_tokens=5))


def test_invalid_json_schema_is_refused(llama_engine):
    with pytest.raises(InvalidSchemaError, match="invalid JSON schema"):
        llama_engine.chat(HI, json_schema={"type": "objekt"})
    with pytest.raises(InvalidSchemaError, match="must be a JSON object"):
        llama_engine.chat(HI, json_schema=["type", "object"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"stop": [""]}, "stop"),
    ],
)
def test_bad_sampling_settings_are_refused(llama_engine, kwargs, message):
    with pytest.raises(ValueError, match=message):
        llama_engine.chat(HI, **kwargs)


def test_bad_messages_are_refused(llama_engine):
    with pytest.raises(ValueError, match="messages is empty"):
        llama_engine.chat([])
    with pytest.raises(ValueError, match=r"messages\[0\]"):
        llama_engine.chat([{"role": "robot", "content": "hi"}])
