"""The tool list a local model reads: short signatures that still say every argument."""

from __future__ import annotations

from pasar.apps.taskbot.tools import tool_schemas
from pasar.models.schema import tools_system_message, type_text


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
        "order_id: e.g. '#W0000000'."
    ) in text
    for tool in tools:
        function = tool["function"]
        assert f"{function['name']}(" in text
        assert all(f"{name}: " in text for name in function["parameters"]["properties"])
    assert '"properties"' not in text  # no raw JSON schema left
