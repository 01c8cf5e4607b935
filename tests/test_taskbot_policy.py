"""Each policy rule refuses what it must, and lets through what it should."""

from __future__ import annotations

import re

import pytest
from conftest import SHARED_DATA

from pasar.apps.taskbot.environment import (
    Environment,
    Observation,
    episode_store,
    load_template,
)
from pasar.apps.taskbot.policy import (
    callable_tools,
    change_receipt,
    heard_values,
    is_affirmative,
    without_call,
)
from pasar.apps.taskbot.tools import tool_schemas
from pasar.store.commerce import get_order, get_user
from pasar.store.db import Store

CANCEL = {"order_id": "#W3579467", "reason": "no longer needed"}


@pytest.fixture(scope="module")
def template() -> Store:
    return load_template(SHARED_DATA / "retail" / "db.json")


@pytest.fixture
def env(template: Store) -> Environment:
    """The tests of the other rules call tools with ids no user said (grounding is tested on
    its own, below)."""
    return Environment(episode_store(template), grounded=False)


def _sign_in(env: Environment, email: str = "yusuf.khan7390@example.com") -> None:
    assert not env.call("find_user_id_by_email", {"email": email}).error


def _confirm(env: Environment, summary: str, answer: str = "Yes, please.") -> None:
    env.agent_says(summary)
    env.user_says(answer)


def _held(observation: Observation) -> bool:
    """The write was not run: it waits for the user's yes."""
    return observation.held and not observation.error


def test_account_data_needs_authentication_first(env: Environment) -> None:
    for name, args in [
        ("get_user_details", {"user_id": "yusuf_khan_7091"}),
        ("get_order_details", {"order_id": "#W3579467"}),
        ("cancel_pending_order", CANCEL),
    ]:
        observation = env.call(name, args)
        assert observation.refused and "authenticate" in observation.content
    # Public catalogue data needs no account.
    assert not env.call("list_all_product_types", {}).error
    assert not env.call("get_product_details", {"product_id": "1075968781"}).error
    _sign_in(env)
    assert not env.call("get_user_details", {"user_id": "yusuf_khan_7091"}).error
    assert [c.observation.refused for c in env.calls] == [True] * 3 + [False] * 4


def test_one_user_per_conversation(env: Environment) -> None:
    _sign_in(env)
    other_user = env.call("get_user_details", {"user_id": "evelyn_davis_7541"})
    other_order = env.call("get_order_details", {"order_id": "#W6798117"})  # Evelyn's order
    switch = env.call("find_user_id_by_email", {"email": "evelyn.davis9453@example.com"})
    assert other_user.refused and other_order.refused and switch.refused
    assert "another user" in other_order.content
    assert env.user_id == "yusuf_khan_7091"
    _confirm(env, "I will return the Smart Watch of order #W6798117. Proceed?")
    write = env.call(
        "return_delivered_order_items",
        {
            "order_id": "#W6798117",
            "item_ids": ["1706622510"],
            "payment_method_id": "paypal_9734841",
        },
    )
    assert write.refused
    assert get_order(env.db, order_id="#W6798117")["status"] == "delivered"


def test_write_needs_a_yes_to_a_summary_naming_it(env: Environment) -> None:
    _sign_in(env)
    assert _held(env.call("cancel_pending_order", CANCEL))  # nothing asked yet
    _confirm(env, "Shall I cancel your order?", "Yes")  # the summary does not name the order
    assert _held(env.call("cancel_pending_order", CANCEL))
    _confirm(env, "I will cancel order #W3579467 (no longer needed). Proceed?", "Hmm, let me think")
    assert _held(env.call("cancel_pending_order", CANCEL))
    _confirm(env, "I will cancel order #W3579467. Proceed?", "Yes, but use the other reason")
    held = env.call("cancel_pending_order", CANCEL)
    assert _held(held) and "Their yes makes exactly this change" in held.content
    assert get_order(env.db, order_id="#W3579467")["status"] == "pending"
    _confirm(env, "I will cancel order #W3579467 (no longer needed). Proceed (yes/no)?")
    assert not env.call("cancel_pending_order", CANCEL).error
    assert get_order(env.db, order_id="#W3579467")["status"] == "cancelled"


def test_a_yes_with_nothing_held_confirms_nothing(env: Environment) -> None:
    # Before, a yes to any summary naming the order let the next write on it run.
    _sign_in(env)
    _confirm(env, "I will cancel order #W3579467 (no longer needed). Proceed?")
    assert _held(env.call("cancel_pending_order", CANCEL))
    assert get_order(env.db, order_id="#W3579467")["status"] == "pending"


ADDRESS = {
    "order_id": "#W1130240",
    "address1": "1 Main St",
    "address2": "",
    "city": "Austin",
    "state": "TX",
    "country": "USA",
    "zip": "78701",
}


