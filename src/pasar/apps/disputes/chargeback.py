"""Chargeback evidence: what each card network expects per reason code, assembled from the store.

checklist = assemble_evidence(store, ChargebackRequest(...), policy)

Every item is either ``present`` with the facts and their source (store, the chargeback file,
the policy file) or ``missing`` with why; nothing is invented. Carrier events are taken only
from the chargeback file; if they were made by pasar's synthetic generator they say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pasar.apps.disputes.policy import PolicyConfig
from pasar.apps.disputes.schemas import ChargebackRequest, Checklist, EvidenceItem
from pasar.commerce.schemas import Order, User, order_record, user_record
from pasar.errors import PasarError
from pasar.store.db import Store


class UnknownReasonCodeError(PasarError, ValueError):
    """A network reason code the chargeback agent has no evidence checklist for."""


@dataclass(frozen=True)
class ReasonCode:
    network: str
    code: str
    title: str
    evidence: tuple[str, ...]  # evidence keys, in the order the letter argues them


REASON_CODES = {
    ("visa", "13.1"): ReasonCode(
        "visa",
        "13.1",
        "Merchandise/Services Not Received",
        (
            "order_receipt",
            "payment_record",
            "shipping_tracking",
            "delivery_confirmation",
            "customer_communications",
        ),
    ),
    ("visa", "13.3"): ReasonCode(
        "visa",
        "13.3",
        "Not as Described or Defective Merchandise/Services",
        (
            "order_receipt",
            "product_description",
            "payment_record",
            "delivery_confirmation",
            "refund_policy",
            "customer_communications",
        ),
    ),
    ("visa", "10.4"): ReasonCode(
        "visa",
        "10.4",
        "Other Fraud: Card-Absent Environment",
        (
            "order_receipt",
            "payment_record",
            "address_match",
            "delivery_confirmation",
            "prior_undisputed_orders",
            "device_and_ip",
        ),
    ),
    ("mastercard", "4853"): ReasonCode(
        "mastercard",
        "4853",
        "Cardholder Dispute (not received / not as described)",
        (
            "order_receipt",
            "payment_record",
            "shipping_tracking",
            "delivery_confirmation",
            "refund_policy",
            "customer_communications",
        ),
    ),
}


def reason_code(network: str, code: str) -> ReasonCode:
    found = REASON_CODES.get((network.lower(), code.strip()))
    if found is None:
        known = ", ".join(f"{n} {c}" for n, c in REASON_CODES)
        raise UnknownReasonCodeError(
            f"no evidence checklist for {network} reason code {code!r}; known: {known}"
        )
    return found


@dataclass
class Sources:
    """What the evidence builders read: the store's order and user, and the chargeback."""

    order: Order
    user: User
    other_orders: list[Order]
    request: ChargebackRequest
    policy: PolicyConfig


def _present(key: str, title: str, source: str, lines: list[str]) -> EvidenceItem:
    return EvidenceItem(key=key, title=title, status="present", source=source, lines=lines)


def _missing(key: str, title: str, why: str) -> EvidenceItem:
    return EvidenceItem(key=key, title=title, status="missing", source="missing", why_missing=why)


def _method(user: User, method_id: str) -> str:
    method = user.payment_methods.get(method_id)
    if method is None:
        return method_id
    if method.brand:
        return f"{method.brand} card ending {method.last_four} ({method_id})"
    return f"{method.source} ({method_id})"


def order_receipt(s: Sources) -> EvidenceItem:
    o, u, a = s.order, s.user, s.order.address
    lines = [
        f"Order {o.order_id}, status {o.status}",
        f"Customer {u.name.first_name} {u.name.last_name} <{u.email}>, account {u.user_id}",
        f"Ship to: {a.address1} {a.address2}, {a.city}, {a.state} {a.zip}, {a.country}",
        *(f"Item {i.item_id}: {i.name}, {i.price:.2f} USD" for i in o.items),
        f"Items total {sum(i.price for i in o.items):.2f} USD",
    ]
    return _present("order_receipt", "Order and receipt", "store (orders, order_items)", lines)


def payment_record(s: Sources) -> EvidenceItem:
    payments = s.order.payment_history
    if not payments:
        return _missing("payment_record", "Payment record", "the store has no payment on it")
    lines = [
        f"{p.transaction_type}: {p.amount:.2f} USD via " + _method(s.user, p.payment_method_id)
        for p in payments
    ]
    brands = {
        m.brand
        for p in payments
        if (m := s.user.payment_methods.get(p.payment_method_id)) and m.brand
    }
    if brands and s.request.network not in brands:
        lines.append(
            f"Note: the order was paid by {', '.join(sorted(brands))} card, not {s.request.network}"
        )
    lines.append(f"Net paid: {s.order.net_paid:.2f} USD")
    lines.append(f"Disputed amount: {s.request.amount:.2f} {s.request.currency}")
    return _present("payment_record", "Payment record", "store (payments, payment_methods)", lines)


