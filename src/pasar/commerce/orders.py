"""The retail rules, and the changes they allow: cancel, modify, return and exchange orders,
and change a user's address. Each function checks the rules, writes the store's rows in one
transaction and returns the order (or user) as the retail JSON shows it. The store holds the
rows and no rules; the Taskbot's tools, the property tests and any other caller change orders
only through here.

The rules follow tau2-bench's retail domain (``policy.md`` in ``../shared/data/retail``): only
a pending order can be cancelled or have its items changed; a delivered order can be returned or
exchanged; a new item must be an available variant of the same product; a gift card must cover
what it pays. Refunds to a gift card raise its balance at once.

The schema has no columns for a request's details (cancel reason, items to return or exchange,
price difference): the functions return them as ``request`` for the caller to record (the
interaction log keeps every tool call with its arguments).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from pasar.errors import NotFoundError, PasarError
from pasar.store.commerce import get_order, get_user
from pasar.store.db import Store
from pasar.store.schema import Order, OrderItem, Payment, PaymentMethod, User, Variant

CANCEL_REASONS = ("no longer needed", "ordered by mistake")


class OrderActionError(PasarError, ValueError):
    """A change the retail rules do not allow (wrong status, unknown item, short gift card)."""


def _order(session: Session, order_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise NotFoundError(f"no order with id {order_id!r} (order ids look like '#W0000000')")
    return order


def _pending_order(session: Session, order_id: str) -> Order:
    """An order that is still pending (its items may have been modified once)."""
    order = _order(session, order_id)
    if "pending" not in order.status:
        raise OrderActionError(f"order {order_id} is {order.status!r}: only pending orders")
    return order


def _method(session: Session, order: Order, payment_method_id: str) -> PaymentMethod:
    method = session.get(PaymentMethod, payment_method_id)
    if method is None or method.user_id != order.user_id:
        raise NotFoundError(
            f"payment method {payment_method_id!r} is not one of the user's payment methods"
        )
    return method


def _pay(session: Session, order: Order, kind: str, amount: Decimal, method: PaymentMethod) -> None:
    """Append a payment or refund to the order; a gift card's balance moves at once."""
    order.payments.append(
        Payment(
            position=len(order.payments),
            transaction_type=kind,
            amount=amount,
            payment_method_id=method.id,
        )
    )
    if method.source == "gift_card":
        balance = method.balance or Decimal(0)
        method.balance = balance + amount if kind == "refund" else balance - amount


def _check_gift_card(method: PaymentMethod, amount: Decimal) -> None:
    if method.source == "gift_card" and amount > 0 and (method.balance or 0) < amount:
        raise OrderActionError(
            f"gift card {method.id} has {method.balance} left, not enough for {amount}"
        )


def _matched_items(order: Order, item_ids: list[str]) -> list[OrderItem]:
    """The order's items named by ``item_ids`` (an id listed twice needs two such items)."""
    if not item_ids:
        raise OrderActionError("item_ids is empty: name at least one item of the order")
    wanted = Counter(item_ids)
    have = Counter(i.item_id for i in order.items)
    missing = [i for i, n in wanted.items() if have[i] < n]
    if missing:
        raise OrderActionError(f"items {missing} are not in order {order.id}")
    used: Counter[str] = Counter()
    matched = []
    for item in order.items:
        if used[item.item_id] < wanted[item.item_id]:
            used[item.item_id] += 1
            matched.append(item)
    return matched


def _new_variants(
    session: Session, items: list[OrderItem], item_ids: list[str], new_item_ids: list[str]
) -> list[tuple[OrderItem, Variant]]:
    """Pair each old item with its new variant: same product, available, a different option."""
    if len(item_ids) != len(new_item_ids):
        raise OrderActionError(
            f"{len(item_ids)} item_ids but {len(new_item_ids)} new_item_ids: give one new item "
            "per item"
        )
    by_id = {item.item_id: [i for i in items if i.item_id == item.item_id] for item in items}
    pairs = []
    for old_id, new_id in zip(item_ids, new_item_ids, strict=True):
        item = by_id[old_id].pop(0)
        variant = session.get(Variant, new_id)
        if variant is None or variant.product_id != item.product_id:
            raise OrderActionError(
                f"new item {new_id} is not a variant of {item.name} (product {item.product_id})"
            )
        if not variant.available:
            raise OrderActionError(f"new item {new_id} ({item.name}) is not available")
        if new_id == old_id:
            raise OrderActionError(f"new item {new_id} is the same as the old one")
        pairs.append((item, variant))
    return pairs


def net_paid_by_method(order: Order) -> dict[str, Decimal]:
    """What each payment method has paid on the order, net of refunds already made to it."""
    net: dict[str, Decimal] = {}
    for payment in order.payments:
        sign = 1 if payment.transaction_type == "payment" else -1
        net[payment.payment_method_id] = net.get(payment.payment_method_id, Decimal(0)) + (
            sign * payment.amount
        )
    return net


