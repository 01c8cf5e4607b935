"""SYNTHETIC refund history: realistic cases built from the retail store's orders, decided by
simulated human agents. No public data of real refund decisions exists; every record this
module writes carries ``"synthetic": true``.

How a record is made (all draws from one seeded generator, so a seed gives the same file):

1. an order with a tracking id is drawn from the store (delivered orders; for "not received"
   also orders still in transit), and one of its items is disputed;
2. the true problem is drawn: not received 20%, damaged 25%, not as described 20%, wrong item
   10%, changed mind 25%; damaged / not as described are minor (55%) or major (45%);
3. the buyer's language (en 25%, id 25%, th 15%, vi 15%, ms 10%, tl 10%) and messages: one
   sentence describing the true problem in that language (``texts.BUYER_MESSAGES``), a follow-up
   (40%), and a demand for more money (10%) that agents ignore;
4. the selected reason is the true one, except that 35% of change-of-mind buyers select
   "damaged" or "not as described" (to avoid restocking fees) while their message says otherwise;
5. the seller's country (cross-border unless US), the return shipping estimate with +-20%
   noise, the buyer's prior disputes (0: 70%, 1: 15%, 2: 8%, 3-5: 7%), evidence photos;
   carrier events from the synthetic logistics generator (for "not received": delivered 40%,
   lost 30%, stuck in transit 30%);
6. one of five agents decides with ``rules.rule_proposal`` on the *true* reason and severity,
   with judgment (goodwill under 100 USD, no goodwill or partial refunds for buyers with 3+
   prior disputes), then their habit: agents differ in partial-refund generosity (-5 to +10
   points), partial shares get +-3 points of noise rounded to 5 points, and 6% of decisions are
   replaced by a random one (disagreement). The policy layer bounds the result, as it does for
   the model.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from pasar.apps.disputes.cases import case_from_order
from pasar.apps.disputes.logistics import synthetic_logistics
from pasar.apps.disputes.policy import PolicyConfig, apply_policy
from pasar.apps.disputes.rules import Severity, rule_proposal
from pasar.apps.disputes.schemas import (
    REFUND_TYPES,
    Proposal,
    Reason,
    RefundCase,
    RefundRequest,
    SellerHistory,
    ShipmentStatus,
)
from pasar.apps.disputes.texts import BUYER_MESSAGES
from pasar.commerce.schemas import orders_of

TRUE_REASONS: dict[Reason, float] = {
    "not_received": 0.20,
    "damaged": 0.25,
    "not_as_described": 0.20,
    "wrong_item": 0.10,
    "changed_mind": 0.25,
}
LANGUAGE_WEIGHTS = {"en": 0.25, "id": 0.25, "th": 0.15, "vi": 0.15, "ms": 0.10, "tl": 0.10}
SELLER_COUNTRIES = ("US", "SG", "ID", "TH", "VN", "MY", "PH", "CN")
AGENT_GENEROSITY = (-0.05, 0.0, 0.0, 0.05, 0.10)  # added to partial-refund shares
RANDOM_DECISION_RATE = 0.06


def _pick(rng: random.Random, weights: dict[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _messages(rng: random.Random, lang: str, key: str) -> list[str]:
    pool = BUYER_MESSAGES[lang]
    messages = [rng.choice(pool[key])]
    if rng.random() < 0.4:
        messages.append(rng.choice(pool["follow_up"]))
    if rng.random() < 0.1:
        messages.append(rng.choice(pool["demand"]))
    return messages


def _agent_decision(
    rng: random.Random,
    case: RefundCase,
    policy: PolicyConfig,
    *,
    agent: int,
    reason: Reason,
    severity: Severity | None,
) -> tuple[Proposal, bool]:
    """The simulated agent's proposal, and whether it was a random (disagreeing) one."""
    if rng.random() < RANDOM_DECISION_RATE:
        share = rng.choice((0.0, 0.25, 0.5, 1.0))
        return Proposal(
            return_required=rng.random() < 0.5,
            refund_type=rng.choice(REFUND_TYPES),
            refund_amount=case.item_value * share,
        ), True
    proposal = rule_proposal(case, policy, reason=reason, severity=severity, judgment=True)
    if proposal.refund_type == "partial" and case.item_value > 0:
        share = proposal.refund_amount / case.item_value
        share += AGENT_GENEROSITY[agent] + rng.gauss(0, 0.03)
        share = min(max(round(share / 0.05) * 0.05, 0.05), 0.95)
        proposal = proposal.model_copy(update={"refund_amount": case.item_value * share})
    return proposal, False


