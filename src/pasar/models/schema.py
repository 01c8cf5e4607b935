"""JSON-schema checks and prompted tool calling, shared by the local engines.

Local models (llama.cpp, transformers) get tools the portable way: the tool list goes into a
system message and the output is constrained to a JSON schema that admits either a list of
calls to those tools (with their own parameter schemas) or a plain answer. A 135M model then
cannot emit a malformed call. Remote servers get ``tools`` natively.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import jsonschema

from pasar.errors import InvalidSchemaError
from pasar.models.types import Message, ToolCall


def check_json_schema(schema: Any) -> dict[str, Any]:
    """Return ``schema`` if it is a valid JSON schema object, else raise InvalidSchemaError."""
    if not isinstance(schema, dict):
        raise InvalidSchemaError(
            f"a JSON schema must be a JSON object, got {type(schema).__name__}: {schema!r:.80}"
        )
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise InvalidSchemaError(
            f"invalid JSON schema at {where}: {exc.message}. Fix the schema "
            "(see https://json-schema.org/understanding-json-schema/)"
        ) from exc
    return schema


def _tool_function(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function" or "function" not in tool or "name" not in tool["function"]:
        raise InvalidSchemaError(
            'each tool must look like {"type": "function", "function": {"name": ..., '
            f'"parameters": {{...}}}}}}; got {json.dumps(tool)[:120]}'
        )
    function: dict[str, Any] = tool["function"]
    return function


REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"content": {"type": "string"}},
    "required": ["content"],
}


def tool_choice_schema(tools: list[dict[str, Any]], choice: str = "auto") -> dict[str, Any]:
    """JSON schema for 'call one or more of these tools, or answer in plain text' (``auto``),
    or for the plain-text answer only (``none``: the tools are shown, not callable)."""
    if choice == "none":
        return REPLY_SCHEMA
    calls = []
    for tool in tools:
        function = _tool_function(tool)
        params = check_json_schema(function.get("parameters") or {"type": "object"})
        calls.append(
            {
                "type": "object",
                "properties": {"name": {"const": function["name"]}, "arguments": params},
                "required": ["name", "arguments"],
            }
        )
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "tool_calls": {"type": "array", "items": {"anyOf": calls}, "minItems": 1}
                },
                "required": ["tool_calls"],
            },
            REPLY_SCHEMA,
        ]
    }


def type_text(schema: dict[str, Any]) -> str:
    """A JSON schema written the short way a signature reads: ``string``, ``"a" | "b"``,
    ``string[]``, ``{city: string, zip?: string}``. The constrained output enforces the full
    schema; this is only what the model reads, at a fraction of the tokens."""
    if "enum" in schema:
        return " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(type_text(s) for s in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"{type_text(schema.get('items') or {})}[]"
    if kind == "object" and "properties" in schema:
        return "{" + ", ".join(parameter_texts(schema)) + "}"
    return " | ".join(kind) if isinstance(kind, list) else str(kind)


def parameter_texts(schema: dict[str, Any]) -> list[str]:
    """``name: type`` per property, ``name?`` when it is optional."""
    required = set(schema.get("required", []))
    return [
        f"{name}{'' if name in required else '?'}: {type_text(prop)}"
        for name, prop in schema.get("properties", {}).items()
    ]


def tools_system_message(tools: list[dict[str, Any]]) -> Message:
    """The tool list as one system message: per tool its signature, then its description and
    those of its parameters (995 tokens for the 16 retail tools, against 1,745 as JSON)."""
    lines = [
        "You can call these tools. Answer with JSON only: either "
        '{"tool_calls": [{"name": <tool name>, "arguments": {...}}]} to call tools, or '
        '{"content": <your reply>} to answer the user.',
        "",
    ]
    for tool in tools:
        function = _tool_function(tool)
        parameters = function.get("parameters") or {}
        lines.append(f"{function['name']}({', '.join(parameter_texts(parameters))})")
        notes = [function.get("description", "").strip()] + [
            f"{name}: {prop['description'].strip()}"
            for name, prop in parameters.get("properties", {}).items()
            if prop.get("description")
        ]
        if any(notes):
            lines.append("  " + " ".join(n for n in notes if n))
    return {"role": "system", "content": "\n".join(lines)}


def handles_tool_role(template: str | None) -> bool:
    """Whether a chat template renders messages of the ``tool`` role itself (Qwen2.5's and
    Llama 3's do; SmolLM2's and Gemma 3's do not)."""
    return template is not None and re.search(r"""role\s*==\s*["']tool["']""", template) is not None


def with_tools(
    messages: list[Message], tools: list[dict[str, Any]], tool_role: bool = False
) -> list[Message]:
    """The messages as a local model sees them when given tools.

    Earlier assistant tool calls are rendered as the JSON the model writes. Tool results stay
    in the ``tool`` role where the model's chat template has one (``tool_role``: Qwen2.5's
    renders it as a ``<tool_response>``, the form the model was trained to read as its call's
    answer); otherwise they become user messages ("Tool result: ..."), since many small models'
    templates have no tool role.
    """
    rendered: list[Message] = [tools_system_message(tools)]
    for message in messages:
        if message.get("role") == "tool":
            content = message.get("content", "")
            rendered.append(
                {"role": "tool", "content": content}
                if tool_role
                else {"role": "user", "content": f"Tool result: {content}"}
            )
        elif message.get("role") == "assistant" and message.get("tool_calls"):
            calls = [
                {"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
                for c in message["tool_calls"]
            ]
            rendered.append({"role": "assistant", "content": json.dumps({"tool_calls": calls})})
        else:
            rendered.append(message)
    return rendered


def parse_tool_output(text: str) -> tuple[str, list[ToolCall]]:
    """Split constrained tool-mode output into (reply text, tool calls)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        # Output cut short by max_tokens: keep what was said as text.
        return text, []
    if "tool_calls" in data:
        calls = [
            ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=c["name"], arguments=c["arguments"])
            for c in data["tool_calls"]
        ]
        return "", calls
    return str(data.get("content", "")), []
