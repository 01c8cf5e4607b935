"""Pydantic schemas of the disputes app: refund cases and decisions, chargebacks and evidence.

Inputs (``RefundRequest``, ``ChargebackRequest``) are what a user writes in CASE.json /
CHARGEBACK.json; they are checked here, so a negative or non-numeric amount is refused with the
field named. ``RefundCase`` is a request joined with the store's order, payment and history.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat

Reason = Literal["not_received", "damaged", "not_as_described", "wrong_item", "changed_mind"]
REASONS: tuple[Reason, ...] = (
    "not_received",
    "damaged",
    "not_as_described",
    "wrong_item",
    "changed_mind",
)
RefundType = Literal["full", "partial", "none"]
REFUND_TYPES: tuple[RefundType, ...] = ("full", "partial", "none")
ShipmentStatus = Literal["not_shipped", "in_transit", "delivered", "lost"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LogisticsEvent(Strict):
    on: date
    status: str = Field(description="Carrier status: picked_up, in_transit, out_for_delivery, ...")
    location: str = ""


class Logistics(Strict):
    """Shipping of the disputed items. ``source`` says where the events came from: ``carrier``
    (given in the input) or ``synthetic`` (pasar's documented generator; never real evidence)."""

    carrier: str | None = None
    tracking_ids: list[str] = Field(default_factory=list)
    status: ShipmentStatus = "not_shipped"
    shipped_on: date | None = None
    delivered_on: date | None = None
    events: list[LogisticsEvent] = Field(default_factory=list)
    source: Literal["carrier", "synthetic", "none"] = "none"


class BuyerHistory(Strict):
    orders: int = Field(0, ge=0, description="Orders the buyer placed before, from the store.")
    prior_disputes: int = Field(0, ge=0, description="Disputes the buyer opened before.")


class SellerHistory(Strict):
    country: str = "US"
    dispute_rate: float = Field(
        0.02, ge=0, le=1, description="Share of the seller's orders disputed."
    )


class RefundRequest(Strict):
    """CASE.json: what the buyer asked and the evidence not in the store."""

    order_id: str
    reason: Reason
    messages: list[str] = Field(default_factory=list, description="Buyer messages, any language.")
    case_id: str | None = None
    item_ids: list[str] | None = Field(None, description="Disputed items; default: all items.")
    photos: list[str] = Field(default_factory=list, description="Evidence photo paths or URLs.")
    logistics: Logistics | None = Field(None, description="Carrier events; default: synthetic.")
    return_shipping_cost: NonNegativeFloat | None = Field(
        None, description="Estimated return shipping; default: estimated from the category."
    )
    buyer_prior_disputes: int | None = Field(None, ge=0)
    seller: SellerHistory = Field(default_factory=SellerHistory)


class RefundCase(Strict):
    """Everything a decision may use: the request joined with the store."""

    case_id: str
    order_id: str
    user_id: str
    reason: Reason
    messages: list[str]
    photos: int = Field(ge=0)
    item_ids: list[str]
    product_names: list[str]
    category: str
    currency: str
    paid_total: NonNegativeFloat = Field(description="Net paid on the order (payments - refunds).")
    item_value: NonNegativeFloat = Field(description="Price paid for the disputed items.")
    return_shipping_cost: NonNegativeFloat
    return_shipping_source: Literal["input", "estimate"]
    logistics: Logistics
    buyer: BuyerHistory
    seller: SellerHistory
    language: str | None = Field(None, description="Language of the buyer's messages (lingua).")


class Proposal(BaseModel):
    """What a model (or the rules) suggests, before the policy layer. Any values are accepted
    here on purpose: the policy layer, not the proposer, guarantees the invariants."""

    return_required: bool
    refund_type: RefundType
    refund_amount: float
    confidence: float = 1.0


class Citation(Strict):
    evidence: str = Field(description="Where the fact comes from: store.order, logistics, ...")
    fact: str


class RefundDecision(Strict):
    case_id: str
    order_id: str
    status: Literal["decided", "needs_human"]
    return_required: bool
    refund_type: RefundType
    refund_amount: float
    currency: str
    confidence: float
    decided_by: Literal["model", "rules"]
    policy_adjustments: list[str]
    rationale: list[Citation]
    reply: str
    reply_language: str
    reply_source: Literal["template"] = "template"
    proposal: Proposal


# -- chargebacks -------------------------------------------------------------------------------


class ChargebackRequest(Strict):
    """CHARGEBACK.json: the issuer's notice, plus evidence the merchant holds outside the store."""

    order_id: str
    network: Literal["visa", "mastercard"]
    reason_code: str
    amount: PositiveFloat
    currency: str = "USD"
    transaction_date: date | None = None
    dispute_date: date
    case_number: str | None = None
    logistics: Logistics | None = Field(None, description="Carrier events for the order.")
    communications: list[str] = Field(
        default_factory=list, description="Messages exchanged with the cardholder."
    )
    merchant_name: str = "pasar marketplace"


class EvidenceItem(Strict):
    key: str
    title: str
    status: Literal["present", "missing"]
    source: str = Field(description="store, input, policy file, synthetic generator, or missing")
    lines: list[str] = Field(default_factory=list, description="The facts, one per line.")
    why_missing: str = ""


class Checklist(Strict):
    reason_code: str
    network: str
    title: str
    items: list[EvidenceItem]

    @property
    def missing(self) -> list[str]:
        return [i.key for i in self.items if i.status == "missing"]
