"""Decision rules: the written refund policy (the rules-only baseline) and the judgment that human
agents add to it (used by the synthetic history generator).

The written policy sees only structured fields: the reason the buyer selected, the carrier
status, the value, the return shipping and the category. Human agents also read the messages
(how bad the damage is; whether "damaged" really means "changed my mind") and the buyer's
history. That difference is what a model trained on their decisions can learn and the rules
cannot; docs/disputes.md says so next to the numbers.
"""

from __future__ import annotations

from typing import Literal

from pasar.apps.disputes.policy import PolicyConfig, keep_goods_allowed, refund_cap
from pasar.apps.disputes.schemas import Proposal, Reason, RefundCase

Severity = Literal["minor", "major"]
PARTIAL_SHARE = {"damaged": 0.30, "not_as_described": 0.20}  # minor problems, goods kept
GOODWILL_LIMIT = 100.0  # humans refund "delivered but not received" below this value
SERIAL_DISPUTER = 3  # prior disputes from which humans refuse goodwill and partial refunds


def _full(case: RefundCase, policy: PolicyConfig) -> Proposal:
    """A full refund; the goods come back unless keeping them is allowed (rule 3)."""
    return Proposal(
        return_required=not keep_goods_allowed(case, policy),
        refund_type="full",
        refund_amount=float(refund_cap(case, policy)),
    )


def _none() -> Proposal:
    return Proposal(return_required=False, refund_type="none", refund_amount=0.0)


def rule_proposal(
    case: RefundCase,
    policy: PolicyConfig,
    *,
    reason: Reason,
    severity: Severity | None,
    judgment: bool,
) -> Proposal:
    """What the rules decide for ``reason``. ``severity`` None means unknown (treated as major,
    as the written policy does); ``judgment`` adds the human agents' use of buyer history."""
    cap = float(refund_cap(case, policy))
    serial = judgment and case.buyer.prior_disputes >= SERIAL_DISPUTER
    if reason == "not_received":
        if case.logistics.status != "delivered":
            return Proposal(return_required=False, refund_type="full", refund_amount=cap)
        goodwill = judgment and not serial and case.item_value < GOODWILL_LIMIT
        return (
            Proposal(return_required=False, refund_type="full", refund_amount=cap)
            if (goodwill)
            else _none()
        )
    if reason == "changed_mind":
        rule = policy.rule(case.category)
        if not rule.change_of_mind_refund:
            return _none()
        share = 1.0 - rule.restocking_fee_share
        return Proposal(
            return_required=True,
            refund_type="full" if share == 1.0 else "partial",
            refund_amount=cap * share,
        )
    if reason in PARTIAL_SHARE and severity == "minor":
        if serial:
            return _none()
        if keep_goods_allowed(case, policy):
            return Proposal(
                return_required=False,
                refund_type="partial",
                refund_amount=cap * PARTIAL_SHARE[reason],
            )
    return _full(case, policy)


def rules_baseline(case: RefundCase, policy: PolicyConfig) -> Proposal:
    """The written policy over the structured fields: the rules-only baseline."""
    return rule_proposal(case, policy, reason=case.reason, severity=None, judgment=False)
