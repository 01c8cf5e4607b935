"""The flows agent: hand-built task flows from ``flows.yaml``, the baseline the LLM must beat.

Per user message it (1) extracts entities with patterns and the YAML lexicon (email, name and
zip, order id, reason, payment method, address, item names, option values), (2) verifies the
user, (3) picks an intent by keyword, (4) fills the flow's slots in order, asking for the first
one missing, (5) lists the action and asks for a yes, then calls the tool. The correction
pattern, as in Rasa: a message that changes a filled slot (before or at the confirmation)
re-runs every step after that slot, clearing the slots that depend on it, and asks again.
All tool calls go through the environment, so the policy applies to this agent too.

Three hooks (``_request``, ``_read``, ``_read_confirmation``) read nothing here; the guided agent
(``guided.py``) answers them with a language model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from pasar.apps.taskbot.environment import Environment
from pasar.apps.taskbot.policy import (
    NOT_YES,
    address_text,
    has_phrase,
    is_affirmative,
    plain_words,
)

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ORDER_ID = re.compile(r"#?\s?W\d{7}\b")
ZIP = re.compile(r"(?<!\d)\d{5}(?!\d)")
NAME = re.compile(r"\b([A-Z][a-z]+)\s+([A-Z][a-z]+)\b")
ADDRESS = re.compile(
    r"(\d+ [^,\n]+),\s*(?:([^,\n]+),\s*)?([^,\n]+),\s*([A-Z]{2})\s+(\d{5})(?:,\s*(USA))?"
)


@cache
def flow_spec() -> dict[str, Any]:
    text = resources.files("pasar.apps.taskbot").joinpath("flows.yaml").read_text("utf-8")
    spec: dict[str, Any] = yaml.safe_load(text)
    return spec


def _money(value: float) -> str:
    return f"${value:,.2f}"


def options_text(options: dict[str, str]) -> str:
    """An item's options as the user is shown them ("black, 128GB")."""
    return ", ".join(str(v) for v in options.values())


def method_name(method: dict[str, Any]) -> str:
    """A payment method as the user is shown it."""
    if method["source"] == "credit_card":
        return f"{method['brand']} credit card ending {method['last_four']}"
    if method["source"] == "gift_card":
        return f"gift card ({method['id']}, balance {_money(method['balance'])})"
    return f"PayPal ({method['id']})"


