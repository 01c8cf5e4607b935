"""The LLM agent: a tool-calling loop over any pasar engine.

Each user message starts a loop: the engine answers with tool calls (local engines are
constrained to valid calls of the given tools, so even the 135M model cannot emit a malformed
one) or with a reply; one call per step is run through the environment (policy included) and
its observation goes back to the model, until it replies (with a reply it has not given
before, below), hands the user to a human itself, or ``max_steps`` (the step budget of one
user turn) runs out; then the user is transferred to a human, with a summary.

A read repeated with the same arguments is not run again: the model is told it was answered,
what it returned, and to reply (small models otherwise loop on one call until the budget is
gone). The memory of answered reads is cleared by every write.

A reply the agent already gave in this conversation (the same words, whatever the case and
spacing) is not sent either: small models copy their own first reply into every later turn.
It stays in the conversation as the model's turn (what it wrote; a recorded conversation goes
on from it), followed by a note in the user's role saying it was not sent, quoting the user's
latest message and asking for a reply to it or a call. A ``tool`` message must answer a call
(OpenAI-style servers refuse one that does not), and a user turn after the model's fits every
chat template, strict alternation included. The retry costs a step of the same budget.

A call that failed (refused by the policy, or an error) repeated in the same user turn is not
run again either: the model is told it was tried. After any of these repeats (answered, held,
tried), the model's next step may only reply (``tool_choice="none"``): small models otherwise
make the same call until the budget is gone. So may the step after a write is held: the policy
says to ask for the yes next, and small models otherwise hold a second change over the first
(an address change, then a cancel of the same order) before the user has read either.

The retry after a repeated reply (or an empty answer) is sampled (``RETRY_TEMPERATURE``): greedy
decoding writes the same words again. A reply after a write was held ends with the agent's own
question in the user's language (``CONFIRM``), naming the exact change (``change_summary``: the
tool and its arguments, the order id or new zip among them), so the user's yes covers what
will run, whatever the model said of it.

The user's yes to a held change runs it at once, as the agent's call, before the model's next
step (a confirmation that executes the pending action, as approval steps in agent frameworks
do): the model would have to repeat the call word for word, and small models thank the user
instead. The conversation shows the call and its result, and the model reports the result; a
write it then makes again with the same arguments is answered "Already done", not held anew.
The agent's next message ends with what the change did, in figures (``DONE``: the order's new
status, refunds and payments made, a return's refund, the new address): the 1.5B said "the
order has been cancelled" and left out the refund the user needs to hear.

When the model calls ``transfer_to_human_agents`` and the environment runs it, the turn ends
with the transfer reply; ``transferred`` tells the evaluation the conversation is over.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pasar.apps.taskbot.environment import Environment, Observation
from pasar.apps.taskbot.policy import change_receipt, change_summary, without_call
from pasar.apps.taskbot.tools import TOOLS, TRANSFER_TEXT, tool_schemas
from pasar.errors import ContextLengthError
from pasar.languages import LANGUAGE_NAMES
from pasar.models.engine import Engine
from pasar.models.types import Message, ToolCall
from pasar.store.commerce import get_order

SYSTEM_PROMPT = """You are a customer-service agent of a retail store. Follow this policy:
- First authenticate the user: find their user id by email, or by first name, last name and
  zip code, even if they give a user id. Help only that user.
- You can cancel or modify pending orders, return or exchange delivered orders, change the
  user's default address, and give information about their profile, orders and products.
- Before any change (cancel, modify, return, exchange, address), call its tool: the store
  holds the change and does nothing yet. Then list the details and ask the user to confirm
  with yes. Their yes makes the change: its result is shown to you; tell the user.
- Cancel reasons: 'no longer needed' or 'ordered by mistake'. A new item must be an available
  option of the same product. Refunds of a return go to the original payment method or a gift
  card. Modify or exchange an order only once: collect every item first.
