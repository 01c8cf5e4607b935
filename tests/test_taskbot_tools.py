"""Each taskbot tool on the real retail database: the result, and the store's state after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from pasar.apps.taskbot.environment import Environment, episode_store, load_template
from pasar.apps.taskbot.tools import TOOLS
from pasar.commerce.orders import OrderActionError
from pasar.errors import NotFoundError
from pasar.store.commerce import get_order, get_user
from pasar.store.db import Store

DB = SHARED_DATA / "retail" / "db.json"


@pytest.fixture(scope="module")
def template() -> Store:
    return load_template(DB)


@pytest.fixture
def env(template: Store) -> Environment:
    return Environment(episode_store(template))


def test_every_tool_has_a_schema_from_its_docstring() -> None:
    assert len(TOOLS) == 16
    schema = TOOLS["cancel_pending_order"].schema()["function"]
    assert schema["description"].startswith("Cancel a pending order")
    reason = schema["parameters"]["properties"]["reason"]
    assert reason["enum"] == ["no longer needed", "ordered by mistake"]
    assert "'#W' and 7 digits" in schema["parameters"]["properties"]["order_id"]["description"]
    assert {t.kind for t in TOOLS.values()} == {"read", "write"}
    assert sum(t.kind == "write" for t in TOOLS.values()) == 7


def test_episode_copies_are_independent(template: Store, env: Environment) -> None:
    env.execute("cancel_pending_order", {"order_id": "#W3579467", "reason": "no longer needed"})
    assert get_order(env.db, order_id="#W3579467")["status"] == "cancelled"
    assert get_order(template, order_id="#W3579467")["status"] == "pending"
    assert get_order(episode_store(template), order_id="#W3579467")["status"] == "pending"


def test_read_tools(env: Environment) -> None:
    assert env.execute("find_user_id_by_email", {"email": "Yusuf.Khan7390@example.com"}) == (
        "yusuf_khan_7091"
    )
    assert (
        env.execute(
            "find_user_id_by_name_zip",
            {"first_name": "yusuf", "last_name": "Rossi", "zip": "19122"},
        )
        == "yusuf_rossi_9620"
    )
    user = env.execute("get_user_details", {"user_id": "yusuf_khan_7091"})
    assert user["orders"] and "paypal_5796936" in user["payment_methods"]
    order = env.execute("get_order_details", {"order_id": "#W3579467"})
    assert order["status"] == "pending" and order["items"][0]["name"] == "Electric Kettle"
    product = env.execute("get_product_details", {"product_id": "1075968781"})
    assert product["name"] == "Electric Kettle" and "2698416822" in product["variants"]
    item = env.execute("get_item_details", {"item_id": "2698416822"})
    assert item == {
        "item_id": "2698416822",
        "product_id": "1075968781",
        "options": {"capacity": "1.5L", "material": "plastic", "color": "white"},
        "available": True,
        "price": 149.45,
    }
    types = env.execute("list_all_product_types", {})
    assert len(types) == 50 and types["Electric Kettle"] == "1075968781"
    assert env.execute("calculate", {"expression": "(149.45 - 145.48) * 2"}) == 7.94
    assert env.execute("transfer_to_human_agents", {"summary": "warranty"}) == "Transfer successful"
    with pytest.raises(ValueError, match="should match pattern"):  # held by its schema, too
        env.execute("calculate", {"expression": "__import__('os')"})
    with pytest.raises(ValueError, match="only numbers"):
        env.execute("calculate", {"expression": "9 ** 9 ** 9"})
    with pytest.raises(NotFoundError):
        env.execute("get_order_details", {"order_id": "#W0000000"})


def test_cancel_refunds_to_a_gift_card_at_once(env: Environment) -> None:
    before = get_user(env.db, user_id="aarav_anderson_8794")["payment_methods"]["gift_card_7245904"]
    env.execute("cancel_pending_order", {"order_id": "#W9300146", "reason": "ordered by mistake"})
    order = get_order(env.db, order_id="#W9300146")
    assert order["status"] == "cancelled"
    assert order["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": 153.23,
        "payment_method_id": "gift_card_7245904",
    }
    after = get_user(env.db, user_id="aarav_anderson_8794")["payment_methods"]["gift_card_7245904"]
    assert after["balance"] == pytest.approx(before["balance"] + 153.23)
    assert env.requests["#W9300146"] == {"cancel_reason": "ordered by mistake"}
    with pytest.raises(OrderActionError, match="only pending"):
        env.execute("cancel_pending_order", {"order_id": "#W9300146", "reason": "no longer needed"})


def test_cancel_reason_must_be_one_of_two(env: Environment) -> None:
    with pytest.raises(ValueError, match="no longer needed"):
        env.execute("cancel_pending_order", {"order_id": "#W3579467", "reason": "too expensive"})
    assert get_order(env.db, order_id="#W3579467")["status"] == "pending"


def test_modify_order_address(env: Environment) -> None:
    address = {
        "address1": "1 Main St",
        "address2": "",
        "city": "Austin",
        "state": "TX",
        "country": "USA",
        "zip": "78701",
    }
    env.execute("modify_pending_order_address", {"order_id": "#W1130240", **address})
    assert get_order(env.db, order_id="#W1130240")["address"] == address
    with pytest.raises(OrderActionError):  # a delivered order
        env.execute("modify_pending_order_address", {"order_id": "#W6798117", **address})


def test_modify_payment_moves_gift_card_balance(env: Environment) -> None:
    env.execute(
        "modify_pending_order_payment",
        {"order_id": "#W1080318", "payment_method_id": "gift_card_3749819"},
    )
    order = get_order(env.db, order_id="#W1080318")
    assert order["payment_history"][1:] == [
        {"transaction_type": "payment", "amount": 53.43, "payment_method_id": "gift_card_3749819"},
        {"transaction_type": "refund", "amount": 53.43, "payment_method_id": "credit_card_3577130"},
    ]
    card = get_user(env.db, user_id="omar_kim_3528")["payment_methods"]["gift_card_3749819"]
    assert card["balance"] == pytest.approx(91.0 - 53.43)
    with pytest.raises(OrderActionError, match="more than one payment"):
        env.execute(
            "modify_pending_order_payment",
            {"order_id": "#W1080318", "payment_method_id": "credit_card_3577130"},
        )


def test_modify_payment_refuses_a_short_gift_card(env: Environment) -> None:
    with pytest.raises(OrderActionError, match="not enough"):
        env.execute(
            "modify_pending_order_payment",
            {"order_id": "#W6030855", "payment_method_id": "gift_card_5372803"},
        )
    assert len(get_order(env.db, order_id="#W6030855")["payment_history"]) == 1


def test_modify_items_swaps_variant_and_charges_difference(env: Environment) -> None:
    env.execute(
        "modify_pending_order_items",
        {
            "order_id": "#W3579467",
            "item_ids": ["5428723833"],
            "new_item_ids": ["9624127908"],
            "payment_method_id": "paypal_5796936",
        },
    )
    order = get_order(env.db, order_id="#W3579467")
    assert order["status"] == "pending (item modified)"
    assert order["items"][0]["item_id"] == "9624127908" and order["items"][0]["price"] == 158.9
    assert order["items"][0]["options"]["color"] == "silver"
    assert order["payment_history"][-1] == {
        "transaction_type": "payment",
        "amount": 13.42,
        "payment_method_id": "paypal_5796936",
    }


def test_modify_items_argument_rules(env: Environment) -> None:
    base = {"order_id": "#W3579467", "payment_method_id": "paypal_5796936"}
    with pytest.raises(OrderActionError, match="not a variant"):  # another product
        env.execute(
            "modify_pending_order_items",
            {**base, "item_ids": ["5428723833"], "new_item_ids": ["2635605237"]},
        )
    with pytest.raises(OrderActionError, match="not in order"):
        env.execute(
            "modify_pending_order_items",
            {**base, "item_ids": ["2698416822"], "new_item_ids": ["9624127908"]},
        )
    with pytest.raises(NotFoundError, match="payment method"):
        env.execute(
            "modify_pending_order_items",
            {
                **base,
                "item_ids": ["5428723833"],
                "new_item_ids": ["9624127908"],
                "payment_method_id": "paypal_9734841",
            },
        )
    assert get_order(env.db, order_id="#W3579467")["status"] == "pending"


def test_modify_user_address(env: Environment) -> None:
    address = {
        "address1": "445 Maple Avenue",
        "address2": "Apt 12",
        "city": "Austin",
        "state": "TX",
        "country": "USA",
        "zip": "78701",
    }
    env.execute("modify_user_address", {"user_id": "omar_muller_8833", **address})
    assert get_user(env.db, user_id="omar_muller_8833")["address"] == address


def test_return_to_original_method_or_gift_card_only(env: Environment) -> None:
    with pytest.raises(OrderActionError, match="original payment method"):
        env.execute(
            "return_delivered_order_items",
            {
                "order_id": "#W2787996",
                "item_ids": ["9354168549"],
                "payment_method_id": "credit_card_7017098",
            },
        )
    env.execute(
        "return_delivered_order_items",
        {
            "order_id": "#W6798117",
            "item_ids": ["1706622510"],
            "payment_method_id": "paypal_9734841",
        },
    )
    assert get_order(env.db, order_id="#W6798117")["status"] == "return requested"
    assert env.requests["#W6798117"] == {
        "return_items": ["1706622510"],
        "return_payment_method_id": "paypal_9734841",
    }


def test_exchange_records_the_request(env: Environment) -> None:
    env.execute(
        "exchange_delivered_order_items",
        {
            "order_id": "#W6798117",
            "item_ids": ["8538875209"],
            "new_item_ids": ["4579334072"],
            "payment_method_id": "paypal_9734841",
        },
    )
    order = get_order(env.db, order_id="#W6798117")
    assert order["status"] == "exchange requested"
    assert order["items"][0]["item_id"] == "8538875209"  # items change when the exchange ships
    assert env.requests["#W6798117"]["exchange_price_difference"] == pytest.approx(9.72)
    with pytest.raises(OrderActionError, match="only delivered"):  # once per order
        env.execute(
            "exchange_delivered_order_items",
            {
                "order_id": "#W6798117",
                "item_ids": ["1706622510"],
                "new_item_ids": ["2860956907"],
                "payment_method_id": "paypal_9734841",
            },
        )


def test_tool_call_errors_become_observations(env: Environment) -> None:
    unknown = env.call("delete_everything", {})
    assert unknown.error and "unknown tool" in unknown.content
    env.user_says("I'm yusuf.khan7390@example.com; orders #W3579467 and #W0000000")
    env.call("find_user_id_by_email", {"email": "yusuf.khan7390@example.com"})
    bad = env.call("get_order_details", {"order": "#W3579467"})
    assert bad.error and not bad.refused and "order_id" in bad.content
    missing = env.call("get_order_details", {"order_id": "#W0000000"})
    assert missing.error and "no order" in missing.content
    ok = env.call("get_order_details", {"order_id": "#W3579467"})
    assert not ok.error and json.loads(ok.content)["order_id"] == "#W3579467"


def test_store_import_is_what_episodes_start_from() -> None:
    data = json.loads(Path(DB).read_text())
    template = load_template(DB)
    from pasar.store.commerce import export_retail

    assert export_retail(episode_store(template)) == data


def test_an_order_id_is_read_in_the_stores_form(template: Store) -> None:
    """'W1787190' and '1787190' are '#W1787190' (the 1.5B dropped the '#' or the 'W' and got
    "no order"); the schema's pattern holds constrained decoding to that form."""
    from pasar.apps.taskbot.tools import order_id_as_stored

    assert order_id_as_stored("W1787190") == order_id_as_stored(" #w1787190") == "#W1787190"
    assert order_id_as_stored("1787190") == "#W1787190"
    assert order_id_as_stored("W17") == "W17" and order_id_as_stored(5) == 5
    parameters = TOOLS["get_order_details"].schema()["function"]["parameters"]
    assert parameters["properties"]["order_id"]["pattern"] == "^#W[0-9]{7}$"
    env = Environment(episode_store(template))
    env.user_says("My email is yusuf.khan7390@example.com, order W1787190")
    env.call("find_user_id_by_email", {"email": "yusuf.khan7390@example.com"})
    seen = env.call("get_order_details", {"order_id": "W1787190"})  # said without '#'
    assert not seen.error and json.loads(seen.content)["order_id"] == "#W1787190"
    assert env.calls[-1].arguments == {"order_id": "#W1787190"}
    bad = env.call("get_order_details", {"order_id": "W17"})
    assert bad.error and "order_id" in bad.content and "#W[0-9]{7}" in bad.content
