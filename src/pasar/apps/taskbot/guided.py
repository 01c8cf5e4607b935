"""The guided agent: the flows agent asking a language model (``understanding.py``) what its
keywords and patterns miss: the request of a message that starts a flow (put to a vote with the
keywords' reading), the answer to the question it asked when its patterns find none (a reason, a
payment method, items, a product's option), and a reply to its confirmation that is neither a
yes nor a pattern it reads (a correction of any of those or of the address, or a no). Served as
``taskbot``; ``--agent guided`` on the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pasar.apps.taskbot.flows import FlowsAgent, flow_spec, method_name, options_text
from pasar.apps.taskbot.policy import address_text
from pasar.apps.taskbot.understanding import Understanding, has_words

# The slots a model may read and what each is, as the model reads it.
READABLE = {
    "reason": "the reason",
    "items": "which items",
    "new_items": "the new option wanted for an item",
    "payment": "the payment method",
    "address": "the address",
}


@dataclass
class GuidedAgent(FlowsAgent):
    """The flows agent whose hooks ask ``understanding``."""

    understanding: Understanding = field(kw_only=True)

    def _request(self, text: str, keyword: str | None) -> str | None:
        if self.flow is None and self.pending_intent is None:
            return self.understanding.request(text, keyword)  # keywords can mislead
        return keyword

    def _read_confirmation(self, text: str) -> tuple[str | None, list[str]]:
        reading = self.understanding.confirmation(text, self.proposal)
        return reading, self._corrected(text) if reading == "change" else []

    def _read(self, slot: str, text: str) -> Any:
        """The value of ``slot`` that ``text`` gives, read by the model among the values the
        flow accepts (None for a slot it does not read, or without an answer)."""
        reader = self.understanding
        if slot not in READABLE or not has_words(text):
            return None
        if slot == "reason":
            reasons = flow_spec()["lexicon"]["reasons"]
            return reader.choose(
                "Which reason does the customer give?", text, {r: r for r in reasons}
            )
        if slot == "payment":
            assert self.user is not None
            methods = {m["id"]: method_name(m) for m in self.user["payment_methods"].values()}
            return reader.choose("Which payment method does the customer pick?", text, methods)
        if slot == "address":
            return (
                reader.corrected_address(text, self.slots["address"])
                if "address" in self.slots
                else None
            )
        if self.order is None:
            return None
        if slot == "items":
            items = {
                i["item_id"]: f"{i['name']} ({options_text(i['options'])})"
                for i in self.order["items"]
            }
            question = "Which items of the order does the customer mean?"
            if "items" in self.slots:
                question += f" (They had chosen: {self._shown('items')}.)"
            return reader.pick(question, text, items)
        if slot == "new_items" and len(self.slots.get("items", [])) == 1:
            [item_id] = self.slots["items"]
            item = next(i for i in self.order["items"] if i["item_id"] == item_id)
            variants = self._product(item["product_id"])["variants"].values()
            options = {
                v["item_id"]: options_text(v["options"])
                for v in variants
                if v["available"] and v["item_id"] != item_id
            }
            now = f"{item['name']} ({options_text(item['options'])})"
            question = f"The customer changes their {now}. Which option do they want instead?"
            chosen = reader.choose(question, text, options)
            return [chosen] if chosen else None
        return None

    def _shown(self, slot: str) -> str:
        """A slot's value as the user was shown it."""
        assert self.user is not None
        value = self.slots[slot]
        if slot == "payment":
            return method_name(self.user["payment_methods"][value])
        if slot == "address":
            return address_text(value)
        if slot in ("items", "new_items") and self.order is not None:
            known = {i["item_id"]: i for i in self.order["items"]}
            return "; ".join(
                f"{known[x]['name']} ({options_text(known[x]['options'])})"
                if x in known
                else options_text(self.call("get_item_details", item_id=x)["options"])
                for x in value
            )
        return str(value)

    def _corrected(self, text: str) -> list[str]:
        """The slot the model reads ``text`` as correcting, changed to the value it reads; the
        slots changed ([] when it reads none)."""
        slots = {
            s: f"{READABLE[s]} (now: {self._shown(s)})"
            for s in self._spec()["slots"]
            if s in READABLE and s in self.slots
        }
        if len(slots) > 1:
            slot = self.understanding.choose("Which detail does the customer correct?", text, slots)
        else:
            slot = next(iter(slots), None)
        value = self._read(slot, text) if slot else None
        if slot is None or value is None or value == self.slots.get(slot):
            return []
        self.slots[slot] = value
        return self._clear_dependents([slot])
