"""Money cannot be invented: random sequences of order actions on the real retail database.

For every generated sequence on a pending order (switch the payment method, swap items, change
the address, cancel), whatever succeeds or is refused:
- the order's refunds never exceed its payments, and a cancelled order refunded exactly them
  (an item swap may refund its price difference to any of the user's methods, as tau2-bench's
  policy allows, so this is a total over methods);
- every gift card's balance moved by exactly its refunds minus its payments;
- a refused action changes nothing (all or nothing).

CI runs a few hundred sequences; ``PASAR_PROPERTY_EXAMPLES=10000`` runs the benchmark-size run
(docs/security.md).
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest
from conftest import SHARED_DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pasar.apps.taskbot.environment import episode_store, load_template
from pasar.commerce import orders
from pasar.errors import PasarError
from pasar.store.commerce import get_order, get_user
from pasar.store.db import Store

EXAMPLES = int(os.environ.get("PASAR_PROPERTY_EXAMPLES", "300"))


@pytest.fixture(scope="module")
def template() -> Store:
    return load_template(SHARED_DATA / "retail" / "db.json")


@pytest.fixture(scope="module")
def pending(template: Store) -> list[dict[str, Any]]:
    """Pending orders whose user has another payment method to switch to."""
    orders = []
    for order_id in sorted(order_ids(template)):
        order = get_order(template, order_id=order_id)
        methods = get_user(template, user_id=order["user_id"])["payment_methods"]
        if order["status"] == "pending" and len(methods) > 1:
            orders.append(order)
    return orders[:40]


def order_ids(db: Store) -> list[str]:
    from sqlalchemy import select

    from pasar.store.schema import Order

    with db.session() as session:
        return list(session.scalars(select(Order.id).where(Order.status == "pending")))


def money_state(db: Store, order_id: str) -> dict[str, Any]:
    order = get_order(db, order_id=order_id)
    user = get_user(db, user_id=order["user_id"])
    return {
        "order": order,
        "gift_cards": {
            m_id: Decimal(str(m.get("balance", 0)))
            for m_id, m in user["payment_methods"].items()
            if m["source"] == "gift_card"
        },
    }


ACTION = st.sampled_from(["switch", "items", "address", "cancel"])


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), actions=st.lists(ACTION, min_size=1, max_size=6))
def test_order_actions_never_invent_money(template, pending, data, actions) -> None:
    start = data.draw(st.sampled_from(pending))
    db = episode_store(template)
    order_id, user_id = start["order_id"], start["user_id"]
    before = money_state(db, order_id)
    methods = sorted(get_user(db, user_id=user_id)["payment_methods"])
    for action in actions:
        state = money_state(db, order_id)
        try:
            if action == "switch":
                orders.modify_pending_order_payment(
                    db, order_id=order_id, payment_method_id=data.draw(st.sampled_from(methods))
                )
            elif action == "items":
                item = data.draw(st.sampled_from(state["order"]["items"]))
                product = template_variants(db, item["product_id"])
                orders.modify_pending_order_items(
                    db,
                    order_id=order_id,
                    item_ids=[item["item_id"]],
                    new_item_ids=[data.draw(st.sampled_from(product))],
                    payment_method_id=data.draw(st.sampled_from(methods)),
                )
            elif action == "address":
                orders.modify_pending_order_address(
                    db,
                    order_id=order_id,
                    address1="1 Jalan Sudirman",
                    address2="",
                    city="Jakarta",
                    state="JK",
                    country="ID",
                    zip="10220",
                )
            else:
                orders.cancel_pending_order(
                    db,
                    order_id=order_id,
                    reason=data.draw(st.sampled_from(orders.CANCEL_REASONS)),
                )
        except PasarError:
            assert money_state(db, order_id) == state, f"a refused {action} changed the store"
    after = money_state(db, order_id)
    history = after["order"]["payment_history"]
    paid: dict[str, Decimal] = {}
    refunded: dict[str, Decimal] = {}
    for p in history:
        book = paid if p["transaction_type"] == "payment" else refunded
        book[p["payment_method_id"]] = book.get(p["payment_method_id"], Decimal(0)) + Decimal(
            str(p["amount"])
        )
    total_paid, total_refunded = sum(paid.values(), Decimal(0)), sum(refunded.values(), Decimal(0))
    assert total_refunded <= total_paid, history
    if after["order"]["status"] == "cancelled":  # everything paid came back, nothing more
        assert total_refunded == total_paid, history
    # A gift card moves by exactly what this sequence refunded to it minus what it charged.
    added = history[len(before["order"]["payment_history"]) :]
    for card, balance in after["gift_cards"].items():
        moved = sum(
            (
                Decimal(str(p["amount"])) * (1 if p["transaction_type"] == "refund" else -1)
                for p in added
                if p["payment_method_id"] == card
            ),
            Decimal(0),
        )
        assert balance - before["gift_cards"][card] == moved, (card, history)
    db.engine.dispose()


def template_variants(db: Store, product_id: str) -> list[str]:
    from pasar.store.commerce import get_product

    return sorted(get_product(db, product_id=product_id)["variants"])


def test_cancel_after_a_payment_switch_refunds_the_charge_once(template, pending) -> None:
    """Seen in review: switch, then cancel, refunded every payment row, the switch's refund
    included: three refunds for one charge."""
    db = episode_store(template)
    order = pending[0]
    methods = get_user(db, user_id=order["user_id"])["payment_methods"]
    paid_with = order["payment_history"][0]["payment_method_id"]
    other = next(
        m for m in sorted(methods) if m != paid_with and methods[m]["source"] != "gift_card"
    )
    orders.modify_pending_order_payment(db, order_id=order["order_id"], payment_method_id=other)
    cancelled = orders.cancel_pending_order(
        db, order_id=order["order_id"], reason="no longer needed"
    )
    history = cancelled["payment_history"]
    charge = Decimal(str(order["payment_history"][0]["amount"]))
    refunds = [p for p in history if p["transaction_type"] == "refund"]
    assert len(refunds) == 2  # the switch's refund to the old method, the cancel's to the new
    assert sum(Decimal(str(p["amount"])) for p in refunds) == charge * 2  # = the two payments
    assert {p["payment_method_id"] for p in refunds} == {paid_with, other}
