"""The retail policy's rules that code can check, whatever the agent says.

- Authenticate first: no user, order or write tool before a find_user_id_* call found the user.
- One user per conversation: nothing about another user's profile or orders.
- A write runs only when it is exactly (tool and arguments) the change the agent put to the
  user: the agent's first call of it is held, not run; the agent's next message lists it
  (naming the order id, or the new address's zip for a user address); the user's next message
  is an explicit yes; then the same call runs, once. Any other write is held in its place.
- Nothing made up: an id, an email, a name or a zip code in a call's arguments must have been
  said by the user or returned by a tool earlier in the conversation (``GROUNDED_ARGUMENTS``);
  otherwise the call is refused and the agent told to ask the user.
The argument rules of each write (status, same product, gift card balance...) are checked by the
store functions themselves (``pasar.commerce.orders``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# An explicit yes, per language. The message must start with one of these as whole words (so
# "Yesterday", "yang" and "ได้รับ" are not a yes), ask nothing, and carry no "but" or "no":
# "Yes, but change the address" is a correction, not a confirmation.
YES = {
    "en": (
        "yes",
        "yeah",
        "yep",
        "yup",
        "sure",
        "correct",
        "confirm",
        "confirmed",
        "go ahead",
        "please proceed",
        "ok",
        "okay",
    ),
    "id": ("ya", "iya", "betul", "benar", "setuju", "boleh", "lanjutkan", "ok", "oke"),
    "ms": ("ya", "betul", "setuju", "boleh", "teruskan", "ok", "okey"),
    "th": ("ใช่", "ยืนยัน", "ตกลง", "ได้", "โอเค", "ถูกต้อง"),
    "vi": ("có", "vâng", "đồng ý", "xác nhận", "đúng", "được", "ok"),
    "tl": ("oo", "opo", "sige", "tama", "ituloy", "ok"),
}
NOT_YES = (
    "no",
    "not",
    "but",
    "actually",
    "wait",
    "instead",
    "tidak",
    "tak",
    "bukan",
    "tapi",
    "tetapi",
    "sebenarnya",
    "eh",
    "jangan",
    "ไม่",
    "แต่",
    "เดี๋ยว",
    "không",
    "nhưng",
    "có lẽ",
    "khoan",
    "hindi",
    "pero",
    "teka",
    "huwag",
    "wag",
)
# Arguments whose values only the user or a tool's result can give.
GROUNDED_ARGUMENTS = (
    "email",
    "first_name",
    "last_name",
    "zip",
    "user_id",
    "order_id",
    "payment_method_id",
    "product_id",
    "item_id",
    "item_ids",
    "new_item_ids",
)
AUTH_TOOLS = {"find_user_id_by_email", "find_user_id_by_name_zip"}
OPEN_TOOLS = AUTH_TOOLS | {
    "list_all_product_types",
    "get_product_details",
    "get_item_details",
    "calculate",
    "transfer_to_human_agents",
}


def plain_words(text: str) -> str:
    """Lower-cased words without punctuation; letters and combining marks (Thai vowels and tone
    marks) are kept."""
    text = unicodedata.normalize("NFC", text.lower())
    kept = (c if c.isalnum() or unicodedata.category(c).startswith("M") else " " for c in text)
    return " ".join("".join(kept).split())


def has_phrase(text: str, phrase: str) -> bool:
    # Thai has no spaces between words: any occurrence counts there.
    if re.search(r"[\u0e00-\u0e7f]", phrase):
        return phrase in text
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


# Thai writes no spaces between words: after a Thai yes may come only polite particles, then a
# space or the end ("ใช่ค่ะ", "ได้เลยครับ"), never more letters ("ได้รับ" = received); before
# it, a particle answering the question ("ค่ะ ยืนยันค่ะ").
THAI_PARTICLES = "(?:ครับ|คับ|ค่ะ|คะ|ค่า|จ้ะ|จ้า|นะ|เลย)*"


def starts_with_yes(words: str, yes: str) -> bool:
    if re.search(r"[\u0e00-\u0e7f]", yes):
        pattern = rf"(?:{THAI_PARTICLES}\s)?{re.escape(yes)}{THAI_PARTICLES}(?:\s|$)"
        return re.match(pattern, words) is not None
    return words == yes or words.startswith(yes + " ")


def is_affirmative(text: str) -> bool:
    """An explicit yes in any of pasar's languages: the message starts with a yes word (whole
    words), asks no question, and has no 'but', 'no', 'maybe' or 'instead' in it."""
    if "?" in text:
        return False
    words = plain_words(text)
    if any(has_phrase(words, plain_words(w)) for w in NOT_YES):
        return False
    return any(starts_with_yes(words, plain_words(w)) for ws in YES.values() for w in ws)


def change_summary(name: str, arguments: dict[str, Any]) -> str:
    """The exact change a yes would make, as the tool and its arguments: the agent puts it to
    the user itself, so the yes covers what will run, not the model's account of it (a model
    that says "exchange" while it holds a payment change is caught by the user)."""
    given = ", ".join(
        f"{key}={', '.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in arguments.items()
        if value not in (None, "", [])
    )
    return f"{name}: {given}"


def address_text(a: dict[str, str]) -> str:
    lines = [a["address1"], a["address2"], a["city"], f"{a['state']} {a['zip']}", a["country"]]
    return ", ".join(x for x in lines if x)


def change_receipt(
    name: str,
    arguments: dict[str, Any],
    before: dict[str, Any] | None,
    after: dict[str, Any],
    request: dict[str, Any],
) -> str:
    """What a change that ran did, in figures: the order's new status and the money it moved
    (refunds and payments made, a return's refund, an exchange's price difference), or the new
    address. The agent tells the user this itself, as it names the change before the yes:
    small models report "done" and leave out the amount the user needs."""
    if "order_id" not in after:
        return f"{name}: {address_text(after['address'])}"
    parts = [f"{name}: order {after['order_id']} is {after['status']}"]
    made = after["payment_history"][len(before["payment_history"]) if before else 0 :]
    parts += [
        f"{p['transaction_type']} ${p['amount']:.2f} ({p['payment_method_id']})" for p in made
    ]
    if name == "return_delivered_order_items":
        items = [i for i in after["items"] if i["item_id"] in arguments["item_ids"]]
        total = sum(i["price"] for i in items)
        names = ", ".join(i["name"] for i in items)
        parts.append(f"refund ${total:.2f} ({names}) to {arguments['payment_method_id']}")
    if "exchange_price_difference" in request:
        difference = request["exchange_price_difference"]
        parts.append(f"price difference {'-' if difference < 0 else ''}${abs(difference):.2f}")
    return "; ".join(parts)


def confirmation_target(name: str, arguments: dict[str, Any]) -> str:
    """What the agent's summary must name for the user's yes to cover this write."""
    if name == "modify_user_address":
        return str(arguments.get("zip", ""))
    return str(arguments.get("order_id", ""))


# Where a grounded value is found in what was heard (lower-cased): ids as the retail data
# writes them. An order id may come as '#W1234567', 'W1234567' or '1234567', never as the
# digits of another id ('credit_card_7017098').
HEARD_PATTERNS = {
    "order_id": re.compile(r"(?:#w|(?<![\w#])w?)([0-9]{7})(?![0-9])"),
    "id": re.compile(r"(?<![0-9])([0-9]{10})(?![0-9])"),  # product and item ids
    "payment_method_id": re.compile(r"\b((?:credit_card|paypal|gift_card)_[0-9]+)\b"),
    "email": re.compile(r"([a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,})"),
    "zip": re.compile(r"(?<![0-9])([0-9]{5})(?![0-9])"),
}
ID_ARGUMENTS = ("product_id", "item_id", "item_ids", "new_item_ids")


def heard_values(heard: str, user_id: str | None) -> dict[str, list[str]]:
    """Per grounded argument, the values the conversation gave for it so far (first heard
    first); the user id is the signed-in user's only (one user per conversation). Zip codes
    are any 5 digits heard, so the new zip of an address the user gives is callable too."""

    def found(kind: str, form: str = "{}") -> list[str]:
        return list(dict.fromkeys(form.format(v) for v in HEARD_PATTERNS[kind].findall(heard)))

    ids = found("id")
    return {
        "order_id": found("order_id", "#W{}"),
        "payment_method_id": found("payment_method_id"),
        "email": found("email"),
        "zip": found("zip"),
        "user_id": [user_id] if user_id else [],
        **{key: ids for key in ID_ARGUMENTS},
    }


def acts_on(tool: str, status: str) -> bool:
    """Whether an order in ``status`` is one ``tool`` can change, by the tool's name: the
    ``*_pending_order*`` tools change pending orders, the ``*_delivered_order*`` ones delivered
    orders (the store checks the finer rules: a cancel needs an unmodified pending order)."""
    if "_pending_order" in tool:
        return status.startswith("pending")
    if "_delivered_order" in tool:
        return status == "delivered"
    return True


def callable_tools(
    tools: list[dict[str, Any]],
    *,
    heard: str,
    user_id: str | None,
    chat_sign_in: bool = True,
    order_statuses: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The tools the policy would run now, their grounded ids held to the values heard: what
    constrained decoding may write (before the sign-in, only signing in),
    so a call before the sign-in or with a made-up order id, item id, payment method or email
    cannot be written at all (the model still sees every tool). Zip codes too: a lookup by
    name waits for a zip (the 1.5B made one up from the greeting's words and 12345). Names
    and free text stay open; the policy checks them when called. A tool whose required id
    nobody gave yet is left out until someone does. With ``order_statuses`` (the signed-in
    user's orders by id), an order tool may change only those of the user's orders heard that
    it ``acts_on``: the 1.5B held payment changes and cancels of delivered orders."""
    values = heard_values(heard, user_id)
    # Before the sign-in, only signing in, as the retail policy asks first of every
    # conversation; with nothing to sign in with yet, the model can only reply (ask for it).
    # Any other tool left open became where a model put its urge to call: the 1.5B handed users
    # to a human at their greeting, the SFT student listed the catalogue.
    before = AUTH_TOOLS if chat_sign_in else OPEN_TOOLS
    allowed = []
    for tool in tools:
        name = tool["function"]["name"]
        if (name in AUTH_TOOLS and not chat_sign_in) or (name not in before and not user_id):
            continue
        parameters = tool["function"].get("parameters") or {}
        properties = dict(parameters.get("properties", {}))
        missing = False
        for key, schema in properties.items():
            if key not in values:
                continue
            given = values[key]
            if key == "order_id" and order_statuses is not None:
                given = [o for o in given if acts_on(name, order_statuses.get(o, "unknown"))]
            if not given:
                missing = missing or key in parameters.get("required", [])
                continue
            narrowed = {k: v for k, v in schema.items() if k != "pattern"}
            if schema.get("type") == "array":
                narrowed["items"] = {"type": "string", "enum": given}
            else:
                narrowed["enum"] = given
            properties[key] = narrowed
        if not missing:
            allowed.append(_with_properties(tool, properties))
    return allowed


def _with_properties(tool: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """``tool`` with its parameters' properties replaced (the rest of the schema kept)."""
    function = tool["function"]
    parameters = {**(function.get("parameters") or {}), "properties": properties}
    return {**tool, "function": {**function, "parameters": parameters}}


def without_call(
    tools: list[dict[str, Any]], name: str, arguments: dict[str, Any]
) -> list[dict[str, Any]]:
    """``tools`` less the call just made, for the step right after it: "reply, or make a
    different call". The call's first grounded id loses the value it used (another order can
    still be looked up); a tool with no such id to vary is left out for that step."""
    kept = []
    for tool in tools:
        if tool["function"]["name"] != name:
            kept.append(tool)
            continue
        properties = (tool["function"].get("parameters") or {}).get("properties", {})
        for key, schema in properties.items():
            used = arguments.get(key)
            if key in GROUNDED_ARGUMENTS and "enum" in schema and isinstance(used, str):
                others = [v for v in schema["enum"] if v != used]
                if others:
                    kept.append(
                        _with_properties(tool, {**properties, key: {**schema, "enum": others}})
                    )
                break
    return kept
