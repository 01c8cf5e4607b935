"""The state-hash judge on known good and bad episodes, and pass^k."""

from __future__ import annotations

import pytest
from conftest import SHARED_DATA

from pasar.apps.taskbot.environment import Environment, episode_store, load_template
from pasar.apps.taskbot.evaluation import pass_hat_k, score_episode
from pasar.apps.taskbot.judge import gold_hash, missing_facts, state_hash
from pasar.store.db import Store

RETURN = {
    "order_id": "#W6798117",
    "item_ids": ["1706622510"],
    "payment_method_id": "paypal_9734841",
}
GOLD = [
    {"name": "find_user_id_by_email", "arguments": {"email": "evelyn.davis9453@example.com"}},
    {"name": "return_delivered_order_items", "arguments": RETURN},
]


@pytest.fixture(scope="module")
def template() -> Store:
    return load_template(SHARED_DATA / "retail" / "db.json")


def _episode(template: Store, *writes: tuple[str, dict]) -> Environment:  # type: ignore[type-arg]
    env = Environment(episode_store(template))
    for name, arguments in writes:
        env.execute(name, arguments)
    return env


def test_hash_is_the_canonical_state(template: Store) -> None:
    fresh = _episode(template)
    assert state_hash(fresh) == state_hash(_episode(template)) == gold_hash(template, [])
    assert len(state_hash(fresh)) == 64


def test_good_episode_matches_gold(template: Store) -> None:
    env = _episode(template, ("return_delivered_order_items", RETURN))
    transcript = [{"role": "assistant", "content": "Done: a refund of $328.67 goes to PayPal."}]
    scores = score_episode(env, transcript, gold=gold_hash(template, GOLD), facts=["328.67"])
    assert scores["success"] and scores["state_ok"] and scores["missing_facts"] == []


@pytest.mark.parametrize(
    "writes",
    [
        [],  # did nothing
        [("return_delivered_order_items", {**RETURN, "item_ids": ["8538875209"]})],  # wrong item
        [("return_delivered_order_items", {**RETURN, "item_ids": ["1706622510", "8538875209"]})],
        [("exchange_delivered_order_items", {**RETURN, "new_item_ids": ["2860956907"]})],
    ],
)
def test_bad_episodes_do_not_match(template: Store, writes: list) -> None:  # type: ignore[type-arg]
    env = _episode(template, *writes)
    scores = score_episode(env, [], gold=gold_hash(template, GOLD), facts=[])
    assert not scores["success"] and not scores["state_ok"]


def test_a_fact_not_said_fails_the_episode(template: Store) -> None:
    env = _episode(template, ("return_delivered_order_items", RETURN))
    said = [{"role": "assistant", "content": "Your return is requested."}]
    scores = score_episode(env, said, gold=gold_hash(template, GOLD), facts=["328.67"])
    assert scores["state_ok"] and not scores["success"] and scores["missing_facts"] == ["328.67"]


def test_facts_match_amounts_with_thousands_separators() -> None:
    assert missing_facts(["1093.34", "delivered"], ["Refund: $1,093.34. It was Delivered."]) == []
    assert missing_facts(["1093.34"], ["Refund: $1,093.43."]) == ["1093.34"]


def test_failing_gold_action_changes_nothing(template: Store) -> None:
    short_gift_card = {
        "name": "modify_pending_order_payment",
        "arguments": {"order_id": "#W6030855", "payment_method_id": "gift_card_5372803"},
    }
    assert gold_hash(template, [short_gift_card]) == gold_hash(template, [])


def test_pass_hat_k() -> None:
    trials = {"a": [True, True, True, True], "b": [True, False, True, False], "c": [False] * 4}
    assert pass_hat_k(trials, 1) == pytest.approx((1 + 0.5 + 0) / 3)
    assert pass_hat_k(trials, 2) == pytest.approx((1 + 1 / 6 + 0) / 3)
    assert pass_hat_k(trials, 4) == pytest.approx(1 / 3)


def test_signed_in_counts_only_a_sign_in_that_found_the_user():
    from pasar.apps.taskbot.evaluation import signed_in

    def tool(name: str, content: str) -> dict[str, str]:
        return {"role": "tool", "name": name, "content": content}

    failed = tool("find_user_id_by_email", "Error: no user matches; check the spelling")
    refused = tool("find_user_id_by_name_zip", "Refused by policy: this conversation is with...")
    found = tool("find_user_id_by_name_zip", '"liam_li_3712"')
    assert not signed_in([failed, refused, tool("get_order_details", '{"status":"pending"}')])
    assert signed_in([failed, found])