- Make at most one tool call at a time. Never make up information: ids, emails and names come
  from the user or from a tool's result; ask the user for what you do not have.
- If the request is outside these actions, call transfer_to_human_agents.
Which tool for which request: cancel an order -> cancel_pending_order; change the payment of a
pending order -> modify_pending_order_payment; its items -> modify_pending_order_items; its
address -> modify_pending_order_address; the user's default address -> modify_user_address;
return delivered items -> return_delivered_order_items; exchange them ->
exchange_delivered_order_items (find the new item's id with get_product_details).
How a conversation goes: (1) if the user has not given their email, or their name and zip
code, ask for them; then find their user id. (2) Ask for the order id if they did not give it,
and read the order with get_order_details. (3) Ask for what the change still needs (which
items, the new option, the reason, the payment method). (4) Call the change's tool once, list
the change and ask for yes. (5) After the yes, tell the user the result.
Reply in {language}."""


# Sampling temperature of the retries after a repeated reply (greedy decoding repeats).
RETRY_TEMPERATURE = 0.7
# The question added to a reply that lists a held change without asking for the yes.
CONFIRM = {
    "en": "Shall I go ahead with this change ({target}) (yes/no)?",
    "id": "Apakah perubahan ini ({target}) saya lanjutkan (ya/tidak)?",
    "ms": "Adakah perubahan ini ({target}) saya teruskan (ya/tak)?",
    "th": "ให้ดำเนินการเปลี่ยนแปลงนี้ ({target}) ไหมคะ (ใช่/ไม่)?",
    "vi": "Tôi tiến hành thay đổi này ({target}) nhé, bạn xác nhận chứ (có/không)?",
    "tl": "Ituloy ko ba ang pagbabagong ito ({target}) (oo/hindi)?",
}
# The line added to the agent's next message after a change the user said yes to ran: what it
# did, in figures (``policy.change_receipt``).
DONE = {
    "en": "Done: {receipt}.",
    "id": "Selesai: {receipt}.",
    "ms": "Selesai: {receipt}.",
    "th": "ดำเนินการแล้ว: {receipt}",
    "vi": "Đã xong: {receipt}.",
    "tl": "Tapos na: {receipt}.",
}
# How the observations of a call made already start (answered, held, failed in this turn):
# ``labels.py`` marks the answer that made such a call down.
ALREADY_TRIED = "Already tried"
REPEATED_CALL = ("Already answered", "Already held", "Already done", ALREADY_TRIED)
# How the note on a repeated reply starts (``labels.py`` finds the repeated answer by it).
REPEATED_REPLY_NOTE = "Already said, not sent"


def system_message(language: str) -> Message:
    return {"role": "system", "content": SYSTEM_PROMPT.format(language=LANGUAGE_NAMES[language])}


def call_key(call: ToolCall) -> str:
    """The identity of a call (tool and arguments) the loop remembers calls by."""
    return json.dumps([call.name, call.arguments], sort_keys=True, ensure_ascii=False)


def call_message(call: ToolCall) -> Message:
    """An assistant message carrying one tool call, in OpenAI's format."""
    arguments = json.dumps(call.arguments, ensure_ascii=False)
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": arguments},
            }
        ],
    }


def normalised(reply: str) -> str:
    """A reply as compared for repeats: lower case, runs of whitespace as one space."""
    return " ".join(reply.lower().split())


def local_history(messages: list[Message]) -> list[Message]:
    """Earlier replies as the constrained JSON a local engine emits ({"content": ...}), so the
    model reads its own past turns in the form it writes them (and SFT data matches)."""
    return [
        {**m, "content": json.dumps({"content": m["content"]}, ensure_ascii=False)}
        if m["role"] == "assistant" and not m.get("tool_calls")
        else m
        for m in messages
    ]