def shipping_tracking(s: Sources) -> EvidenceItem:
    tracking = [(t, f.item_ids) for f in s.order.fulfillments for t in f.tracking_id]
    if not tracking:
        return _missing(
            "shipping_tracking", "Shipping and tracking", "the order has no fulfillment"
        )
    lines = [f"Tracking {t} for items {', '.join(items)}" for t, items in tracking]
    return _present("shipping_tracking", "Shipping and tracking", "store (fulfillments)", lines)


def delivery_confirmation(s: Sources) -> EvidenceItem:
    title = "Delivery confirmation"
    logistics = s.request.logistics
    delivered = [e for e in (logistics.events if logistics else []) if e.status == "delivered"]
    if logistics is None or not delivered:
        why = "no carrier delivery event in the chargeback file (add `logistics` from the carrier)"
        return _missing(
            "delivery_confirmation",
            title,
            f"{why}; the store's order status is "
            f"{s.order.status!r}, a merchant record, not a carrier confirmation",
        )
    source = (
        "SYNTHETIC carrier events (pasar's generator, demo only: not real evidence)"
        if logistics.source == "synthetic"
        else "carrier events (chargeback file)"
    )
    lines = [f"Carrier: {logistics.carrier or 'not named'}"]
    lines += [f"{e.on}: {e.status} at {e.location}" for e in logistics.events]
    a = s.order.address
    lines.append(f"Delivered to the order's address: {a.address1}, {a.city} {a.zip}")
    return _present("delivery_confirmation", title, source, lines)


def customer_communications(s: Sources) -> EvidenceItem:
    title = "Customer communications"
    if not s.request.communications:
        return _missing(
            "customer_communications",
            title,
            "no messages with the cardholder in the chargeback file",
        )
    lines = [f"[{n}] {m}" for n, m in enumerate(s.request.communications, 1)]
    return _present("customer_communications", title, "chargeback file", lines)


def refund_policy(s: Sources) -> EvidenceItem:
    title = "Refund policy shown at checkout"
    if not s.policy.refund_policy_text:
        return _missing("refund_policy", title, "the policy file has no refund_policy_text")
    return _present("refund_policy", title, "policy file", [s.policy.refund_policy_text])


def product_description(s: Sources) -> EvidenceItem:
    lines = [
        f"{i.name} ({i.item_id}): " + ", ".join(f"{k} {v}" for k, v in i.options.items())
        for i in s.order.items
    ]
    return _present("product_description", "Product description", "store (order_items)", lines)


def address_match(s: Sources) -> EvidenceItem:
    keys = ("address1", "address2", "city", "state", "zip", "country")
    billing, shipping = s.user.address.model_dump(), s.order.address.model_dump()
    same = all(billing[k] == shipping[k] for k in keys)
    lines = [
        "Address on the account: " + ", ".join(billing[k] for k in keys if billing[k]),
        "Shipping address of the order: " + ", ".join(shipping[k] for k in keys if shipping[k]),
        "The addresses match." if same else "The addresses differ.",
    ]
    return _present("address_match", "Account and shipping address", "store (users, orders)", lines)


def prior_undisputed_orders(s: Sources) -> EvidenceItem:
    title = "Prior undisputed orders (same account and payment method)"
    methods = {p.payment_method_id for p in s.order.payment_history}
    prior = [
        o
        for o in s.other_orders
        if o.status == "delivered"
        and not o.refunded
        and methods & {p.payment_method_id for p in o.payment_history}
    ]
    if not prior:
        return _missing(
            "prior_undisputed_orders",
            title,
            "the account has no other delivered, unrefunded order paid with the same method",
        )
    lines = [
        f"Order {o.order_id}: delivered, {sum(i.price for i in o.items):.2f} USD, "
        f"paid via {_method(s.user, o.payment_history[0].payment_method_id)}, no refund"
        for o in prior
    ]
    lines.append(
        "The store records no order dates, so the 120-365 day window of Visa Compelling "
        "Evidence 3.0 is not shown."
    )
    return _present("prior_undisputed_orders", title, "store (orders, payments)", lines)


def device_and_ip(s: Sources) -> EvidenceItem:
    return _missing(
        "device_and_ip", "Device id and IP address", "the store records no device or IP data"
    )


BUILDERS: dict[str, Callable[[Sources], EvidenceItem]] = {
    f.__name__: f
    for f in (
        order_receipt,
        payment_record,
        shipping_tracking,
        delivery_confirmation,
        customer_communications,
        refund_policy,
        product_description,
        address_match,
        prior_undisputed_orders,
        device_and_ip,
    )
}


def assemble_evidence(db: Store, request: ChargebackRequest, policy: PolicyConfig) -> Checklist:
    """The checklist for the request's reason code (unknown code or order: a clear error)."""
    code = reason_code(request.network, request.reason_code)
    order = order_record(db, order_id=request.order_id)
    user = user_record(db, user_id=order.user_id)
    others = [order_record(db, order_id=o) for o in user.orders if o != order.order_id]
    sources = Sources(order, user, others, request, policy)
    return Checklist(
        reason_code=code.code,
        network=code.network,
        title=code.title,
        items=[BUILDERS[key](sources) for key in code.evidence],
    )
