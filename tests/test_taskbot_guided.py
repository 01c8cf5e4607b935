"""The guided agent: the flows agent asking a model what its keywords and patterns miss
(apps/taskbot/understanding.py), on the paraphrased scenarios the flows alone fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED_DATA

from pasar.apps.taskbot.environment import Environment, episode_store, load_template
from pasar.apps.taskbot.evaluation import Episode, evaluate, scenario_case
from pasar.apps.taskbot.flows import FlowsAgent
from pasar.apps.taskbot.guided import GuidedAgent
from pasar.apps.taskbot.scenarios import load_scenarios
from pasar.apps.taskbot.understanding import (
    ADDRESS_FIELDS,
    REQUESTS,
    TRANSLATE,
    Understanding,
    vote,
)
from pasar.models.engine import Engine
from pasar.models.types import ChatResult, Usage
from pasar.store.commerce import get_order
from pasar.store.db import Store

EXAMPLES = Path(__file__).parent.parent / "examples" / "taskbot"
Answer = Callable[[str, str], Any]  # JSON to answer with, or plain text


@pytest.fixture(scope="module")
def template() -> Store:
    return load_template(SHARED_DATA / "retail" / "db.json")


class Reader(Engine):
    """Answers each question with ``answer(instruction, message)`` (JSON, or plain text); keeps
    what it was asked and the schema each answer was held to."""

    kind = "reader"

    def __init__(self, answer: Answer):
        super().__init__("reader")
        self.answer = answer
        self.asked: list[tuple[str, str]] = []
        self.schemas: list[dict[str, Any] | None] = []

    def _complete(self, messages, params, json_schema, tools):  # type: ignore[no-untyped-def]
        instruction, text = messages[0]["content"], messages[-1]["content"]
        self.asked.append((instruction, text))
        self.schemas.append(json_schema)
        reply = self.answer(instruction, text)
        said = reply if isinstance(reply, str) else json.dumps(reply)
        return ChatResult(said, "stop", Usage(0, 0), "r")

    def _stream(self, messages, params, json_schema):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def none(instruction: str, text: str) -> dict[str, Any]:
    return {"answer": "none"}


def episode(template: Store, scenario_id: str, reader: Reader | None) -> Episode:
    """The episode of a scenario of paraphrases.json or paraphrases2.json (by its id)."""
    file = "paraphrases2.json" if scenario_id.startswith("para2-") else "paraphrases.json"
    scenario = next(s for s in load_scenarios(EXAMPLES / file) if s.id == scenario_id)

    def factory(env: Environment, language: str) -> FlowsAgent:
        if reader is None:
            return FlowsAgent(env, language)
        return GuidedAgent(env, language, understanding=Understanding(reader))

    _, (played,) = evaluate([scenario_case(scenario)], factory, template)
    return played


def test_a_request_without_the_flows_keywords_is_read_by_the_model(template: Store) -> None:
    def answer(instruction: str, text: str) -> dict[str, Any]:
        if "What does the customer ask for?" in instruction and "kill order" in text:
            return {"answer": "cancel_order"}
        return none(instruction, text)

    reader = Reader(answer)
    assert episode(template, "para-en-cancel", reader).success
    assert not episode(template, "para-en-cancel", None).success  # the flows alone
    # Asked only about messages with words in them (not the email, not a bare order id), and
    # held to the flows' names or none.
    assert all("@" not in text and text != "W3579467" for _, text in reader.asked)
    first = reader.schemas[0]
    assert first is not None
    assert first["properties"]["answer"]["enum"] == [*REQUESTS, "none"]


def test_the_request_is_the_vote_of_the_keywords_the_model_and_its_english_reading() -> None:
    assert vote("change_items", None, "return_items") == "change_items"  # a tie: the keyword
    assert vote("change_items", "change_payment", "change_payment") == "change_payment"
    assert vote(None, "modify_order_address", "change_payment") == "modify_order_address"
    assert vote(None, None, None) is None
    message = "mau ganti cara bayarnya dong, pake kartu visa aku aja"

    def answer(instruction: str, text: str) -> Any:
        if instruction == TRANSLATE:
            return "I want to change how I pay, use my visa card"
        return {"answer": "change_payment" if "bayar" in text or "pay" in text else "none"}

    reader = Reader(answer)
    assert Understanding(reader).request(message, "change_items") == "change_payment"
    assert [i for i, _ in reader.asked][1] == TRANSLATE  # asked only because they disagreed
    agreeing = Reader(answer)
    assert Understanding(agreeing).request(message, "change_payment") == "change_payment"
    assert len(agreeing.asked) == 1


def test_a_correction_the_patterns_miss_is_made_once_the_model_reads_it(template: Store) -> None:
    fixed = {
        "address1": "55 Rizal Street",
        "address2": "Unit 4",
        "city": "Daly City",
        "state": "CA",
        "country": "USA",
        "zip": "94014",
    }

    def answer(instruction: str, text: str) -> dict[str, Any]:
        if "confirm this change" in instruction:
            return {"answer": "change"}
        if "It corrects this address" in instruction:
            assert '"address2": "Unit 2"' in instruction  # the address the user was shown
            return fixed
        return none(instruction, text)

    played = episode(template, "para-tl-address-fix", Reader(answer))
    assert played.success and played.has_correction
    assert not episode(template, "para-tl-address-fix", None).success  # "hindi" read as a no


def test_a_corrected_payment_method_is_read_among_the_users_methods(template: Store) -> None:
    """The model is asked which detail the reply corrects (each shown as the user saw it),
    then which of the user's methods it names."""

    def answer(instruction: str, text: str) -> dict[str, Any]:
        if "What does the customer ask for?" in instruction and "ibahin" in text:
            return {"answer": "change_payment"}
        if "confirm this change" in instruction:
            return {"answer": "change"}
        if "Which detail does the customer correct?" in instruction:
            assert "the payment method (now: PayPal (paypal_6542279))" in instruction
            return {"answer": "payment"}
        if "Which payment method" in instruction and "6934" in text:
            return {"answer": "credit_card_7591273"}
        return none(instruction, text)

    played = episode(template, "para2-tl-payment", Reader(answer))
    assert played.success and played.has_correction