def test_the_yes_covers_only_the_exact_change_held(env: Environment) -> None:
    # Before, a yes to "ship order #W1130240 to 1 Main St" let a payment switch of the same
    # order run, and a yes to one cancel reason let the other run.
    _sign_in(env, "liam.li8523@example.com")
    assert _held(env.call("modify_pending_order_address", ADDRESS))
    _confirm(env, "I will ship order #W1130240 to 1 Main St, Austin TX 78701. OK?", "ok")
    switch = {"order_id": "#W1130240", "payment_method_id": "paypal_9619477"}
    assert _held(env.call("modify_pending_order_payment", switch))
    other_street = {**ADDRESS, "address1": "9 Elm St"}
    assert _held(env.call("modify_pending_order_address", other_street))
    order = get_order(env.db, order_id="#W1130240")
    assert len(order["payment_history"]) == 1 and order["address"]["address1"] != "1 Main St"
    assert _held(env.call("modify_pending_order_address", ADDRESS))
    _confirm(env, "I will ship order #W1130240 to 1 Main St, Austin TX 78701. OK?", "ok")
    assert not env.call("modify_pending_order_address", ADDRESS).error
    assert get_order(env.db, order_id="#W1130240")["address"]["address1"] == "1 Main St"


def test_one_yes_covers_one_write(env: Environment) -> None:
    _sign_in(env, "liam.li8523@example.com")
    assert _held(env.call("modify_pending_order_address", ADDRESS))
    _confirm(env, "I will ship order #W1130240 to 1 Main St. OK?", "ok")
    assert not env.call("modify_pending_order_address", ADDRESS).error
    again = env.call("modify_pending_order_address", {**ADDRESS, "address1": "2 Main St"})
    assert _held(again)
    assert get_order(env.db, order_id="#W1130240")["address"]["address1"] == "1 Main St"


def test_user_address_summary_must_name_the_new_zip(env: Environment) -> None:
    _sign_in(env, "omar.muller2208@example.com")
    address = {
        "user_id": "omar_muller_8833",
        "address1": "445 Maple Avenue",
        "address2": "",
        "city": "Austin",
        "state": "TX",
        "country": "USA",
        "zip": "78701",
    }
    assert _held(env.call("modify_user_address", address))
    _confirm(env, "I will update your default address. OK?")
    assert _held(env.call("modify_user_address", address))
    _confirm(env, "New default address: 445 Maple Avenue, Austin, TX 78701, USA. Confirm?", "Ya")
    assert not env.call("modify_user_address", address).error
    assert get_user(env.db, user_id="omar_muller_8833")["address"]["zip"] == "78701"


def test_argument_rules_of_writes_are_enforced(env: Environment) -> None:
    _sign_in(env)
    wrong = env.call("cancel_pending_order", {"order_id": "#W3579467", "reason": "too expensive"})
    assert wrong.error and not wrong.refused and "reason" in wrong.content  # never held
    assert env.proposed is None
    assert get_order(env.db, order_id="#W3579467")["status"] == "pending"


@pytest.mark.parametrize(
    ("text", "yes"),
    [
        ("Yes, please go ahead.", True),
        ("Ya, lanjutkan.", True),
        ("Ya, teruskan.", True),
        ("ใช่ค่ะ ยืนยัน", True),
        ("Vâng, tôi đồng ý.", True),
        ("Oo, sige po.", True),
        ("No, don't.", False),
        ("Yes, but change the address.", False),
        ("Eh, tak jadi. Jangan batalkan.", False),
        ("เดี๋ยวค่ะ ขอเป็นสี beige ดีกว่าค่ะ", False),
        ("Khoan đã, tôi muốn màu bạc hơn.", False),
        ("Ay teka, sa gift card ko na lang.", False),
        ("What is the refund amount?", False),
        ("Okay, go ahead.", True),
        ("ได้เลยครับ", True),
        ("ตกลงค่ะ", True),
        ("ค่ะ ยืนยันค่ะ", True),  # a particle answering first, then the yes
        ("ครับ ถูกต้องครับ", True),
        ("ไม่ถูกต้องครับ", False),
        ("yup correct, go ahead", True),
        ("ค่ะ ไม่ยืนยันค่ะ", False),
        ("ครับ ได้รับแล้ว", False),
        # Near misses: a yes word's prefix, or a yes word that asks, is not a yes.
        ("Yesterday I ordered it.", False),
        ("Yes?", False),
        ("Correction: the zip is 10001.", False),
        ("yang biru saja", False),
        ("Benarkah itu?", False),
        ("Betulkan alamat saya dulu.", False),
        ("Yakin ke boleh?", False),
        ("ได้รับของแล้วค่ะ", False),
        ("ใช่ไหมคะ", False),
        ("ตกลงไหม", False),
        ("Có lẽ để mai tính.", False),
        ("Có ai ở đó không", False),
        ("Đượm buồn quá", False),
        ("Oops, mali ang address.", False),
        ("Tamad ako ngayon.", False),
        ("Okupado pa ako.", False),
    ],
)
def test_explicit_yes_in_six_languages(text: str, yes: bool) -> None:
    assert is_affirmative(text) is yes