@dataclass
class LLMAgent:
    engine: Engine
    env: Environment
    language: str = "en"
    max_steps: int = 8
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = 0
    messages: list[Message] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=tool_schemas)
    answered: dict[str, str] = field(default_factory=dict)  # read call -> what it returned
    failed: dict[str, str] = field(default_factory=dict)  # call refused or failed, this turn
    held: str | None = None  # the write held in this turn, waiting for the user's yes
    receipt: str | None = None  # what the change the user confirmed did, not told them yet
    done: dict[str, str] = field(default_factory=dict)  # write run -> what it returned
    transferred: bool = False  # the user was handed to a human: the conversation is over

    def __post_init__(self) -> None:
        if self.language not in LANGUAGE_NAMES:
            raise ValueError(f"language {self.language!r}: use one of {', '.join(LANGUAGE_NAMES)}")
        if not self.messages:
            self.messages = [system_message(self.language)]
            if self.env.user_id is not None:  # signed in by the marketplace (pasar serve)
                self.messages[0]["content"] += (
                    f"\nThe user is signed in already: user id {self.env.user_id}. Do not ask "
                    "them to authenticate."
                )

    def _prompt(self) -> list[Message]:
        return self.messages if self.engine.native_tools else local_history(self.messages)

    def respond(self, text: str) -> str:
        self.messages.append({"role": "user", "content": text})
        self.held = None  # the user spoke: a yes runs the held write, anything else drops it
        self.failed.clear()
        last = self._run_confirmed() if self.env.confirmed is not None else None
        temperature = self.temperature
        tool_choice: Literal["auto", "none"] = "auto"
        for _ in range(self.max_steps):
            allowed = self.env.callable_tools(self.tools)
            if last is not None:  # the step after a call: reply, or make a different call
                allowed = without_call(allowed, last.name, last.arguments)
            try:
                result = self.engine.chat(
                    self._prompt(),
                    tools=self.tools,
                    tool_choice=tool_choice,
                    allowed_tools=allowed,
                    max_tokens=self.max_tokens,
                    temperature=temperature,
                    seed=self.seed,
                )
            except ContextLengthError:
                break
            if not result.tool_calls:
                reply = result.text.strip()
                if not reply:  # nothing to say: an answer cut short inside a call, say
                    temperature = max(temperature, RETRY_TEMPERATURE)
                    continue
                if self._said_before(reply):
                    self.messages.append({"role": "assistant", "content": reply})
                    self.messages.append({"role": "user", "content": self._repeat_note(text)})
                    # Greedy decoding tends to write the same words again: sample the retry.
                    temperature = max(temperature, RETRY_TEMPERATURE)
                    continue
                reply = self._with_receipt(self._with_confirmation(reply))
                self.messages.append({"role": "assistant", "content": reply})
                return reply
            call = last = result.tool_calls[0]  # the policy allows one call at a time
            self.messages.append(call_message(call))
            key = call_key(call)
            observation = self._made_already(call, key)
            if observation is None:
                observation = self._run(call, key)
                if observation.held:  # the change waits for the user's yes: ask for it
                    tool_choice = "none"
            else:
                tool_choice = "none"  # the model insists on a call made already: it must reply
            self.messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": observation.content}
            )
            if call.name == "transfer_to_human_agents" and not observation.error:
                return self._hand_over(f"{TRANSFER_TEXT}. PLEASE HOLD ON.")
        return self._transfer(text)

    def _with_confirmation(self, reply: str) -> str:
        """A reply after a write was held ends with the question for the yes, naming the exact
        change (the policy runs the write only then): small models list the change and stop,
        or describe another one than they hold."""
        change = self.env.proposed
        if self.held is None or change is None:
            return reply
        summary = change_summary(change.name, change.arguments)
        return f"{reply}\n{CONFIRM[self.language].format(target=summary)}"

    def _with_receipt(self, reply: str) -> str:
        """A reply after a confirmed change ran ends with what it did, in figures."""
        if self.receipt is None:
            return reply
        reply, self.receipt = f"{reply}\n{DONE[self.language].format(receipt=self.receipt)}", None
        return reply

    def _said_before(self, reply: str) -> bool:
        """Whether the agent gave this reply earlier in the conversation."""
        return any(
            m["role"] == "assistant"
            and not m.get("tool_calls")
            and normalised(m["content"]) == normalised(reply)
            for m in self.messages
        )

    def _repeat_note(self, text: str) -> str:
        return (
            f"{REPEATED_REPLY_NOTE}: you gave the user exactly this reply before, so it was not "
            f"sent. The user's latest message is: {json.dumps(text, ensure_ascii=False)}. Reply "
            "to that message with what the tool results showed, or make a call."
        )

    def _made_already(self, call: ToolCall, key: str) -> Observation | None:
        """What to tell the model instead of running a call it made already: it failed in this
        turn, it was answered (a read), or it is held (a write); None for a new call."""
        if key in self.failed:
            return Observation(
                f"{ALREADY_TRIED}: {call.name} with these arguments failed in this turn with: "
                f"{self.failed[key]} Calling it again gives the same answer: reply to the user "
                "now, and ask for what is missing.",
                error=True,
            )
        if key in self.answered:
            return Observation(
                f"Already answered: {call.name} was called with these arguments and returned "
                f"{self.answered[key]}. Reply to the user now."
            )
        if key in self.done:
            return Observation(
                f"Already done: {call.name} ran with these arguments and returned "
                f"{self.done[key]}. Reply to the user now: tell them the result."
            )
        if key == self.held:
            return Observation(
                f"Already held: {call.name} with these arguments waits for the user's yes; "
                "calling it again does nothing until they say yes. Reply to the user now: list "
                "the change (naming the order, or the new address) and ask them to confirm."
            )
        return None

    def _run_confirmed(self) -> ToolCall:
        """The change the user just said yes to runs now, as the agent's call (returned)."""
        change = self.env.confirmed
        assert change is not None
        call = ToolCall(f"call_{uuid.uuid4().hex[:24]}", change.name, dict(change.arguments))
        order_id = call.arguments.get("order_id")
        before = get_order(self.env.db, order_id=order_id) if order_id else None
        self.messages.append(call_message(call))
        observation = self._run(call, call_key(call))
        self.messages.append(
            {"role": "tool", "tool_call_id": call.id, "content": observation.content}
        )
        if not observation.error:
            after = json.loads(observation.content)
            request = self.env.requests.get(order_id, {}) if order_id else {}
            self.receipt = change_receipt(call.name, call.arguments, before, after, request)
        return call

    def _run(self, call: ToolCall, key: str) -> Observation:
        """Run the call through the environment and remember what it tells later calls."""
        observation = self.env.call(call.name, call.arguments)
        if observation.error:
            self.failed[key] = observation.content[:500]
        else:
            self.failed.clear()  # a sign-in or a write can make a refused call allowed
        if observation.held:
            self.held = key
        tool = TOOLS.get(call.name)
        if tool is not None and tool.kind == "write" and not observation.held:
            self.answered.clear()  # what reads returned may have changed
            if not observation.error:
                self.done[key] = observation.content[:500]
        elif tool is not None and tool.kind == "read" and not observation.refused:
            self.answered[key] = observation.content[:500]
        return observation

    def _transfer(self, text: str) -> str:
        """The step budget of this turn is spent: hand the user to a human, with a summary."""
        summary = f"The agent could not finish this request in {self.max_steps} steps: {text}"
        self.env.call("transfer_to_human_agents", {"summary": summary[:500]})
        return self._hand_over(f"{TRANSFER_TEXT}. PLEASE HOLD ON. I could not finish this myself.")

    def _hand_over(self, reply: str) -> str:
        """The transfer is made: say so (and what a change made in this turn did), and the
        conversation is over."""
        self.transferred = True
        reply = self._with_receipt(reply)
        self.messages.append({"role": "assistant", "content": reply})
        return reply
