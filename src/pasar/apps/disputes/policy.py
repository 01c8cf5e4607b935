"""The refund policy layer: every decision passes through ``apply_policy`` and nothing bypasses it.

Rules (configured in ``policy.toml``, or a file of the same shape given with ``--policy``):

1. the refund is never negative and never exceeds what was paid: the cap is the smaller of the
   disputed items' price and the order's net payments (payments minus earlier refunds);
2. per category: change-of-mind refunds may be refused (personal care) and are reduced by the
   category's restocking fee; non-returnable categories never require a return;
3. "no return" (the buyer keeps the goods while refunded) only when the return shipping costs
   more than ``no_return_min_shipping_share`` of the items' value, or the goods never arrived,
   or the category is not returnable;
4. amounts are rounded down to the currency's unit, and the refund type follows the amount
   (0 -> none, the cap -> full, else partial).

The layer reads only structured fields of the case, never the buyer's messages, so a message
that demands more cannot change the outcome.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pasar.apps.disputes.schemas import Proposal, RefundCase, RefundType
from pasar.errors import MissingInputError

DEFAULT_POLICY = Path(__file__).with_name("policy.toml")
DEFAULT_CATEGORY = "general"


@dataclass(frozen=True)
class CategoryRule:
    name: str
    products: tuple[str, ...]
    returnable: bool  # False: the goods are never taken back (hygiene, perishables)
    change_of_mind_refund: bool  # False: no refund when the buyer simply changed their mind
    restocking_fee_share: float  # share of the value kept on change-of-mind returns


@dataclass(frozen=True)
class PolicyConfig:
    no_return_min_shipping_share: float  # keep-the-goods only when shipping > share * value
    human_review_below: float  # calibrated confidence under which a human decides
    refund_policy_text: str  # shown at checkout; evidence in chargeback packets
    currency_units: dict[str, Decimal]
    categories: dict[str, CategoryRule]

    def category_of(self, product_name: str) -> str:
        for rule in self.categories.values():
            if product_name in rule.products:
                return rule.name
        return DEFAULT_CATEGORY

    def rule(self, category: str) -> CategoryRule:
        return self.categories.get(category) or self.categories[DEFAULT_CATEGORY]

    def unit(self, currency: str) -> Decimal:
        if currency not in self.currency_units:
            raise ValueError(
                f"currency {currency!r} has no unit in the policy; add it under [currency_units] "
                f"(known: {', '.join(sorted(self.currency_units))})"
            )
        return self.currency_units[currency]


def _share(raw: dict[str, Any], key: str, where: str) -> float:
    value = raw.get(key)
    if not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{where}: {key} = {value!r} must be a number between 0 and 1")
    return float(value)


def _category(name: str, raw: dict[str, Any], where: str) -> CategoryRule:
    for key in ("returnable", "change_of_mind_refund"):
        if not isinstance(raw.get(key), bool):
            raise ValueError(f"{where}: categories.{name}.{key} must be true or false")
    return CategoryRule(
        name=name,
        products=tuple(raw.get("products", [])),
        returnable=raw["returnable"],
        change_of_mind_refund=raw["change_of_mind_refund"],
        restocking_fee_share=_share(raw, "restocking_fee_share", f"{where}: categories.{name}"),
    )


def load_policy(path: Path | None = None) -> PolicyConfig:
    """Read a policy file (default: the one shipped with pasar); bad values raise ValueError."""
    path = path or DEFAULT_POLICY
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise MissingInputError(f"policy file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"policy file {path} is not valid TOML: {exc}") from exc
    categories = {n: _category(n, c, str(path)) for n, c in raw.get("categories", {}).items()}
    if DEFAULT_CATEGORY not in categories:
        raise ValueError(f"{path}: needs a [categories.{DEFAULT_CATEGORY}] table for the rest")
    try:
        units = {c: Decimal(str(u)) for c, u in raw.get("currency_units", {}).items()}
    except InvalidOperation as exc:
        raise ValueError(f'{path}: currency_units must be numbers like "0.01"') from exc
    if not units or any(u <= 0 for u in units.values()):
        raise ValueError(f"{path}: [currency_units] must give each currency a positive unit")
    return PolicyConfig(
        no_return_min_shipping_share=_share(raw, "no_return_min_shipping_share", str(path)),
        human_review_below=_share(raw, "human_review_below", str(path)),
        refund_policy_text=str(raw.get("refund_policy_text", "")).strip(),
        currency_units=units,
        categories=categories,
    )


@dataclass(frozen=True)
class PolicyOutcome:
    return_required: bool
    refund_type: RefundType
    refund_amount: Decimal
    adjustments: list[str]


def round_down(amount: Decimal, unit: Decimal) -> Decimal:
    return (amount / unit).to_integral_value(rounding=ROUND_DOWN) * unit


def refund_cap(case: RefundCase, policy: PolicyConfig) -> Decimal:
    """The most that may be refunded: the disputed items' price, at most the net paid."""
    cap = min(Decimal(str(case.item_value)), Decimal(str(case.paid_total)))
    return max(round_down(cap, policy.unit(case.currency)), Decimal(0))


