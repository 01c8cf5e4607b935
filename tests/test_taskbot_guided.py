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
from pasar.apps.taskbot.scenarios import load_scenarios
from pasar.apps.taskbot.understanding import ADDRESS_FIELDS, REQUESTS, Understanding
from pasar.models.engine import Engine
from pasar.models.types import ChatResult, Usage
from pasar.store.commerce import get_order
from pasar.store.db import Store

PARAPHRASES = Path(__file__).parent.parent / "examples" / "taskbot" / "paraphrases.json"
Answer = Callable[[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def template() -> Store:
    return load_template(SHARED_DATA / "retail" / "db.json")


class Reader(Engine):
    """Answers each question with ``answer(instruction, message)``, as JSON; keeps what it was
    asked and the schema each answer was held to."""

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
        return ChatResult(json.dumps(self.answer(instruction, text)), "stop", Usage(0, 0), "r")

    def _stream(self, messages, params, json_schema):  # type: ignore[no-untyped-def]
        raise NotImplementedError


def none(instruction: str, text: str) -> dict[str, Any]:
    return {"answer": "none"}


def episode(template: Store, scenario_id: str, reader: Reader | None) -> Episode:
    scenario = next(s for s in load_scenarios(PARAPHRASES) if s.id == scenario_id)

    def factory(env: Environment, language: str) -> FlowsAgent:
        understanding = Understanding(reader) if reader is not None else None
        return FlowsAgent(env, language, understanding=understanding)

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
    agent = FlowsAgent(env, "en", understanding=Understanding(Reader(answer)))
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
