"""The tool list a local model reads: short signatures that still say every argument."""

from __future__ import annotations

import copy
import re

import pytest

from pasar.apps.taskbot.tools import tool_schemas
from pasar.models.schema import parse_tool_output, tools_system_message, type_text


def test_types_read_as_signatures():
    assert type_text({"type": "string"}) == "string"
    assert type_text({"enum": ["no longer needed", "ordered by mistake"]}) == (
        '"no longer needed" | "ordered by mistake"'
    )
    assert type_text({"type": "array", "items": {"type": "integer"}}) == "integer[]"
    nested = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "zip": {"type": ["string", "null"]}},
        "required": ["city"],
    }
    assert type_text(nested) == "{city: string, zip?: string | null}"
    assert type_text({"anyOf": [{"type": "number"}, {"const": "all"}]}) == 'number | "all"'


def test_every_retail_tool_and_argument_is_in_the_tool_list():
    tools = tool_schemas()
    text = tools_system_message(tools)["content"]
    assert (
        "cancel_pending_order(order_id: string, reason: "
        '"no longer needed" | "ordered by mistake")\n'
        "  Cancel a pending order; payments are refunded to their methods (gift cards at once). "
        "order_id: '#W' and 7 digits, as the user or a tool gave it."
    ) in text
    for tool in tools:
        function = tool["function"]
        assert f"{function['name']}(" in text
        assert all(f"{name}: " in text for name in function["parameters"]["properties"])
    assert '"properties"' not in text  # no raw JSON schema left


def test_tool_choice_none_constrains_a_local_model_to_a_reply():
    """With tools and ``tool_choice="none"``, the JSON protocol still shows the tool list but
    the answer's schema is the reply alone."""
    from pasar.models.engine import Engine
    from pasar.models.types import ChatResult, Usage

    class Recorder(Engine):
        kind = "recorder"

        def __init__(self) -> None:
            super().__init__("recorder")
            self.schemas: list = []
            self.prompts: list = []

        def _complete(self, messages, params, json_schema, tools):  # type: ignore[no-untyped-def]
            self.schemas.append(json_schema)
            self.prompts.append(str(messages))
            assert messages[0]["content"].startswith("You can call these tools")
            return ChatResult('{"content": "Hi"}', "stop", Usage(1, 1), self.name)

        def _stream(self, messages, params, json_schema):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    engine, tools = Recorder(), tool_schemas()
    ask = [{"role": "user", "content": "Hi"}]
    assert engine.chat(ask, tools=tools, tool_choice="none").text == "Hi"
    engine.chat(ask, tools=tools)
    assert engine.schemas[0] == {
        "type": "object",
        "properties": {"content": {"type": "string"}},
        "required": ["content"],
    }
    assert "tool_calls" in str(engine.schemas[1])
    with pytest.raises(ValueError, match="tool_choice='required'"):
        engine.chat(ask, tools=tools, tool_choice="required")  # type: ignore[arg-type]

    # allowed_tools: the answer may call only those (with their narrower schemas); the model
    # still reads the whole list, so the prompt is the same; none allowed leaves a reply.
    lookup = [copy.deepcopy(t) for t in tools if t["function"]["name"] == "get_order_details"]
    lookup[0]["function"]["parameters"]["properties"]["order_id"]["enum"] = ["#W1787190"]
    engine.chat(ask, tools=tools, allowed_tools=lookup)
    names = re.findall(r"'name': \{'const': '(\w+)'\}", str(engine.schemas[2]))
    assert names == ["get_order_details"] and "'enum': ['#W1787190']" in str(engine.schemas[2])
    engine.chat(ask, tools=tools, allowed_tools=[])
    assert engine.schemas[3] == engine.schemas[0]
    assert len(engine.prompts) == 4 and len(set(engine.prompts)) == 1


def test_an_answer_cut_short_by_max_tokens_gives_the_reply_so_far_and_no_json():
    """A reply cut inside its string keeps its words (escapes decoded, a half escape dropped);
    a call cut in half is no reply at all (it used to reach the user as raw JSON)."""
    assert parse_tool_output('{"content": "Your order #W1 is on its wa') == (
        "Your order #W1 is on its wa",
        [],
    )
    assert parse_tool_output('{"content": "Line\\nTwo \\u00') == ("Line\nTwo ", [])
    assert parse_tool_output('{"tool_calls": [{"name": "get_order_details", "argu') == ("", [])
    assert parse_tool_output('{"content": "Done."}') == ("Done.", [])
