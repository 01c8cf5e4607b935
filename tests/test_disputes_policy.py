"""The refund policy layer: invariants on many generated cases and proposals (hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pasar.apps.disputes.policy import apply_policy, keep_goods_allowed, load_policy
from pasar.apps.disputes.rules import rules_baseline
from pasar.apps.disputes.schemas import (
    REASONS,
    REFUND_TYPES,
    BuyerHistory,
    Logistics,
    Proposal,
    RefundCase,
    SellerHistory,
)
from pasar.apps.disputes.texts import BUYER_MESSAGES
from pasar.errors import MissingInputError

POLICY = load_policy()
money = st.floats(min_value=0, max_value=20_000, allow_nan=False).map(lambda x: round(x, 2))
any_amount = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e9),
    st.just(1e308),
)


@st.composite
def cases(draw: st.DrawFn) -> RefundCase:
    currency = draw(st.sampled_from(sorted(POLICY.currency_units)))
    return RefundCase(
        case_id="c",
        order_id="#W1",
        user_id="u",
        reason=draw(st.sampled_from(REASONS)),
        messages=draw(st.lists(st.text(max_size=40), max_size=3)),
        photos=draw(st.integers(0, 3)),
        item_ids=["1"],
        product_names=["x"],
        category=draw(st.sampled_from(sorted(POLICY.categories))),
        currency=currency,
        paid_total=draw(money),
        item_value=draw(money),
        return_shipping_cost=draw(st.floats(0, 500).map(lambda x: round(x, 2))),
        return_shipping_source="estimate",
        logistics=Logistics(
            status=draw(st.sampled_from(["not_shipped", "in_transit", "delivered", "lost"]))
        ),
        buyer=BuyerHistory(prior_disputes=draw(st.integers(0, 6))),
        seller=SellerHistory(),
    )


proposals = st.builds(
    Proposal,
    return_required=st.booleans(),
    refund_type=st.sampled_from(REFUND_TYPES),
    refund_amount=any_amount,
    confidence=st.floats(0, 1),
)


@settings(max_examples=600, deadline=None)
@given(case=cases(), proposal=proposals)
def test_refund_never_exceeds_paid_whatever_the_model_says(case, proposal):
    outcome = apply_policy(case, proposal, POLICY)
    unit = POLICY.currency_units[case.currency]
    assert Decimal(0) <= outcome.refund_amount
    assert outcome.refund_amount <= Decimal(str(case.paid_total))
    assert outcome.refund_amount <= Decimal(str(case.item_value))
    assert outcome.refund_amount % unit == 0  # rounded to the currency's unit
    smaller = min(Decimal(str(case.item_value)), Decimal(str(case.paid_total)))
    cap = (smaller / unit).to_integral_value(rounding="ROUND_DOWN") * unit
    amount = outcome.refund_amount
    expected_type = "none" if amount == 0 else "full" if amount == cap else "partial"
    assert outcome.refund_type == expected_type


@settings(max_examples=600, deadline=None)
@given(case=cases(), proposal=proposals)
def test_goods_kept_only_when_return_shipping_is_too_dear(case, proposal):
    outcome = apply_policy(case, proposal, POLICY)
    rule = POLICY.rule(case.category)
    if outcome.refund_amount > 0 and not outcome.return_required:
        assert keep_goods_allowed(case, POLICY)
        if case.logistics.status == "delivered" and rule.returnable:
            assert case.return_shipping_cost > 0.25 * case.item_value
    if not rule.returnable or case.logistics.status != "delivered":
        assert outcome.return_required is False


@settings(max_examples=300, deadline=None)
@given(case=cases(), proposal=proposals)
def test_category_rules_bind(case, proposal):
    case = case.model_copy(update={"reason": "changed_mind"})
    outcome = apply_policy(case, proposal, POLICY)
    rule = POLICY.rule(case.category)
    if not rule.change_of_mind_refund:
        assert outcome.refund_amount == 0
    else:
        cap = min(Decimal(str(case.item_value)), Decimal(str(case.paid_total)))
        assert outcome.refund_amount <= cap * Decimal(str(1 - rule.restocking_fee_share))


@settings(max_examples=300, deadline=None)
@given(
    case=cases(),
    proposal=proposals,
    language=st.sampled_from(sorted(BUYER_MESSAGES)),
    n=st.integers(0, 1),
)
def test_a_message_demanding_more_changes_nothing(case, proposal, language, n):
    demand = BUYER_MESSAGES[language]["demand"][n]
    pushy = case.model_copy(update={"messages": [*case.messages, demand, "REFUND 99999 NOW"]})
    assert apply_policy(pushy, proposal, POLICY) == apply_policy(case, proposal, POLICY)
    assert rules_baseline(pushy, POLICY) == rules_baseline(case, POLICY)


def test_example_bounds():
    case = RefundCase(
        case_id="c",
        order_id="#W1",
        user_id="u",
        reason="damaged",
        messages=[],
        photos=0,
        item_ids=["1"],
        product_names=["Laptop"],
        category="electronics",
        currency="USD",
        paid_total=100.0,
        item_value=80.555,
        return_shipping_cost=5.0,
        return_shipping_source="input",
        logistics=Logistics(status="delivered"),
        buyer=BuyerHistory(),
        seller=SellerHistory(),
    )
    keep = Proposal(return_required=False, refund_type="partial", refund_amount=500.0)
    outcome = apply_policy(case, keep, POLICY)
    assert outcome.refund_amount == Decimal("80.55")  # capped at the value, rounded down
    assert outcome.refund_type == "full"
    assert outcome.return_required is True  # 5.00 shipping is not above 25% of 80.55
    assert any("return required" in a for a in outcome.adjustments)
    idr = case.model_copy(update={"currency": "IDR", "paid_total": 150000.7, "item_value": 1e6})
    half = Proposal(return_required=True, refund_type="partial", refund_amount=70000.9)
    assert apply_policy(idr, half, POLICY).refund_amount == Decimal("70000")


def test_policy_file_errors(tmp_path: Path):
    with pytest.raises(MissingInputError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    text = Path("src/pasar/apps/disputes/policy.toml").read_text()
    bad.write_text(
        text.replace("no_return_min_shipping_share = 0.25", "no_return_min_shipping_share = 2")
    )
    with pytest.raises(ValueError, match="no_return_min_shipping_share = 2"):
        load_policy(bad)
    bad.write_text(text.replace('USD = "0.01"', 'USD = "-1"'))
    with pytest.raises(ValueError, match="positive unit"):
        load_policy(bad)
    with pytest.raises(ValueError, match="currency 'EUR' has no unit"):
        POLICY.unit("EUR")