def test_a_corrected_option_is_away_from_the_one_put_to_the_user(template: Store) -> None:
    """ "Not 34 inch, the 28 inch" names both lengths: the new item is not the one the user is
    turning down, so the flows read it without a model."""
    assert episode(template, "para2-ms-modify-items", None).success


def test_the_models_reading_cannot_stand_in_for_the_users_yes(template: Store) -> None:
    """A reply the model reads as a yes is not the explicit yes the policy needs: the change is
    put again, nothing is written; a reply it reads as a no ends the flow."""

    def answer(instruction: str, text: str) -> dict[str, Any]:
        if "What does the customer ask for?" in instruction and "settle" in text:
            return {"answer": "change_payment"}
        if "confirm this change" in instruction:
            return {"answer": "yes" if "works" in text else "no"}
        return none(instruction, text)

    env = Environment(episode_store(template))
    agent = GuidedAgent(env, "en", understanding=Understanding(Reader(answer)))
    said = []
    for text in ["can I settle #W1080318 with my gift card?", "omar.kim8981@example.com"]:
        env.user_says(text)
        said.append(agent.respond(text))
        env.agent_says(said[-1])
    assert agent.awaiting_confirmation and "gift_card_3749819" in said[-1]
    for text, waiting in [("I guess that works?", True), ("meh, forget it", False)]:
        env.user_says(text)
        env.agent_says(agent.respond(text))
        assert agent.awaiting_confirmation is waiting
        paid = get_order(env.db, order_id="#W1080318")["payment_history"][0]
        assert paid["payment_method_id"] == "credit_card_3577130"  # unchanged
    assert agent.flow is None


def test_an_answer_that_is_not_a_whole_address_changes_nothing() -> None:
    address = dict.fromkeys(ADDRESS_FIELDS, "x") | {"zip": "94014"}
    broken = Understanding(Reader(lambda i, t: address | {"zip": "unit 4"}))
    assert broken.corrected_address("unit 4 not 2", address) is None
    same = Understanding(Reader(lambda i, t: address))
    assert same.corrected_address("unit 4 not 2", address) is None


def test_the_embedded_models_answers_are_held_to_the_options(llama_engine) -> None:  # type: ignore[no-untyped-def]
    understanding = Understanding(llama_engine, max_tokens=48)
    for text in ["pls cancel my order, dont need it", "hello", "where is my parcel??"]:
        assert understanding.request(text) in {*REQUESTS, None}
    reading = understanding.confirmation("ok sure, go", "cancel order #W1")
    assert reading in {"yes", "no", "change", None}