def test_made_up_values_are_refused_and_heard_ones_pass(template: Store) -> None:
    """An id, email or name the model invents is refused with what to do; the same call with
    values the user said or a tool returned runs."""
    env = Environment(episode_store(template))
    invented = env.call("find_user_id_by_email", {"email": "example@example.com"})
    assert invented.refused and "ask the user" in invented.content
    env.user_says("Hi, I'm yusuf.khan7390@example.com and I want to cancel an order")
    assert not env.call("find_user_id_by_email", {"email": "Yusuf.Khan7390@example.com"}).error
    guessed = env.call("get_order_details", {"order_id": "#W0000000"})
    assert guessed.refused and "'#W0000000'" in guessed.content
    # An order id from the user's profile (a tool's result) is grounded, with or without '#'.
    assert not env.call("get_user_details", {"user_id": "yusuf_khan_7091"}).error
    assert not env.call("get_order_details", {"order_id": "#W3579467"}).error
    env.user_says("the one with W3579467 please")
    assert not env.call("get_order_details", {"order_id": "W3579467"}).refused
    item_ids = env.call(
        "return_delivered_order_items",
        {"order_id": "#W3579467", "item_ids": ["1234567890"], "payment_method_id": "x"},
    )
    assert item_ids.refused and "item_ids '1234567890'" in item_ids.content


def _callable(env: Environment) -> dict[str, dict]:
    """The tools the agent may write a call to now, by name: their parameter schemas."""
    return {
        t["function"]["name"]: t["function"]["parameters"]["properties"]
        for t in env.callable_tools(tool_schemas())
    }


def test_decoding_may_call_only_what_the_policy_would_run(template: Store) -> None:
    """Before the sign-in only signing in can be written (nothing, at the greeting), by email
    only once an email was said; after it, ids are held to the ones heard (the 1.5B's first
    call used to be a payment change of an invented order, before anyone signed in)."""
    env = Environment(episode_store(template))
    env.user_says("Hi, I want to exchange a water bottle")
    assert _callable(env) == {}  # nothing to sign in with yet: the model can only reply
    env.user_says("I'm Yusuf Khan, zip 19122")
    assert _callable(env)["find_user_id_by_name_zip"]["zip"]["enum"] == ["19122"]
    env.user_says("I'm yusuf.khan7390@example.com")
    assert _callable(env)["find_user_id_by_email"]["email"]["enum"] == [
        "yusuf.khan7390@example.com"
    ]
    assert not env.call("find_user_id_by_email", {"email": "yusuf.khan7390@example.com"}).error
    after = _callable(env)
    assert "cancel_pending_order" not in after  # no order id heard yet
    assert after["calculate"]["expression"]["pattern"] == "^[-0-9+*/(). ]+$"
    assert "transfer_to_human_agents" in after
    assert after["get_user_details"]["user_id"]["enum"] == ["yusuf_khan_7091"]
    assert not env.call("get_user_details", {"user_id": "yusuf_khan_7091"}).error
    env.user_says("cancel W3579467 please")
    tools = _callable(env)
    orders = tools["cancel_pending_order"]["order_id"]["enum"]
    assert "#W3579467" in orders and all(re.fullmatch(r"#W[0-9]{7}", o) for o in orders)
    assert "pattern" not in tools["cancel_pending_order"]["order_id"]
    payments = tools["modify_pending_order_payment"]["payment_method_id"]["enum"]
    assert "paypal_5796936" in payments  # from the user's profile
    # Where the marketplace signs customers in, the lookups are never offered.
    signed_in = Environment(episode_store(template), chat_sign_in=False)
    signed_in.sign_in("yusuf_khan_7091")
    assert not {"find_user_id_by_email", "find_user_id_by_name_zip"} & set(_callable(signed_in))