def keep_goods_allowed(case: RefundCase, policy: PolicyConfig) -> bool:
    """Rule 3: may the buyer keep the goods while refunded?"""
    if case.logistics.status != "delivered" or not policy.rule(case.category).returnable:
        return True
    return case.return_shipping_cost > policy.no_return_min_shipping_share * case.item_value


def apply_policy(case: RefundCase, proposal: Proposal, policy: PolicyConfig) -> PolicyOutcome:
    """Bound a proposal by the policy. Every change is listed in ``adjustments``."""
    adjustments: list[str] = []
    unit = policy.unit(case.currency)
    cap = refund_cap(case, policy)
    rule = policy.rule(case.category)

    if proposal.refund_type == "full":
        amount = cap
    elif proposal.refund_type == "none":
        amount = Decimal(0)
    elif math.isfinite(proposal.refund_amount):
        amount = Decimal(str(proposal.refund_amount))
    else:
        amount = Decimal(0)
        adjustments.append(f"proposed amount {proposal.refund_amount} is not a number: set to 0")

    if case.reason == "changed_mind":
        if not rule.change_of_mind_refund:
            if amount > 0:
                adjustments.append(f"{rule.name}: no refund for a change of mind")
            amount = Decimal(0)
        elif rule.restocking_fee_share > 0:
            limit = round_down(cap * Decimal(str(1 - rule.restocking_fee_share)), unit)
            if amount > limit:
                adjustments.append(
                    f"{rule.name}: restocking fee {rule.restocking_fee_share:.0%} "
                    f"limits the refund to {limit}"
                )
                amount = limit
    if amount > cap:
        adjustments.append(f"refund {amount} exceeds the {cap} paid for the items: capped")
        amount = cap
    if amount < 0:
        adjustments.append(f"refund {amount} is negative: set to 0")
        amount = Decimal(0)
    rounded = round_down(amount, unit)
    if rounded != amount:
        amount = rounded  # not an adjustment worth reporting: currency rounding always happens

    refund_type: RefundType = "none" if amount == 0 else "full" if amount == cap else "partial"
    if refund_type != proposal.refund_type:
        adjustments.append(f"refund type {proposal.refund_type} -> {refund_type} (amount {amount})")

    return_required = proposal.return_required
    if amount == 0 or case.logistics.status != "delivered" or not rule.returnable:
        return_required = False  # nothing refunded, nothing delivered, or not taken back
    elif not return_required and not keep_goods_allowed(case, policy):
        adjustments.append(
            f"return shipping {case.return_shipping_cost:.2f} is not above "
            f"{policy.no_return_min_shipping_share:.0%} of the value {case.item_value:.2f}: "
            "return required"
        )
        return_required = True
    if return_required != proposal.return_required and return_required is False:
        adjustments.append("no return: " + _why_no_return(case, rule, amount))
    return PolicyOutcome(return_required, refund_type, amount, adjustments)


def _why_no_return(case: RefundCase, rule: CategoryRule, amount: Decimal) -> str:
    if amount == 0:
        return "nothing is refunded"
    if case.logistics.status != "delivered":
        return f"the goods were not delivered ({case.logistics.status})"
    return f"{rule.name} items are not taken back"