def cancel_pending_order(db: Store, *, order_id: str, reason: str) -> dict[str, Any]:
    """Cancel a pending order and refund exactly what is still paid on it: each method gets
    back what it paid net of refunds already made to it (after a payment switch the old method
    was refunded once already), and refunds made to other methods (an item swap's price
    difference) are taken off, so the refunds never exceed the payments."""
    if reason not in CANCEL_REASONS:
        raise OrderActionError(f"reason {reason!r} is not accepted; use one of {CANCEL_REASONS}")
    with db.session() as session, session.begin():
        order = _order(session, order_id)
        if order.status != "pending":
            raise OrderActionError(f"order {order_id} is {order.status!r}: only pending orders")
        net = net_paid_by_method(order)
        left = sum(net.values(), Decimal(0))  # still paid on the order, all methods together
        for method_id, amount in net.items():
            refund = min(amount, left)
            if refund > 0:
                _pay(session, order, "refund", refund, _method(session, order, method_id))
                left -= refund
        order.status = "cancelled"
    return {**get_order(db, order_id=order_id), "request": {"cancel_reason": reason}}


def modify_pending_order_address(
    db: Store,
    *,
    order_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
) -> dict[str, Any]:
    """Change where a pending order ships."""
    with db.session() as session, session.begin():
        order = _pending_order(session, order_id)
        order.address1, order.address2, order.city = address1, address2, city
        order.state, order.country, order.zip = state, country, zip
    return get_order(db, order_id=order_id)


def modify_pending_order_payment(
    db: Store, *, order_id: str, payment_method_id: str
) -> dict[str, Any]:
    """Pay a pending order with another of the user's methods; the old one is refunded."""
    with db.session() as session, session.begin():
        order = _pending_order(session, order_id)
        payments = order.payments
        if len(payments) != 1 or payments[0].transaction_type != "payment":
            raise OrderActionError(f"order {order_id} has more than one payment: cannot switch")
        old = _method(session, order, payments[0].payment_method_id)
        new = _method(session, order, payment_method_id)
        if new.id == old.id:
            raise OrderActionError(f"order {order_id} is already paid with {new.id}")
        amount = payments[0].amount
        _check_gift_card(new, amount)
        _pay(session, order, "payment", amount, new)
        _pay(session, order, "refund", amount, old)
    return get_order(db, order_id=order_id)


def modify_pending_order_items(
    db: Store,
    *,
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
) -> dict[str, Any]:
    """Swap items of a pending order for other variants; the price difference is paid or
    refunded with ``payment_method_id``. The order can then no longer be modified or cancelled."""
    with db.session() as session, session.begin():
        order = _order(session, order_id)
        if order.status != "pending":
            raise OrderActionError(
                f"order {order_id} is {order.status!r}: items can be modified once, while pending"
            )
        pairs = _new_variants(session, _matched_items(order, item_ids), item_ids, new_item_ids)
        method = _method(session, order, payment_method_id)
        difference = sum((v.price - i.price for i, v in pairs), Decimal(0))
        _check_gift_card(method, difference)
        _pay(session, order, "payment" if difference > 0 else "refund", abs(difference), method)
        for item, variant in pairs:
            item.item_id, item.price, item.options = variant.id, variant.price, variant.options
        order.status = "pending (item modified)"
    return get_order(db, order_id=order_id)


def return_delivered_order_items(
    db: Store, *, order_id: str, item_ids: list[str], payment_method_id: str
) -> dict[str, Any]:
    """Request a return of delivered items, refunded to the original method or a gift card."""
    with db.session() as session, session.begin():
        order = _order(session, order_id)
        if order.status != "delivered":
            raise OrderActionError(f"order {order_id} is {order.status!r}: only delivered orders")
        method = _method(session, order, payment_method_id)
        original = order.payments[0].payment_method_id if order.payments else None
        if method.id != original and method.source != "gift_card":
            raise OrderActionError(
                f"a refund goes to the original payment method ({original}) or a gift card, "
                f"not {method.id}"
            )
        _matched_items(order, item_ids)
        order.status = "return requested"
    request = {"return_items": sorted(item_ids), "return_payment_method_id": payment_method_id}
    return {**get_order(db, order_id=order_id), "request": request}


def exchange_delivered_order_items(
    db: Store,
    *,
    order_id: str,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
) -> dict[str, Any]:
    """Request an exchange of delivered items for other variants of the same products."""
    with db.session() as session, session.begin():
        order = _order(session, order_id)
        if order.status != "delivered":
            raise OrderActionError(f"order {order_id} is {order.status!r}: only delivered orders")
        pairs = _new_variants(session, _matched_items(order, item_ids), item_ids, new_item_ids)
        method = _method(session, order, payment_method_id)
        difference = sum((v.price - i.price for i, v in pairs), Decimal(0))
        _check_gift_card(method, difference)
        order.status = "exchange requested"
    request = {
        "exchange_items": sorted(item_ids),
        "exchange_new_items": sorted(new_item_ids),
        "exchange_payment_method_id": payment_method_id,
        "exchange_price_difference": float(difference),
    }
    return {**get_order(db, order_id=order_id), "request": request}


def modify_user_address(
    db: Store,
    *,
    user_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
) -> dict[str, Any]:
    """Change a user's default address (orders keep theirs)."""
    with db.session() as session, session.begin():
        user = session.get(User, user_id)
        if user is None:
            raise NotFoundError(f"no user with id {user_id!r}")
        user.address1, user.address2, user.city = address1, address2, city
        user.state, user.country, user.zip = state, country, zip
    return get_user(db, user_id=user_id)
