"""SYNTHETIC logistics: carrier events and return-shipping estimates that the store does not hold.

The retail database has tracking ids but no dates or carrier events. When a case or chargeback
gives no carrier events, ``synthetic_logistics`` makes them up *deterministically* from the order
id and the store's order status (delivered -> a delivery scan; processed -> in transit; pending
or cancelled -> not shipped), and marks them ``source="synthetic"``. They exist so the refund
agent can run end to end on the shared data; they are never real evidence, and a chargeback
packet shows them as synthetic.

The return-shipping estimate is a flat table per category times a cross-border factor, not a
carrier quote.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, timedelta

from pasar.apps.disputes.schemas import Logistics, LogisticsEvent, ShipmentStatus

CARRIERS = ("J&T Express", "Ninja Van", "SingPost", "Kerry Express", "USPS")
EPOCH = date(2024, 1, 1)  # synthetic order dates fall in the 300 days after this

# Estimated return shipping (USD) for one parcel of the category, within one country.
RETURN_SHIPPING_USD = {
    "electronics": 12.0,
    "appliances": 22.0,
    "apparel": 9.0,
    "personal_care": 6.0,
    "large_items": 45.0,
    "general": 10.0,
}
CROSS_BORDER_FACTOR = 2.5  # international return postage and customs paperwork


def order_rng(order_id: str, salt: str = "") -> random.Random:
    """A random generator seeded by the order id, so synthetic facts are the same every run."""
    digest = hashlib.sha256(f"{salt}:{order_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def status_from_order(order_status: str) -> ShipmentStatus:
    """The store's order status as a shipment status (processed orders are on their way)."""
    if order_status == "delivered":
        return "delivered"
    return "in_transit" if order_status == "processed" else "not_shipped"


def synthetic_logistics(
    order_id: str,
    *,
    tracking_ids: list[str],
    status: ShipmentStatus,
    cross_border: bool = False,
) -> Logistics:
    """Carrier events consistent with ``status``, dated deterministically from the order id."""
    rng = order_rng(order_id, "logistics")
    ordered = EPOCH + timedelta(days=rng.randrange(300))
    if status == "not_shipped" or not tracking_ids:
        return Logistics(status="not_shipped", source="synthetic")
    carrier = rng.choice(CARRIERS)
    shipped = ordered + timedelta(days=rng.randint(1, 3))
    transit_days = rng.randint(6, 14) if cross_border else rng.randint(2, 6)
    events = [
        LogisticsEvent(on=shipped, status="picked_up", location="seller warehouse"),
        LogisticsEvent(on=shipped + timedelta(days=1), status="in_transit", location="hub"),
    ]
    delivered_on = None
    if status == "delivered":
        delivered_on = shipped + timedelta(days=transit_days)
        events.append(LogisticsEvent(on=delivered_on, status="delivered", location="buyer address"))
    elif status == "lost":
        events.append(
            LogisticsEvent(
                on=shipped + timedelta(days=transit_days + 10),
                status="exception_lost",
                location="hub",
            )
        )
    return Logistics(
        carrier=carrier,
        tracking_ids=tracking_ids,
        status=status,
        shipped_on=shipped,
        delivered_on=delivered_on,
        events=events,
        source="synthetic",
    )


def estimate_return_shipping(category: str, *, cross_border: bool) -> float:
    base = RETURN_SHIPPING_USD.get(category, RETURN_SHIPPING_USD["general"])
    return round(base * (CROSS_BORDER_FACTOR if cross_border else 1.0), 2)
