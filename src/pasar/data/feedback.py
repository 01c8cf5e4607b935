"""Feedback to training data, in the formats TRL's trainers read directly.

  thumbs up   -> a desirable example (SFT row; unpaired row with label True)
  thumbs down -> an undesirable example (unpaired row with label False)
  correction  -> a pair (the correction chosen, the answer rejected), an SFT row of the
                 correction, and both unpaired rows

Formats (conversational, as TRL names them):
  sft       {"messages": [...prompt, {"role": "assistant", "content": good}]}
  kto, bnf  {"prompt": [...], "completion": [{"role": "assistant", ...}], "label": bool}
  dpo       {"prompt": [...], "chosen": [{"role": "assistant", ...}], "rejected": [...]}

Tool calls keep TRL's tool-calling form: an assistant message's ``tool_calls`` are
``{"type": "function", "function": {"name": ..., "arguments": {...}}}`` (arguments a dict), and
a tool result is ``{"role": "tool", "name": ..., "content": ...}``. A corrected answer is text.
An answer given with tools offered carries them in ``tools`` (a JSON string, as TRL's trainers
read it), so the chat template shows the trained model the tool list the answer was made with.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from typing import Any

from pasar.data.datasets import METHOD_FORMATS
from pasar.store.interactions import FeedbackExample

FORMATS = tuple(METHOD_FORMATS)  # exports are named by the method they train


def trl_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """A tool call as TRL writes it, from either form the store holds: an answer's
    ``{"id", "name", "arguments"}`` or a client's OpenAI ``{"id", "type", "function"}`` whose
    arguments are a JSON string."""
    function = call.get("function") or call
    arguments = function.get("arguments") or {}
    if isinstance(arguments, str):
        with contextlib.suppress(json.JSONDecodeError):  # else kept as the client sent it
            arguments = json.loads(arguments)
    out: dict[str, Any] = {
        "type": "function",
        "function": {"name": function.get("name"), "arguments": arguments},
    }
    if call.get("id"):
        out["id"] = call["id"]
    return out


def trl_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in TRL's tool-calling form: calls as ``trl_tool_call``, and each tool result
    named by the call it answers."""
    names: dict[str, str] = {}
    out = []
    for message in messages:
        message = dict(message)
        if message.get("tool_calls"):
            message["tool_calls"] = [trl_tool_call(c) for c in message["tool_calls"]]
            names |= {c["id"]: c["function"]["name"] for c in message["tool_calls"] if "id" in c}
        if message["role"] == "tool" and message.get("tool_call_id") in names:
            message["name"] = names[message["tool_call_id"]]
        out.append(message)
    return out


def _assistant(text: str, tool_calls: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [trl_tool_call(c) for c in tool_calls]
    return [message]


def _answer(ex: FeedbackExample) -> list[dict[str, Any]]:
    """The answer as it was given, tool calls included."""
    return _assistant(ex.answer, ex.answer_tool_calls)


def _tools(ex: FeedbackExample) -> dict[str, str]:
    """The row's ``tools`` column: the tools offered with the answer, if any."""
    return {"tools": json.dumps(ex.tools, ensure_ascii=False)} if ex.tools else {}


def feedback_to_sft(examples: Iterable[FeedbackExample]) -> list[dict[str, Any]]:
    rows = []
    for ex in examples:
        if ex.correction:
            messages = [*trl_messages(ex.prompt), *_assistant(ex.correction)]
        elif ex.rating == "up":
            messages = [*trl_messages(ex.prompt), *_answer(ex)]
        else:
            continue
        rows.append({"messages": messages, **_tools(ex)})
    return rows


def feedback_to_unpaired(examples: Iterable[FeedbackExample]) -> list[dict[str, Any]]:
    rows = []
    for ex in examples:
        prompt = {"prompt": trl_messages(ex.prompt), **_tools(ex)}
        if ex.correction:
            rows.append(prompt | {"completion": _assistant(ex.correction), "label": True})
        if ex.rating == "up" and not ex.correction:
            rows.append(prompt | {"completion": _answer(ex), "label": True})
        # A correction says the answer was not what the user wanted, even without a thumbs down.
        if ex.rating == "down" or (ex.correction and ex.rating != "up"):
            rows.append(prompt | {"completion": _answer(ex), "label": False})
    return rows


def feedback_to_pairs(examples: Iterable[FeedbackExample]) -> list[dict[str, Any]]:
    return [
        {
            "prompt": trl_messages(ex.prompt),
            "chosen": _assistant(ex.correction),
            "rejected": _answer(ex),
            **_tools(ex),
        }
        for ex in examples
        if ex.correction and ex.correction != ex.answer
    ]


CONVERTERS = {"sft": feedback_to_sft, "unpaired": feedback_to_unpaired, "paired": feedback_to_pairs}


def feedback_rows(examples: list[FeedbackExample], fmt: str) -> list[dict[str, Any]]:
    """Training rows for method ``fmt`` (sft, bnf, kto, dpo), in the format it reads first."""
    if fmt not in METHOD_FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return CONVERTERS[METHOD_FORMATS[fmt][0]](examples)
