"""The refund agent: propose (model or rules), bound by the policy, explain, reply.

decision = decide(case, policy, model)      # model None: the rules-only baseline decides

A model's proposal whose calibrated confidence is under the policy's ``human_review_below`` is
not decided: the decision says ``needs_human`` and the buyer is told a person will review it.
"""

from __future__ import annotations

from pasar.apps.disputes.model import RefundModel
from pasar.apps.disputes.policy import PolicyConfig, apply_policy, keep_goods_allowed
from pasar.apps.disputes.rules import rules_baseline
from pasar.apps.disputes.schemas import Citation, RefundCase, RefundDecision
from pasar.apps.disputes.texts import render_reply, reply_kind


def cite_evidence(case: RefundCase, policy: PolicyConfig) -> list[Citation]:
    """The facts a decision rests on, each with where it came from."""
    logistics = case.logistics
    shipped = (
        f"{logistics.carrier}, tracking {', '.join(logistics.tracking_ids)}, status "
        f"{logistics.status}"
        + (f", delivered {logistics.delivered_on}" if logistics.delivered_on else "")
        if logistics.tracking_ids
        else f"no tracking; status {logistics.status}"
    )
    share = policy.no_return_min_shipping_share
    keep = "allowed" if keep_goods_allowed(case, policy) else "not allowed"
    return [
        Citation(
            evidence="store.order",
            fact=f"order {case.order_id}: {', '.join(case.product_names)} "
            f"({', '.join(case.item_ids)}), {case.item_value:.2f} {case.currency}",
        ),
        Citation(
            evidence="store.payments",
            fact=f"net paid on the order {case.paid_total:.2f} {case.currency}",
        ),
        Citation(evidence=f"logistics ({logistics.source})", fact=shipped),
        Citation(
            evidence="buyer request",
            fact=f"reason {case.reason}; {len(case.messages)} message(s) in "
            f"{case.language or 'an unidentified language'}; {case.photos} photo(s)",
        ),
        Citation(
            evidence=f"return shipping ({case.return_shipping_source})",
            fact=f"{case.return_shipping_cost:.2f} {case.currency} vs {share:.0%} of the value: "
            f"keeping the goods is {keep}",
        ),
        Citation(
            evidence="store.user",
            fact=f"buyer {case.user_id}: {case.buyer.orders} earlier order(s), "
            f"{case.buyer.prior_disputes} prior dispute(s)",
        ),
        Citation(evidence="policy", fact=f"category {case.category}"),
    ]


# Claims only a buyer holding the goods can make: on an order the store holds as not shipped,
# the claim contradicts the store, and a person decides.
CLAIMS_NEEDING_THE_GOODS = ("damaged", "not_as_described", "wrong_item")


def contradiction(case: RefundCase) -> str | None:
    """Why the buyer's claim contradicts the store's facts, or None."""
    if case.logistics.status == "not_shipped" and case.reason in CLAIMS_NEEDING_THE_GOODS:
        return (
            f"the buyer says {case.reason.replace('_', ' ')}, but the store holds order "
            f"{case.order_id} as not shipped: routed to a human"
        )
    return None


def decide(case: RefundCase, policy: PolicyConfig, model: RefundModel | None) -> RefundDecision:
    proposal = model.propose([case])[0] if model is not None else rules_baseline(case, policy)
    outcome = apply_policy(case, proposal, policy)
    conflict = contradiction(case)
    needs_human = conflict is not None or (
        model is not None and proposal.confidence < policy.human_review_below
    )
    rationale = cite_evidence(case, policy)
    rationale += [Citation(evidence="policy", fact=a) for a in outcome.adjustments]
    if conflict:
        rationale.append(Citation(evidence="store.order vs buyer request", fact=conflict))
    rationale.append(
        Citation(
            evidence="model" if model is not None else "rules",
            fact=f"confidence {proposal.confidence:.2f}"
            + (
                f" < {policy.human_review_below}: routed to a human"
                if needs_human and not conflict
                else ""
            ),
        )
    )
    reply, language = render_reply(
        case.language,
        reply_kind(outcome.refund_type, outcome.return_required, needs_human),
        amount=f"{outcome.refund_amount}",
        currency=case.currency,
        order_id=case.order_id,
    )
    return RefundDecision(
        case_id=case.case_id,
        order_id=case.order_id,
        status="needs_human" if needs_human else "decided",
        return_required=outcome.return_required,
        refund_type=outcome.refund_type,
        refund_amount=float(outcome.refund_amount),
        currency=case.currency,
        confidence=proposal.confidence,
        decided_by="model" if model is not None else "rules",
        policy_adjustments=outcome.adjustments,
        rationale=rationale,
        reply=reply,
        reply_language=language,
        proposal=proposal,
    )
