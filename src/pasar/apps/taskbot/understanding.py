"""What the flows agent asks a language model (the ``guided`` agent): which request a message
makes, which listed value it picks when the patterns miss (a reason, a payment method, items of
the order, a product's option), whether it accepts the change put to it, which detail a
correction changes, and how it corrects an address.

The model only reads. Every answer is constrained by a JSON schema to the values the flow
accepts (or ``none``), the flow decides what to do with it, and every write still goes through
the environment, so the policy (the user's explicit yes included) holds as for the flows agent.
This is the split Rasa's CALM makes: a model understands, business logic acts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pasar.models.engine import Engine

# What each flow is for, as the model reads it (the flows' names are in flows.yaml).
REQUESTS = {
    "cancel_order": "cancel an order that has not shipped yet",
    "return_items": "return items that were delivered, for a refund",
    "change_items": "exchange or change items for another option (size, colour, ...)",
    "change_payment": "pay for an order with a different payment method",
    "modify_order_address": "change where an order will be shipped",
    "modify_user_address": "change the default address on the customer's account",
    "order_status": "ask where an order is or what its status is",
    "product_info": "ask whether a product is sold or available, or its price",
    "transfer": "ask to talk to a human agent",
}
NONE = "none"
CONFIRMATION = {
    "yes": "agrees to the change exactly as listed",
    "no": "does not want the change",
    "change": "wants the change, but with a detail different (a correction)",
}
TRANSLATE = "Translate the customer's message into English. Write only the translation."
ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")
_IDS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|#?\s?W\d{7}\b|\d+")


def vote(*readings: str | None) -> str | None:
    """The reading most of ``readings`` give (None counts for nothing); ties go to the first."""
    given = [r for r in readings if r is not None]
    return max(given, key=given.count) if given else None


def has_words(text: str) -> bool:
    """Whether a message says more than ids, emails and numbers (worth asking the model)."""
    return sum(c.isalpha() for c in _IDS.sub(" ", text)) >= 4


@dataclass
class Understanding:
    """Constrained questions to ``engine`` about one customer message (greedy decoding)."""

    engine: Engine
    max_tokens: int = 160

    def _ask(self, instruction: str, text: str, schema: dict[str, Any]) -> Any:
        messages = [
            {"role": "system", "content": instruction},
            {"role": "user", "content": text},
        ]
        result = self.engine.chat(
            messages, max_tokens=self.max_tokens, temperature=0.0, json_schema=schema
        )
        return result.json()

    def choose(self, question: str, text: str, options: dict[str, str]) -> str | None:
        """One of ``options`` (name: what it means) that ``text`` picks, or None."""
        listed = "\n".join(f"- {name}: {meaning}" for name, meaning in options.items())
        instruction = (
            f"You read one message from a customer of an online shop. {question}\n"
            f"Answer with one of these names:\n{listed}\n- {NONE}: none of these"
        )
        names = [*options, NONE]
        schema = {
            "type": "object",
            "properties": {"answer": {"type": "string", "enum": names}},
            "required": ["answer"],
        }
        answer = self._ask(instruction, text, schema)["answer"]
        return None if answer == NONE else str(answer)

    def pick(self, question: str, text: str, options: dict[str, str]) -> list[str] | None:
        """The ``options`` (name: what it is) that ``text`` picks, at least one, or None."""
        listed = "\n".join(f"- {name}: {meaning}" for name, meaning in options.items())
        instruction = (
            f"You read one message from a customer of an online shop. {question}\n"
            f"Answer with the names of those they mean, from:\n{listed}"
        )
        schema = {
            "type": "object",
            "properties": {
                "answer": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(options)},
                    "minItems": 1,
                }
            },
            "required": ["answer"],
        }
        picked = list(dict.fromkeys(self._ask(instruction, text, schema)["answer"]))
        return [str(p) for p in picked] or None

    def request(self, text: str, keyword: str | None = None) -> str | None:
        """The flow a message asks for, or None (a greeting, an email, thanks): the model's
        reading of the message where it agrees with ``keyword`` (the flows' keyword reading),
        else the vote of the keyword, the model's reading of its own English translation of the
        message and its reading of the message (ties in that order)."""
        if not has_words(text):
            return keyword
        question = "What does the customer ask for?"
        direct = self.choose(question, text, REQUESTS)
        if direct == keyword:
            return direct
        english = self.english(text)
        in_english = self.choose(question, english, REQUESTS) if has_words(english) else None
        return vote(keyword, in_english, direct)

    def english(self, text: str) -> str:
        """The model's English translation of ``text``."""
        messages = [
            {"role": "system", "content": TRANSLATE},
            {"role": "user", "content": text},
        ]
        return self.engine.chat(messages, max_tokens=self.max_tokens, temperature=0.0).text

    def confirmation(self, text: str, change: str) -> str | None:
        """The customer's answer to ``change`` put to them: yes, no, change (or None)."""
        question = f'The shop asked the customer to confirm this change: "{change}". Their reply'
        return self.choose(f"{question} means what?", text, CONFIRMATION)

    def corrected_address(self, text: str, address: dict[str, str]) -> dict[str, str] | None:
        """``address`` with the correction ``text`` makes to it, or None when the model's
        answer is not a whole address."""
        instruction = (
            "You read one message from a customer of an online shop. It corrects this address:\n"
            f"{json.dumps(address, ensure_ascii=False)}\n"
            "Give the whole address with the customer's correction made and every other field "
            "as it was."
        )
        schema = {
            "type": "object",
            "properties": {f: {"type": "string"} for f in ADDRESS_FIELDS},
            "required": list(ADDRESS_FIELDS),
        }
        new = {f: str(v).strip() for f, v in self._ask(instruction, text, schema).items()}
        whole = new["address1"] and new["city"] and re.fullmatch(r"\d{5}", new["zip"])
        return new if whole and new != address else None
