"""Refund cases: a CASE.json joined with the store's order, payments and buyer history.

case = build_case(store, RefundRequest.model_validate_json(text), load_policy())

The order, its items, payments and tracking ids come from the store; carrier events come from
the request, or else from the SYNTHETIC generator in ``logistics`` (marked as such); the return
shipping cost from the request, or else the category estimate.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pasar.apps.disputes.logistics import (
    estimate_return_shipping,
    status_from_order,
    synthetic_logistics,
)
from pasar.apps.disputes.policy import PolicyConfig
from pasar.apps.disputes.schemas import (
    BuyerHistory,
    Logistics,
    RefundCase,
    RefundRequest,
)
from pasar.commerce.schemas import Order, OrderItem, order_record, user_record
from pasar.errors import MissingInputError, NotFoundError
from pasar.languages import detect_language
from pasar.store.commerce import commerce_counts
from pasar.store.db import Store

STORE_CURRENCY = "USD"  # the retail database's prices are US dollars


def read_json_input(path: Path, model: type[Any], what: str) -> Any:
    """Parse a JSON input file into a pydantic model; errors name the file and the field."""
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise MissingInputError(f"{path}: no such {what} file") from exc
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ValueError(
            f"{path}: {where}: {first['msg']} (got {json.dumps(first.get('input'))[:80]}); "
            f"see examples/disputes/ for a valid {what}"
        ) from exc


def disputed_items(order: Order, item_ids: list[str] | None) -> list[OrderItem]:
    """The order's lines a request disputes. Each line can be disputed once: an id named more
    often than the order holds it is refused, so repeating an id cannot multiply a refund."""
    if item_ids is None:
        return list(order.items)
    by_id = {i.item_id: i for i in order.items}
    unknown = [i for i in item_ids if i not in by_id]
    if unknown:
        raise ValueError(
            f"order {order.order_id} has no items {unknown}; its items are {sorted(by_id)}"
        )
    held = Counter(i.item_id for i in order.items)
    repeated = {i: n for i, n in Counter(item_ids).items() if n > held[i]}
    if repeated:
        raise ValueError(
            f"item_ids names {', '.join(f'{i} {n} times' for i, n in repeated.items())}, but "
            f"order {order.order_id} holds each of them "
            f"{' / '.join(str(held[i]) for i in repeated)} time(s): name each disputed item once"
        )
    return [by_id[i] for i in item_ids]


def caller_logistics(
    request: RefundRequest, tracking: list[str], store_status: str, trusted: bool
) -> Logistics | None:
    """The caller's carrier events, when they may be used: only from a trusted caller, only
    for this order's tracking numbers, and never saying more than the store knows (an order
    the store holds as not shipped cannot have been delivered). Facts the store holds win."""
    given = request.logistics
    if given is None or not trusted:
        return None
    if not set(given.tracking_ids) <= set(tracking):
        return None
    if store_status == "not_shipped" and given.status != "not_shipped":
        return None
    return given


def case_from_order(
    order: Order,
    *,
    user_orders: int,
    request: RefundRequest,
    policy: PolicyConfig,
    case_id: str,
    trusted: bool = True,
) -> RefundCase:
    """Join a request with an order.

    ``trusted`` says whether the caller's own facts (carrier events, return shipping cost,
    prior-dispute count) may be used: the CLI's operator, a server without keys or an admin
    key. A buyer-facing caller's facts are ignored; the store's and pasar's estimates stand."""
    items = disputed_items(order, request.item_ids)
    top = max(items, key=lambda i: i.price)  # the category of the most valuable item rules
    category = policy.category_of(top.name)
    cross_border = request.seller.country.upper() not in ("US", "USA")
    tracking = order.tracking_ids
    store_status = status_from_order(order.status)
    logistics = caller_logistics(request, tracking, store_status, trusted) or synthetic_logistics(
        order.order_id,
        tracking_ids=tracking,
        status=store_status,
        cross_border=cross_border,
    )
    if request.return_shipping_cost is not None and trusted:
        shipping, shipping_source = request.return_shipping_cost, "input"
    else:
        shipping = estimate_return_shipping(category, cross_border=cross_border)
        shipping_source = "estimate"
    text = " ".join(request.messages)
    return RefundCase(
        case_id=case_id,
        order_id=order.order_id,
        user_id=order.user_id,
        reason=request.reason,
        messages=request.messages,
        photos=len(request.photos),
        item_ids=[i.item_id for i in items],
        product_names=[i.name for i in items],
        category=category,
        currency=STORE_CURRENCY,
        paid_total=order.net_paid,
        item_value=round(sum(i.price for i in items), 2),
        return_shipping_cost=shipping,
        return_shipping_source=shipping_source,
        logistics=logistics,
        buyer=BuyerHistory(
            orders=max(user_orders - 1, 0),
            prior_disputes=(request.buyer_prior_disputes or 0) if trusted else 0,
        ),
        seller=request.seller,
        language=detect_language(text) if text.strip() else None,
    )


def build_case(
    db: Store, request: RefundRequest, policy: PolicyConfig, *, trusted: bool = True
) -> RefundCase:
    """The case for a request, read from the store (unknown order id: NotFoundError, which
    says how to import the data when the store holds no orders at all)."""
    try:
        order = order_record(db, order_id=request.order_id)
    except NotFoundError as exc:
        if commerce_counts(db)["orders"] == 0:
            raise NotFoundError(
                f"{exc}: the store holds no orders at all. Import the retail data first: "
                "pasar store import ../shared/data/retail/db.json"
            ) from exc
        raise
    user = user_record(db, user_id=order.user_id)
    return case_from_order(
        order,
        user_orders=len(user.orders),
        request=request,
        policy=policy,
        case_id=request.case_id or f"case-{order.order_id.lstrip('#')}",
        trusted=trusted,
    )