def test_the_step_after_a_call_cannot_make_the_same_call() -> None:
    """'Reply, or make a different call': the 1.5B called every tool twice in a row (and then
    parroted the 'Already answered' note to the user)."""
    heard = "orders #w1111111 and #w2222222; user_a\n"
    tools = callable_tools(tool_schemas(), heard=heard, user_id="user_a")
    after = {
        t["function"]["name"]: t
        for t in without_call(tools, "get_order_details", {"order_id": "#W1111111"})
    }
    assert after["get_order_details"]["function"]["parameters"]["properties"]["order_id"][
        "enum"
    ] == ["#W2222222"]
    assert after["cancel_pending_order"] == next(
        t for t in tools if t["function"]["name"] == "cancel_pending_order"
    )
    once = callable_tools(tool_schemas(), heard="#w1111111 user_a\n", user_id="user_a")
    names = {
        t["function"]["name"]
        for t in without_call(once, "get_order_details", {"order_id": "#W1111111"})
    }
    assert "get_order_details" not in names and "get_user_details" in names
    names = {t["function"]["name"] for t in without_call(once, "list_all_product_types", {})}
    assert "list_all_product_types" not in names and len(names) == len(once) - 1


def test_a_write_that_would_fail_is_not_held(env: Environment) -> None:
    _sign_in(env, "lei.khan8439@example.com")
    delivered = "#W2787996"
    cancel = {"order_id": delivered, "reason": "no longer needed"}
    observation = env.call("cancel_pending_order", cancel)
    assert observation.error and not observation.held
    assert "only pending orders" in observation.content
    # Nor a refund to a card that did not pay the order (the store's own rule).
    refund = {"order_id": delivered, "item_ids": ["9354168549"]}
    card = env.call(
        "return_delivered_order_items", {**refund, "payment_method_id": "credit_card_7017098"}
    )
    assert card.error and "original payment method" in card.content
    assert env.proposed is None
    assert get_order(env.db, order_id=delivered)["status"] == "delivered"
    gift = env.call(
        "return_delivered_order_items", {**refund, "payment_method_id": "gift_card_6786837"}
    )
    assert _held(gift) and env.proposed is not None  # the one that would run is put to the user
    assert get_order(env.db, order_id=delivered)["status"] == "delivered"


def test_decoding_may_change_only_the_users_orders_that_the_tool_acts_on(template: Store) -> None:
    """The 1.5B held payment changes and cancels of delivered orders; an order tool's ids are
    the signed-in user's heard orders in a status it changes (another's order: none)."""
    env = Environment(episode_store(template))
    env.user_says("I'm lei.khan8439@example.com, return from #W2787996; and what is #W3579467?")
    assert not env.call("find_user_id_by_email", {"email": "lei.khan8439@example.com"}).error
    assert _callable(env)["get_order_details"]["order_id"]["enum"] == ["#W2787996", "#W3579467"]
    for read, arguments in (
        ("get_user_details", {"user_id": "lei_khan_6353"}),
        ("get_order_details", {"order_id": "#W2787996"}),
    ):
        assert not env.call(read, arguments).error  # item ids and payment methods heard
    tools = _callable(env)
    assert tools["return_delivered_order_items"]["order_id"]["enum"] == ["#W2787996"]
    assert "cancel_pending_order" not in tools  # the user's only heard order is delivered
    assert "modify_pending_order_payment" not in tools


def test_order_ids_are_heard_in_every_written_form_and_never_inside_another_id() -> None:
    heard = "#w1111111, w2222222, order 3333333 (paid by credit_card_7017098, gift_card_4444444)"
    assert heard_values(heard, None)["order_id"] == ["#W1111111", "#W2222222", "#W3333333"]


def test_a_change_receipt_gives_a_returns_refund_and_an_exchanges_difference() -> None:
    order = {
        "order_id": "#W1",
        "status": "return requested",
        "items": [
            {"item_id": "1", "name": "Lamp", "price": 20.5},
            {"item_id": "2", "name": "Mug", "price": 9.25},
            {"item_id": "3", "name": "Pen", "price": 1.0},
        ],
        "payment_history": [
            {"transaction_type": "payment", "amount": 30.75, "payment_method_id": "p"}
        ],
    }
    returned = {"order_id": "#W1", "item_ids": ["1", "2"], "payment_method_id": "gift_card_9"}
    assert change_receipt("return_delivered_order_items", returned, order, order, {}) == (
        "return_delivered_order_items: order #W1 is return requested; "
        "refund $29.75 (Lamp, Mug) to gift_card_9"
    )
    exchanged = {**order, "status": "exchange requested"}
    request = {"exchange_price_difference": -3.5}
    assert change_receipt("exchange_delivered_order_items", {}, order, exchanged, request) == (
        "exchange_delivered_order_items: order #W1 is exchange requested; price difference -$3.50"
    )
    address = {
        "address1": "1 Main St",
        "address2": "",
        "city": "Dallas",
        "state": "TX",
        "zip": "75201",
        "country": "USA",
    }
    assert change_receipt("modify_user_address", {}, None, {"address": address}, {}) == (
        "modify_user_address: 1 Main St, Dallas, TX 75201, USA"
    )