def generate_history(
    retail: dict[str, Any], policy: PolicyConfig, *, cases: int, seed: int = 0
) -> Iterator[dict[str, Any]]:
    """``cases`` synthetic history records from a retail database document (``export_retail``)."""
    rng = random.Random(seed)
    orders = [o for o in orders_of(retail).values() if o.fulfillments]
    delivered = [o for o in orders if o.status == "delivered"]
    if not delivered:
        raise ValueError("the store has no delivered orders: import the retail database first")
    for index in range(cases):
        true_reason: Reason = _pick(rng, TRUE_REASONS)
        order = rng.choice(orders if true_reason == "not_received" else delivered)
        item = rng.choice(order.items)
        severity: Severity | None = None
        key: str = true_reason
        if true_reason in ("damaged", "not_as_described"):
            severity = "minor" if rng.random() < 0.55 else "major"
            key = f"{true_reason}_{severity}"
        selected: Reason = true_reason
        if true_reason == "changed_mind" and rng.random() < 0.35:
            selected = rng.choice(("damaged", "not_as_described"))
        lang = _pick(rng, LANGUAGE_WEIGHTS)
        seller = SellerHistory(
            country=rng.choice(SELLER_COUNTRIES), dispute_rate=round(rng.uniform(0.005, 0.08), 3)
        )
        status: ShipmentStatus = "delivered"
        if true_reason == "not_received":
            status = _pick(rng, {"delivered": 0.4, "lost": 0.3, "in_transit": 0.3})
        logistics = synthetic_logistics(
            order.order_id,
            tracking_ids=order.tracking_ids,
            status=status,
            cross_border=seller.country != "US",
        )
        request = RefundRequest(
            order_id=order.order_id,
            reason=selected,
            messages=_messages(rng, lang, key),
            item_ids=[item.item_id],
            photos=[f"photo-{n}.jpg" for n in range(rng.choice((0, 0, 1, 2, 3)))],
            logistics=logistics,
            buyer_prior_disputes=_pick(rng, {0: 0.70, 1: 0.15, 2: 0.08, 3: 0.04, 5: 0.03}),
            seller=seller,
        )
        case = case_from_order(
            order,
            user_orders=len(retail["users"][order.user_id]["orders"]),
            request=request,
            policy=policy,
            case_id=f"synthetic-{seed}-{index:05d}",
        )
        case = case.model_copy(
            update={
                "return_shipping_cost": round(case.return_shipping_cost * rng.uniform(0.8, 1.2), 2)
            }
        )
        agent = rng.randrange(len(AGENT_GENEROSITY))
        proposal, random_decision = _agent_decision(
            rng, case, policy, agent=agent, reason=true_reason, severity=severity
        )
        outcome = apply_policy(case, proposal, policy)
        yield {
            "synthetic": True,
            "case": case.model_dump(mode="json"),
            "decision": {
                "return_required": outcome.return_required,
                "refund_type": outcome.refund_type,
                "refund_amount": float(outcome.refund_amount),
            },
            "agent": f"agent-{agent}",
            "latent": {
                "true_reason": true_reason,
                "severity": severity,
                "language": lang,
                "random_decision": random_decision,
            },
        }
