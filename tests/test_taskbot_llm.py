"""The LLM agent's loop on the embedded model (llama.cpp), for one scripted scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from pasar.apps.taskbot.environment import load_template
from pasar.apps.taskbot.evaluation import evaluate, scenario_case, task_case
from pasar.apps.taskbot.flows import FlowsAgent
from pasar.apps.taskbot.judge import gold_hash
from pasar.apps.taskbot.llm_agent import LLMAgent, local_history
from pasar.apps.taskbot.policy import is_affirmative
from pasar.apps.taskbot.scenarios import load_scenarios
from pasar.apps.taskbot.simulator import SimulatedUser, load_tasks
from pasar.apps.taskbot.tools import TOOLS
from pasar.store.db import Store

EXAMPLES = Path(__file__).parent.parent / "examples" / "taskbot" / "scenarios.json"
# The tools this scenario needs: a smaller grammar for llama.cpp to build (seconds, not minutes).
NEEDED = ("find_user_id_by_email", "get_order_details", "cancel_pending_order")


@pytest.fixture(scope="module")
def engine(embedded_gguf: Path):  # type: ignore[no-untyped-def]
    from pasar.models.llamacpp import LlamaCppEngine

    llm = LlamaCppEngine("smollm2-135m-instruct", str(embedded_gguf), n_ctx=4096)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def template() -> Store:
    return load_template(SHARED_DATA / "retail" / "db.json")


def test_local_history_shows_replies_as_the_json_the_model_writes() -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]
    assert local_history(messages)[1]["content"] == '{"content": "Hello!"}'
    assert local_history(messages)[0] == messages[0]


def test_llm_agent_episode_on_the_embedded_model(engine, template: Store) -> None:  # type: ignore[no-untyped-def]
    scenario = next(s for s in load_scenarios(EXAMPLES) if s.id == "en-cancel-reason-fix")
    tools = [TOOLS[name].schema() for name in NEEDED]

    def factory(env, language):  # type: ignore[no-untyped-def]
        return LLMAgent(engine, env, language, max_steps=2, max_tokens=96, tools=tools)

    report, (episode,) = evaluate([scenario_case(scenario)], factory, template, max_turns=4)
    assert episode.gold_hash == gold_hash(template, scenario.gold_actions)
    assert len(episode.final_hash) == 64 and episode.turns >= 1
    replies = [m["content"] for m in episode.transcript if m["role"] == "assistant"]
    assert replies and all(isinstance(r, str) for r in replies)
    calls = [m for m in episode.transcript if m["role"] == "tool"]
    for call in calls:  # constrained decoding: only known tools, with schema-valid arguments
        assert call["name"] in NEEDED
        TOOLS[call["name"]].arguments.model_validate(call["arguments"])
    # Whatever the model does, the policy holds: no write succeeds without a yes before it.
    writes = [c for c in calls if TOOLS[c["name"]].kind == "write"]
    yeses = [m for m in episode.transcript if m["role"] == "user" and is_affirmative(m["content"])]
    done = [w for w in writes if not w["content"].startswith(("Refused", "Error"))]
    assert len(done) <= len(yeses)
    if not done:
        assert episode.final_hash == gold_hash(template, [])
    assert report["episodes"] == 1 and report["tool_calls"] == len(calls)
    json.dumps(report)  # the report is plain JSON


def test_simulated_user_plays_a_tau2_task(engine, template: Store) -> None:  # type: ignore[no-untyped-def]
    task = load_tasks(SHARED_DATA / "retail" / "tasks_train.json")[0]
    assert "Yusuf Rossi" in task.scenario and task.gold_actions[-1]["name"].startswith("exchange")
    case = task_case(task, lambda t, trial: SimulatedUser(engine, t, seed=trial))
    report, (episode,) = evaluate(
        [case], lambda env, lang: FlowsAgent(env, lang), template, max_turns=1
    )
    said = [m["content"] for m in episode.transcript if m["role"] == "user"]
    assert said and all(isinstance(s, str) and s.strip() for s in said)
    assert episode.gold_hash == gold_hash(template, task.gold_actions)
    assert not episode.state_ok  # one turn cannot finish an exchange
    assert report["by_language"]["en"]["episodes"] == 1