@dataclass
class FlowsAgent:
    """One conversation with the flows agent. ``respond`` takes the user's message."""

    env: Environment
    language: str = "en"
    user: dict[str, Any] | None = None
    flow: str | None = None
    pending_intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    order: dict[str, Any] | None = None
    awaiting_confirmation: bool = False
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)  # the user's messages in the current flow
    transferred: bool = False  # the user was handed to a human: the conversation is over
    asked: str | None = None  # the slot the agent's last message asked for
    proposal: str = ""  # the change the agent last put to the user

    # -- messages ------------------------------------------------------------------------------
    def say(self, key: str, **values: Any) -> str:
        templates = flow_spec()["say"][key]
        return str(templates.get(self.language, templates["en"])).format(**values)

    def call(self, name: str, **arguments: Any) -> Any:
        """A tool call through the environment; raises FlowError with the observation text."""
        observation = self.env.call(name, arguments)
        if observation.error:
            raise FlowError(observation.content)
        return json.loads(observation.content)

    def respond(self, text: str) -> str:
        try:
            return self._respond(text)
        except FlowError as exc:
            self.awaiting_confirmation = False
            if "another user" in str(exc):
                self.slots.pop("order_id", None)
                return self.say("other_user")
            return self.say("tool_error", error=str(exc))

    def _respond(self, text: str) -> str:
        intent = self._request(text, self._intent(text))
        if self.flow is None and intent:
            if self.pending_intent is None:
                self.texts = []
            self.pending_intent = self.pending_intent or intent
        self.texts.append(text)
        if self.pending_intent == "transfer":
            self._start("transfer")  # no account data is needed to reach a human
            return self._advance(text)
        if self.user is None and not self._authenticate(text):
            found = EMAIL.search(text) or ZIP.search(text)
            return self.say("not_found" if found else "ask_identity")
        assert self.user is not None
        if self.flow is None:
            if self.pending_intent is None:
                return self.say("ask_intent", name=self.user["name"]["first_name"])
            self._start(self.pending_intent)
        if self.awaiting_confirmation:
            return self._confirmation(text)
        self._fill(text, correcting=False)
        return self._advance(text)

    # -- understanding -------------------------------------------------------------------------
    def _intent(self, text: str) -> str | None:
        words = plain_words(text)
        for intent, by_language in flow_spec()["intents"].items():
            keywords = [k for ks in by_language.values() for k in ks]
            if any(has_phrase(words, plain_words(k)) for k in keywords):
                return str(intent)
        return None

    def _authenticate(self, text: str) -> bool:
        if self.env.user_id is not None:  # signed in by the marketplace (pasar serve)
            self.user = self.call("get_user_details", user_id=self.env.user_id)
            return True
        email = EMAIL.search(text)
        user_id = self._find("find_user_id_by_email", email=email.group()) if email else None
        # No email, or one that matches no one: a name and zip code in the same message.
        found_zip = ZIP.search(EMAIL.sub(" ", text))
        zip_code = found_zip.group() if found_zip else ""
        for first, last in NAME.findall(text)[:3] if user_id is None and zip_code else []:
            user_id = self._find(
                "find_user_id_by_name_zip", first_name=first, last_name=last, zip=zip_code
            )
            if user_id:
                break
        if user_id is None:
            return False
        self.user = self.call("get_user_details", user_id=user_id)
        return True

    def _find(self, tool: str, **arguments: str) -> str | None:
        observation = self.env.call(tool, arguments)
        return None if observation.error else str(json.loads(observation.content))

    def _lexicon_match(self, text: str, table: dict[str, list[str]]) -> str | None:
        words = plain_words(text)
        for value, phrases in table.items():
            if any(has_phrase(words, plain_words(p)) for p in [value, *phrases]):
                return str(value)
        return None

    # -- slots ---------------------------------------------------------------------------------
    def _start(self, intent: str) -> None:
        self.flow, self.slots, self.order, self.awaiting_confirmation = intent, {}, None, False
        self.pending_intent, self.asked = None, None
        for earlier in self.texts[:-1]:
            self._fill(earlier, correcting=False)

    def _spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = flow_spec()["flows"][self.flow]
        return spec

    def _fill(self, text: str, *, correcting: bool) -> list[str]:
        """Fill (or, correcting, change) slots from ``text``; returns the slots that changed.
        With a model, the slot last asked for is read by it when the patterns find nothing."""
        changed = []
        for slot in self._spec()["slots"]:
            value = self._extract(slot, text)
            if value is not None and value != self.slots.get(slot):
                if slot in self.slots and not correcting and slot == "order_id":
                    continue  # a second order id mid-flow is not a correction of the first
                self.slots[slot] = value
                changed.append(slot)
        asked = self.asked
        if not changed and not correcting and asked is not None and asked not in self.slots:
            value = self._read(asked, text)
            if value is not None:
                self.slots[asked] = value
                changed.append(asked)
        return self._clear_dependents(changed)

    def _clear_dependents(self, changed: list[str]) -> list[str]:
        for slot in changed:
            for dependent, on in (self._spec().get("depends") or {}).items():
                if on == slot and dependent not in changed:
                    self.slots.pop(dependent, None)
        return changed

    def _extract(self, slot: str, text: str) -> Any:
        clean = EMAIL.sub(" ", ORDER_ID.sub(" ", text))
        if slot == "order_id":
            found = ORDER_ID.search(text)
            return "#" + found.group().lstrip("#").strip() if found else None
        if slot == "reason":
            return self._lexicon_match(text, flow_spec()["lexicon"]["reasons"])
        if slot == "address":
            found = ADDRESS.search(text)
            if not found:
                return None
            address1, address2, city, state, zip_code, country = found.groups()
            return {
                "address1": address1.strip(),
                "address2": (address2 or "").strip(),
                "city": city.strip(),
                "state": state,
                "country": country or "USA",
                "zip": zip_code,
            }
        if slot == "payment":
            return self._payment(clean)
        if slot == "product":
            products = self.call("list_all_product_types")
            return next((p for p in products if p.lower() in clean.lower()), None)
        if self.order is None:
            return None
        if slot == "items":
            items = [i for i in self.order["items"] if i["name"].lower() in clean.lower()]
            return [i["item_id"] for i in items] or None
        if slot == "new_items" and "items" in self.slots:
            return self._new_items(clean)
        return None

    def _request(self, text: str, keyword: str | None) -> str | None:
        """The request of a message (the flows': their keyword reading)."""
        return keyword

    def _read(self, slot: str, text: str) -> Any:
        """The value of the slot asked for that ``text`` gives where the patterns find none
        (the flows: none)."""
        return None

    def _read_confirmation(self, text: str) -> tuple[str | None, list[str]]:
        """A reply to the confirmation that is neither a yes nor a pattern: its reading (yes,
        no, change) and the slots it changed (the flows: none)."""
        return None, []

    def _payment(self, text: str) -> str | None:
        assert self.user is not None
        lexicon = flow_spec()["lexicon"]["payment"]
        source = self._lexicon_match(text, lexicon)
        methods = list(self.user["payment_methods"].values())
        if source == "original" and self.order and self.order["payment_history"]:
            return str(self.order["payment_history"][0]["payment_method_id"])
        matches = [m for m in methods if m["source"] == source]
        digits = [m for m in matches if m.get("last_four") and m["last_four"] in text]
        chosen = digits or matches
        return str(chosen[0]["id"]) if len(chosen) == 1 else None

    def _product(self, product_id: str) -> dict[str, Any]:
        if product_id not in self.products:
            self.products[product_id] = self.call("get_product_details", product_id=product_id)
        return self.products[product_id]

    def _mentioned(self, text: str, value: str) -> bool:
        words = plain_words(text)
        synonyms = flow_spec()["lexicon"]["colours"].get(value.lower(), [])
        return any(has_phrase(words, plain_words(v)) for v in [value, *synonyms])

    def _candidates(self, item: dict[str, Any], text: str) -> list[dict[str, Any]]:
        """Available variants of the item's product that keep every option the user did not
        mention and take at least one option value the user did mention; not the new item
        already chosen (a correction is away from it)."""
        variants = self._product(item["product_id"])["variants"].values()
        chosen = set(self.slots.get("new_items") or [])
        out = []
        for v in variants:
            if not v["available"] or v["item_id"] in {item["item_id"], *chosen}:
                continue
            changed = [k for k, value in v["options"].items() if value != item["options"].get(k)]
            if changed and all(self._mentioned(text, str(v["options"][k])) for k in changed):
                out.append(v)
        return out

    def _new_items(self, text: str) -> list[str] | None:
        assert self.order is not None
        chosen = []
        for item_id in self.slots["items"]:
            item = next(i for i in self.order["items"] if i["item_id"] == item_id)
            candidates = self._candidates(item, text)
            if len(candidates) != 1:
                return None
            chosen.append(candidates[0]["item_id"])
        return chosen

    # -- steps ---------------------------------------------------------------------------------
    def _advance(self, text: str) -> str:
        spec = self._spec()
        if self.flow == "transfer":
            self.call("transfer_to_human_agents", summary=text)
            self.flow, self.transferred = None, True
            return self.say("transfer")
        for slot in spec["slots"]:
            if slot == "order_id" and "order_id" in self.slots and self.order is None:
                self.order = self.call("get_order_details", order_id=self.slots["order_id"])
                if self.order["status"] not in spec.get("status", [self.order["status"]]):
                    status, order_id = self.order["status"], self.order["order_id"]
                    self.flow = None
                    return self.say("wrong_status", order_id=order_id, status=status)
                for earlier in self.texts:  # items named before the order was known
                    self._fill(earlier, correcting=False)
            if slot not in self.slots:
                return self._ask(slot, text)
        if self.flow == "order_status":
            return self._finish_info(self._status_answer())
        if self.flow == "product_info":
            return self._finish_info(self._product_answer(" ".join(self.texts)))
        self.awaiting_confirmation = True
        return self._summary()

    def _summary(self) -> str:
        """Put the change to the user: the store holds it until their yes. A change the store
        would not make (a refund to a method that did not pay) is not held: the user is told
        why and asked again for the flow's last answer (the order's status is checked before)."""
        try:
            self.call(self._tool(), **self._arguments())
        except FlowError as exc:
            last = self._spec()["slots"][-1]
            if self.slots.pop(last, None) is None:
                raise
            self.awaiting_confirmation = False
            return f"{self.say('tool_error', error=exc)} {self._ask(last, '')}"
        self.proposal = self._action()
        return self.say("summary", action=self.proposal)

    def _finish_info(self, answer: str) -> str:
        self.flow = None
        return answer

    def _ask(self, slot: str, text: str) -> str:
        assert self.user is not None
        self.asked = slot
        if slot == "items":
            assert self.order is not None
            items = "; ".join(
                f"{i['name']} ({options_text(i['options'])})" for i in self.order["items"]
            )
            return self.say("ask_items", order_id=self.order["order_id"], items=items)
        if slot == "new_items":
            assert self.order is not None
            for item_id in self.slots["items"]:
                item = next(i for i in self.order["items"] if i["item_id"] == item_id)
                if len(self._candidates(item, text)) != 1:
                    variants = self._product(item["product_id"])["variants"].values()
                    choices = "; ".join(
                        options_text(v["options"]) for v in variants if v["available"]
                    )
                    return self.say("ask_new_items", item=item["name"], choices=choices)
        if slot == "payment":
            methods = ", ".join(method_name(m) for m in self.user["payment_methods"].values())
            return self.say("ask_payment", methods=methods)
        if slot == "product":
            return self.say("ask_product", products=", ".join(self.call("list_all_product_types")))
        return self.say(f"ask_{slot}")

    def _confirmation(self, text: str) -> str:
        if is_affirmative(text):
            self.awaiting_confirmation = False
            return self._act()
        changed = self._fill(text, correcting=True)
        reading = None
        if not changed:
            reading, changed = self._read_confirmation(text)
        if changed:
            self.awaiting_confirmation = False
            if "order_id" in changed:
                self.order = None
            return self._advance(text)
        words = plain_words(text)
        if reading == "no" or any(has_phrase(words, w) for w in NOT_YES):
            self.flow, self.awaiting_confirmation = None, False
            return self.say("aborted")
        return self._summary()

    # -- the write -----------------------------------------------------------------------------
    def _tool(self) -> str:
        tool = self._spec()["tool"]
        if isinstance(tool, dict):
            assert self.order is not None
            return str(tool[self.order["status"]])
        return str(tool)

    def _arguments(self) -> dict[str, Any]:
        assert self.user is not None
        s = self.slots
        by_tool: dict[str, dict[str, Any]] = {
            "cancel_pending_order": {"order_id": s.get("order_id"), "reason": s.get("reason")},
            "return_delivered_order_items": {
                "order_id": s.get("order_id"),
                "item_ids": s.get("items"),
                "payment_method_id": s.get("payment"),
            },
            "modify_pending_order_payment": {
                "order_id": s.get("order_id"),
                "payment_method_id": s.get("payment"),
            },
            "modify_pending_order_address": {"order_id": s.get("order_id"), **s.get("address", {})},
            "modify_user_address": {"user_id": self.user["user_id"], **s.get("address", {})},
        }
        changes = {
            "order_id": s.get("order_id"),
            "item_ids": s.get("items"),
            "new_item_ids": s.get("new_items"),
            "payment_method_id": s.get("payment"),
        }
        by_tool["modify_pending_order_items"] = by_tool["exchange_delivered_order_items"] = changes
        return by_tool[self._tool()]

    def _total(self, amounts: list[float]) -> float:
        if len(amounts) == 1:
            return amounts[0]
        return float(self.call("calculate", expression=" + ".join(f"{a:.2f}" for a in amounts)))

    def _action(self) -> str:
        assert self.user is not None
        tool, s, order = self._tool(), self.slots, self.order
        methods = self.user["payment_methods"]
        if tool == "cancel_pending_order":
            assert order is not None
            payments = [p for p in order["payment_history"] if p["transaction_type"] == "payment"]
            refund_to = ", ".join(method_name(methods[p["payment_method_id"]]) for p in payments)
            total = _money(self._total([p["amount"] for p in payments]))
            return self.say(
                "act_cancel",
                order_id=s["order_id"],
                reason=s["reason"],
                total=total,
                refund_to=refund_to,
            )
        if tool == "return_delivered_order_items":
            assert order is not None
            items = [i for i in order["items"] if i["item_id"] in s["items"]]
            total = _money(self._total([i["price"] for i in items]))
            names = ", ".join(i["name"] for i in items)
            return self.say(
                "act_return",
                items=names,
                order_id=s["order_id"],
                total=total,
                method=method_name(methods[s["payment"]]),
            )
        if tool in ("modify_pending_order_items", "exchange_delivered_order_items"):
            assert order is not None
            old = [next(i for i in order["items"] if i["item_id"] == x) for x in s["items"]]
            new = [self.call("get_item_details", item_id=x) for x in s["new_items"]]
            changes = "; ".join(
                f"{o['name']} ({options_text(o['options'])}) -> ({options_text(n['options'])})"
                for o, n in zip(old, new, strict=True)
            )
            expression = " + ".join(
                f"({n['price']:.2f} - {o['price']:.2f})" for o, n in zip(old, new, strict=True)
            )
            difference = float(self.call("calculate", expression=expression))
            return self.say(
                "act_change",
                order_id=s["order_id"],
                changes=changes,
                difference=_money(difference),
                method=method_name(methods[s["payment"]]),
            )
        if tool == "modify_pending_order_payment":
            assert order is not None
            paid = order["payment_history"][0]
            return self.say(
                "act_payment",
                order_id=s["order_id"],
                total=_money(paid["amount"]),
                method=method_name(methods[s["payment"]]),
                old=method_name(methods[paid["payment_method_id"]]),
            )
        address = address_text(s["address"])
        if tool == "modify_pending_order_address":
            return self.say("act_order_address", order_id=s["order_id"], address=address)
        return self.say("act_user_address", address=address)

    def _act(self) -> str:
        result = self.call(self._tool(), **self._arguments())
        self.flow = None
        if "order_id" in result:
            status = result["status"]
            return self.say(
                "done", result=self.say("result_order", order_id=result["order_id"], status=status)
            )
        return self.say(
            "done", result=self.say("result_user", address=address_text(result["address"]))
        )

    # -- read-only answers ---------------------------------------------------------------------
    def _status_answer(self) -> str:
        assert self.order is not None
        items = ", ".join(i["name"] for i in self.order["items"])
        return self.say(
            "status_answer",
            order_id=self.order["order_id"],
            status=self.order["status"],
            items=items,
        )

    def _product_answer(self, text: str) -> str:
        products = self.call("list_all_product_types")
        product = self._product(products[self.slots["product"]])
        variants = list(product["variants"].values())
        available = [v for v in variants if v["available"]]
        prices = [v["price"] for v in available] or [0.0]
        match = ""
        clean = EMAIL.sub(" ", ORDER_ID.sub(" ", text))
        named = [
            v
            for v in variants
            if all(self._mentioned(clean, str(x)) for x in v["options"].values())
        ]
        if len(named) == 1:
            item = self.call("get_item_details", item_id=named[0]["item_id"])
            match = self.say(
                "item_match",
                item_id=item["item_id"],
                options=options_text(item["options"]),
                price=f"{item['price']:.2f}",
                available="available" if item["available"] else "not available",
            )
        return self.say(
            "product_answer",
            product=product["name"],
            available=len(available),
            total=len(variants),
            low=f"{min(prices):.2f}",
            high=f"{max(prices):.2f}",
            match=match,
        )


class FlowError(Exception):
    """A tool call the flow made came back as an error observation."""
