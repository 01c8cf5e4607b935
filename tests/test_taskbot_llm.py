"""The LLM agent's loop on the embedded model (llama.cpp), for one scripted scenario."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import SHARED_DATA, THREADS

from pasar.apps.taskbot.environment import Environment, episode_store, load_template
from pasar.apps.taskbot.evaluation import evaluate, scenario_case, task_case
from pasar.apps.taskbot.flows import FlowsAgent
from pasar.apps.taskbot.judge import gold_hash
from pasar.apps.taskbot.llm_agent import (
    CONFIRM,
    REPEATED_REPLY_NOTE,
    RETRY_TEMPERATURE,
    LLMAgent,
    local_history,
)
from pasar.apps.taskbot.policy import is_affirmative
from pasar.apps.taskbot.scenarios import load_scenarios
from pasar.apps.taskbot.simulator import AGENT_TURN, USER_TEMPERATURE, SimulatedUser, load_tasks
from pasar.apps.taskbot.tools import TOOLS, TRANSFER_TEXT, tool_schemas
from pasar.data.feedback import feedback_rows
from pasar.data.redact import redact_rows
from pasar.models.engine import Engine
from pasar.models.types import ChatResult, ToolCall, Usage
from pasar.store.commerce import get_order
from pasar.store.db import Store, open_store
from pasar.store.interactions import add_feedback, feedback_examples, get_conversation
from pasar.store.recorder import RecordedEngine

EXAMPLES = Path(__file__).parent.parent / "examples" / "taskbot" / "scenarios.json"
PARAPHRASES = EXAMPLES.parent / "paraphrases.json"
# The tools this scenario needs: a smaller grammar for llama.cpp to build (seconds, not minutes).
NEEDED = ("find_user_id_by_email", "get_order_details", "cancel_pending_order")


@pytest.fixture(scope="module")
def engine(embedded_gguf: Path):  # type: ignore[no-untyped-def]
    from pasar.models.llamacpp import LlamaCppEngine

    llm = LlamaCppEngine("smollm2-135m-instruct", str(embedded_gguf), n_ctx=4096, n_threads=THREADS)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def template() -> Store:
    return load_template(SHARED_DATA / "retail" / "db.json")


def said(env: Environment, text: str) -> str:
    """The user's message as the harness passes it: told to the environment, then the agent."""
    env.user_says(text)
    return text


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
    # Constrained decoding: only known tools, with schema-valid arguments (the agent's own
    # hand-over when the step budget is spent is not the model's call).
    for call in [c for c in calls if c["name"] != "transfer_to_human_agents"]:
        assert call["name"] in NEEDED
        TOOLS[call["name"]].arguments.model_validate(call["arguments"])
    # Whatever the model does, the policy holds: no write succeeds without a yes before it.
    writes = [c for c in calls if TOOLS[c["name"]].kind == "write"]
    yeses = [m for m in episode.transcript if m["role"] == "user" and is_affirmative(m["content"])]
    done = [
        w
        for w in writes
        if not w["content"].startswith(("Refused", "Error")) and "not done yet" not in w["content"]
    ]
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


class ScriptedEngine(Engine):
    """Answers with the given tool calls (name, arguments) or texts, in order; records what
    the agent showed it after each call."""

    kind = "scripted"
    native_tools = True

    def __init__(self, script: list[tuple[str, dict] | str]):
        super().__init__("scripted")
        self.script = list(script)
        self.seen: list[list[dict]] = []
        self.temperatures: list[float] = []
        self.seeds: list[int | None] = []
        self.tools_offered: list[bool] = []

    def _complete(self, messages, params, json_schema, tools):  # type: ignore[no-untyped-def]
        self.seen.append(list(messages))
        self.temperatures.append(params.temperature)
        self.seeds.append(params.seed)
        self.tools_offered.append(tools is not None)
        step = self.script.pop(0)
        if isinstance(step, str):
            return ChatResult(step, "stop", Usage(0, 0), self.name)
        name, arguments = step
        call = ToolCall(f"call_{len(self.seen)}", name, arguments)
        return ChatResult("", "tool_calls", Usage(0, 0), self.name, [call])

    def _stream(self, messages, params, json_schema):  # type: ignore[no-untyped-def]
        raise NotImplementedError


EMAIL = {"email": "yusuf.khan7390@example.com"}
CANCEL = {"order_id": "#W1787190", "reason": "no longer needed"}


def test_a_repeated_read_is_answered_without_running_it(template: Store) -> None:
    env = Environment(episode_store(template))
    find = ("find_user_id_by_email", EMAIL)
    engine = ScriptedEngine([find, find, "Hello Yusuf, how can I help?"])
    reply = LLMAgent(engine, env).respond(said(env, f"Hi, my email is {EMAIL['email']}"))
    assert reply == "Hello Yusuf, how can I help?"
    assert [c.name for c in env.calls] == ["find_user_id_by_email"]  # run once
    repeated = engine.seen[2][-1]
    assert repeated["role"] == "tool" and repeated["content"].startswith("Already answered")
    assert "yusuf_khan_7091" in repeated["content"] and "Reply to the user" in repeated["content"]
    assert engine.tools_offered == [True, True, False]  # after the repeat it may only reply


def test_a_write_runs_only_after_the_yes_to_it_and_clears_answered_reads(template) -> None:  # type: ignore[no-untyped-def]
    env = Environment(episode_store(template))
    order = ("get_order_details", {"order_id": "#W1787190"})
    engine = ScriptedEngine(
        [
            ("find_user_id_by_email", EMAIL),
            order,
            ("cancel_pending_order", CANCEL),
            "I will cancel order #W1787190 (no longer needed). Shall I go ahead?",
            order,  # the user's yes ran the cancel before this step
            "Done: order #W1787190 is cancelled.",
        ]
    )
    agent = LLMAgent(engine, env)
    env.user_says(text := f"Cancel order #W1787190, I no longer need it. {EMAIL['email']}")
    env.agent_says(agent.respond(text))
    assert get_order(env.db, order_id="#W1787190")["status"] == "pending"  # held, not run
    env.user_says("Yes, please.")
    agent.respond("Yes, please.")
    assert get_order(env.db, order_id="#W1787190")["status"] == "cancelled"
    # The yes ran the held call, shown to the model as its call and result, before its step.
    yes_at = engine.seen[4].index({"role": "user", "content": "Yes, please."})
    call, result = engine.seen[4][yes_at + 1 :]
    assert call["tool_calls"][0]["function"]["name"] == "cancel_pending_order"
    assert result["role"] == "tool" and '"status":"cancelled"' in result["content"]
    # The order was read again after the write (not "already answered"): it shows the cancel.
    assert [c.name for c in env.calls].count("get_order_details") == 2
    assert '"status":"cancelled"' in engine.seen[-1][-1]["content"]


def test_a_spent_step_budget_transfers_to_a_human(template: Store) -> None:
    env = Environment(episode_store(template))
    script = [("get_product_details", {"product_id": str(i)}) for i in range(3)]
    reply = LLMAgent(ScriptedEngine(script), env, max_steps=3).respond("Tell me everything")
    assert reply.startswith(TRANSFER_TEXT)
    assert env.calls[-1].name == "transfer_to_human_agents"
    assert "3 steps" in env.calls[-1].arguments["summary"]


def test_an_agent_episode_is_recorded_with_its_tool_turns_and_exported_in_trl_form(
    template: Store, tmp_path: Path
) -> None:
    log = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    engine = RecordedEngine(
        ScriptedEngine([("find_user_id_by_email", EMAIL), "Hello Yusuf, how can I help?"]), log
    )
    env = Environment(episode_store(template))
    LLMAgent(engine.as_engine(), env).respond(said(env, f"Hi, my email is {EMAIL['email']}"))
    stored = get_conversation(log, conversation_id=engine.conversation_id)["messages"]
    assert [m["role"] for m in stored] == ["system", "user", "assistant", "tool", "assistant"]
    assert stored[2]["tool_calls"] == [
        {"id": "call_1", "name": "find_user_id_by_email", "arguments": EMAIL}
    ]
    assert stored[3]["tool_call_id"] == "call_1" and "yusuf_khan_7091" in stored[3]["content"]
    # What it could call is kept by name (the narrowed schemas would repeat the tool list).
    first, second = stored[2]["sampling"]["allowed_tools"], stored[4]["sampling"]["allowed_tools"]
    assert "find_user_id_by_email" in first and "get_user_details" not in first
    assert "get_user_details" in second and stored[4]["sampling"]["tools"] == tool_schemas()

    add_feedback(log, message_id=engine.message_id, rating="up")
    [row] = feedback_rows(feedback_examples(log), "sft")
    call, result, reply = row["messages"][2:]
    assert call["tool_calls"] == [
        {
            "type": "function",
            "function": {"name": "find_user_id_by_email", "arguments": EMAIL},
            "id": "call_1",
        }
    ]
    assert result["role"] == "tool" and result["name"] == "find_user_id_by_email"
    assert reply == {"role": "assistant", "content": "Hello Yusuf, how can I help?"}
    assert json.loads(row["tools"]) == tool_schemas()  # what the model was offered, for training
    redacted = json.dumps(redact_rows([row]))  # the export's default
    assert EMAIL["email"] not in redacted and '"name": "find_user_id_by_email"' in redacted


def test_judged_episodes_become_feedback_on_their_recorded_conversations(
    template: Store, tmp_path: Path
) -> None:
    from pasar.apps.taskbot.labels import label_episodes

    log = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    engine = RecordedEngine(
        ScriptedEngine(
            [
                ("find_user_id_by_email", {"email": "nobody@example.com"}),  # an error
                ("find_user_id_by_email", EMAIL),
                "Hello Yusuf, how can I help?",
            ]
        ),
        log,
    )
    env = Environment(episode_store(template))
    LLMAgent(engine.as_engine(), env).respond(said(env, f"Hi, it's Yusuf, {EMAIL['email']}"))
    episode = {"scenario": "s", "conversation_id": engine.conversation_id, "success": True}
    counts = label_episodes(log, [episode, {"scenario": "t", "success": False}])
    assert counts == {"episodes": 1, "not_recorded": 1, "up": 2, "down": 1}
    assert label_episodes(log, [episode])["up"] == 0  # labelled once only
    ratings = {e.answer_tool_calls[0]["arguments"]["email"] if e.answer_tool_calls else e.answer:
               e.rating for e in feedback_examples(log)}  # fmt: skip
    assert ratings == {
        "nobody@example.com": "down",
        EMAIL["email"]: "up",
        "Hello Yusuf, how can I help?": "up",
    }
    # A failed episode with nothing located: only its last answer is marked.
    failed = RecordedEngine(ScriptedEngine(["Sorry, what is your email?"]), log)
    LLMAgent(failed.as_engine(), Environment(episode_store(template))).respond("Hi")
    lost = {"scenario": "u", "conversation_id": failed.conversation_id, "success": False}
    assert label_episodes(log, [lost]) == {"episodes": 1, "not_recorded": 0, "up": 0, "down": 1}


def test_an_evaluated_episode_names_its_recorded_conversation(template: Store, tmp_path) -> None:
    log = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    scenario = load_scenarios(EXAMPLES, "heldout")[0]
    replies = [f"Hello ({i}), how can I help you today?" for i in range(8)]

    def factory(env, language):  # type: ignore[no-untyped-def]
        return LLMAgent(RecordedEngine(ScriptedEngine(list(replies)), log).as_engine(), env)

    _, [episode] = evaluate([scenario_case(scenario)], factory, template, max_turns=2)
    stored = get_conversation(log, conversation_id=episode.conversation_id)["messages"]
    assert stored[1] == stored[1] | {"role": "user", "content": episode.transcript[0]["content"]}


def test_a_held_write_repeated_is_not_called_again_until_the_user_speaks(template: Store) -> None:
    env = Environment(episode_store(template))
    cancel = ("cancel_pending_order", CANCEL)
    engine = ScriptedEngine(
        [
            ("find_user_id_by_email", EMAIL),
            cancel,
            cancel,  # the model asks again instead of asking the user
            "I will cancel order #W1787190 (no longer needed). Shall I go ahead?",
            cancel,  # after the user's yes (which ran it): the model calls it again
            "Done: order #W1787190 is cancelled.",
        ]
    )
    agent = LLMAgent(engine, env)
    env.user_says(text := f"Cancel order #W1787190, I no longer need it. {EMAIL['email']}")
    env.agent_says(agent.respond(text))
    repeated = engine.seen[3][-1]
    assert repeated["role"] == "tool" and repeated["content"].startswith("Already held")
    assert [c.name for c in env.calls].count("cancel_pending_order") == 1  # held once
    env.user_says("Yes, please.")
    assert agent.respond("Yes, please.").startswith("Done: order #W1787190 is cancelled.")
    assert get_order(env.db, order_id="#W1787190")["status"] == "cancelled"
    # Made once: the model's own call after the yes is told it was done, not held anew.
    assert [c.name for c in env.calls].count("cancel_pending_order") == 2  # held, then run
    again = engine.seen[-1][-1]
    assert again["role"] == "tool" and again["content"].startswith("Already done")
    assert env.proposed is None


SORRY = "I'm sorry, but I can't assist with that. Please try again."


def test_a_repeated_reply_is_not_sent_and_the_model_is_told_to_answer_the_latest_message(
    template: Store,
) -> None:
    env = Environment(episode_store(template))
    engine = ScriptedEngine(
        [
            SORRY,
            ("find_user_id_by_email", EMAIL),
            "  i'm sorry, but I CAN'T assist with that.\nPlease try again. ",  # the same reply
            "Hello Yusuf, how can I help?",
        ]
    )
    agent = LLMAgent(engine, env)
    assert agent.respond("Hi") == SORRY
    latest = f"My email is {EMAIL['email']}"
    assert agent.respond(said(env, latest)) == "Hello Yusuf, how can I help?"
    assert env.user_id == "yusuf_khan_7091"
    # The retry after the repeat is sampled (greedy decoding writes the same words again).
    assert engine.temperatures == [0.0, 0.0, 0.0, RETRY_TEMPERATURE]
    # The model saw its repeat as its own turn, then a note in the user's role (no tool call
    # to answer) quoting the user's latest message.
    repeat, note = engine.seen[3][-2:]
    assert repeat["role"] == "assistant" and "CAN'T" in repeat["content"]
    assert note["role"] == "user" and note["content"].startswith(REPEATED_REPLY_NOTE)
    assert latest in note["content"] and "make a call" in note["content"]
    # A model that repeats itself until the step budget is spent: the user is transferred.
    stuck = LLMAgent(ScriptedEngine([SORRY, SORRY, SORRY.upper()]), env, max_steps=2)
    stuck.respond("Hi")
    assert stuck.respond(latest).startswith(TRANSFER_TEXT) and stuck.transferred


def test_a_repeated_reply_is_labelled_down_in_a_passed_episode(
    template: Store, tmp_path: Path
) -> None:
    from pasar.apps.taskbot.labels import label_episodes

    log = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    engine = RecordedEngine(ScriptedEngine([SORRY, SORRY, "Hello, how can I help?"]), log)
    agent = LLMAgent(engine.as_engine(), Environment(episode_store(template)))
    agent.respond("Hi")
    agent.respond("Hello?")
    episode = {"scenario": "s", "conversation_id": engine.conversation_id, "success": True}
    assert label_episodes(log, [episode]) == {
        "episodes": 1, "not_recorded": 0, "up": 2, "down": 1
    }  # fmt: skip
    ratings = [(e.answer, e.rating) for e in feedback_examples(log)]
    assert sorted(ratings) == [("Hello, how can I help?", "up"), (SORRY, "down"), (SORRY, "up")]


def test_a_transfer_called_by_the_model_ends_the_turn(template: Store) -> None:
    env = Environment(episode_store(template))
    summary = {"summary": "The user wants a warranty repair."}
    engine = ScriptedEngine([("transfer_to_human_agents", summary), "Anything else?"])
    agent = LLMAgent(engine, env)
    assert agent.respond("I want a warranty repair") == f"{TRANSFER_TEXT}. PLEASE HOLD ON."
    assert agent.transferred and engine.script == ["Anything else?"]  # not asked again
    assert [(c.name, c.arguments) for c in env.calls] == [("transfer_to_human_agents", summary)]
    # A transfer call the environment does not run (bad arguments) ends nothing.
    env = Environment(episode_store(template))
    agent = LLMAgent(ScriptedEngine([("transfer_to_human_agents", {}), "How can I help?"]), env)
    assert agent.respond("Hi") == "How can I help?" and not agent.transferred
    assert env.calls[0].observation.error


def test_an_episode_ends_when_either_agent_transfers(template: Store) -> None:
    scenario = load_scenarios(EXAMPLES, "heldout")[0]
    summary = {"summary": "The user asked for a human."}

    def llm_agent(env, language):  # type: ignore[no-untyped-def]
        script = [("transfer_to_human_agents", summary)] + [f"Reply {i}" for i in range(20)]
        return LLMAgent(ScriptedEngine(script), env, language)

    _, [episode] = evaluate([scenario_case(scenario)], llm_agent, template, max_turns=4)
    assert episode.turns == 1
    said = episode.transcript[-1]
    assert said == {"role": "assistant", "content": f"{TRANSFER_TEXT}. PLEASE HOLD ON."}
    flows = FlowsAgent(Environment(episode_store(template)))
    assert flows.respond("I want to talk to a real person").startswith(TRANSFER_TEXT)
    assert flows.transferred


def test_a_failed_call_repeated_in_the_turn_is_not_run_again(template: Store) -> None:
    """The 1.5B repeated one refused write eight times in a turn; the second is not run and the
    model is told to ask the user instead. A call that works in between clears the memory."""
    env = Environment(episode_store(template))
    cancel = ("cancel_pending_order", CANCEL)
    engine = ScriptedEngine([cancel, cancel, "What is your email?"])
    assert LLMAgent(engine, env).respond(said(env, "Cancel #W1787190")) == "What is your email?"
    assert [c.name for c in env.calls] == ["cancel_pending_order"]  # refused once, not again
    again = engine.seen[2][-1]
    assert again["role"] == "tool" and again["content"].startswith("Already tried")
    assert "authenticate" in again["content"]
    assert engine.tools_offered == [True, True, False]  # then it may only reply


def test_a_reply_to_a_held_write_asks_for_the_yes_naming_the_exact_change(template: Store) -> None:
    """The model lists the change and stops; the agent adds the question naming the exact
    change it holds (tool and arguments, the order id among them), so the user's yes covers
    what will run, whatever the model said of it."""
    env = Environment(episode_store(template))
    engine = ScriptedEngine(
        [
            ("find_user_id_by_email", EMAIL),
            ("cancel_pending_order", CANCEL),
            "I will cancel your order because you no longer need it.",
            ("cancel_pending_order", CANCEL),
            "Done.",
        ]
    )
    agent = LLMAgent(engine, env, language="id")
    reply = agent.respond(said(env, f"Batalkan #W1787190, tidak perlu lagi. {EMAIL['email']}"))
    assert reply.startswith("I will cancel your order")
    assert reply.endswith(
        "(cancel_pending_order: order_id=#W1787190, reason=no longer needed) saya lanjutkan "
        "(ya/tidak)?"
    )
    assert agent.messages[-1] == {"role": "assistant", "content": reply}
    env.agent_says(reply)
    agent.respond(said(env, "Ya"))
    assert get_order(env.db, order_id="#W1787190")["status"] == "cancelled"


def test_the_scripted_user_says_no_to_another_kind_of_change(template: Store) -> None:
    """The 1.5B held a payment change for a customer who asked for an exchange, called it
    "the exchange", and the scripted user said yes (the store refused it only because the
    order was delivered). The agent's question names the held tool; a careful user says no."""
    from pasar.apps.taskbot.scenarios import NOT_ASKED, ScriptedUser

    [exchange] = [s for s in load_scenarios(EXAMPLES, "heldout") if s.id == "en-exchange-bottle"]
    user = ScriptedUser(exchange)
    wrong = "I will exchange it.\n" + CONFIRM["en"].format(
        target="modify_pending_order_payment: order_id=#W6798117, payment_method_id=paypal_1"
    )
    assert user.reply(wrong) == NOT_ASKED["en"]
    right = "I will exchange it.\n" + CONFIRM["en"].format(
        target="exchange_delivered_order_items: order_id=#W6798117"
    )
    assert user.reply(right) == exchange.answers["confirm"]
    flows = "Here is what I will do: in order #W6798117, change ... Shall I proceed (yes/no)?"
    assert ScriptedUser(exchange).reply(flows) == exchange.answers["confirm"]  # names no tool


def test_an_empty_answer_is_not_sent_and_is_sampled_again(template: Store) -> None:
    env = Environment(episode_store(template))
    engine = ScriptedEngine(["", "How can I help?"])
    assert LLMAgent(engine, env).respond(said(env, "Hi")) == "How can I help?"
    assert engine.temperatures == [0.0, RETRY_TEMPERATURE]


def test_the_simulated_user_is_shown_the_agent_as_the_agent_and_samples_per_trial() -> None:
    """The agent's turns reach the user model labelled as the agent's (the 1.5B, shown them
    bare, greeted back as the agent in 7 of 12 episodes); each trial samples with its seed."""
    task = load_tasks(SHARED_DATA / "retail" / "tasks_train.json")[0]
    engine = ScriptedEngine(["Hi, I want to exchange a few items.", "It is yusuf@example.com"])
    user = SimulatedUser(engine, task, temperature=USER_TEMPERATURE, seed=3)
    assert user.first() == "Hi, I want to exchange a few items."
    assert user.reply("What is your email?") == "It is yusuf@example.com"
    shown = [m for m in engine.seen[1] if m["role"] == "user"]
    assert [m["content"] for m in shown] == [
        AGENT_TURN.format(text="Hi! How can I help you today?"),
        AGENT_TURN.format(text="What is your email?"),
    ]
    assert shown[0]["content"].startswith("The agent says: ")
    assert engine.temperatures == [USER_TEMPERATURE] * 2 and engine.seeds == [3, 3]


def test_every_repeated_call_the_agent_answers_for_the_model_is_labelled_down() -> None:
    """Answered, held or already tried: each observation the agent writes instead of running a
    call marks the answer that made the call (a repeated failed call was labelled up before)."""
    from pasar.apps.taskbot.labels import answer_labels

    messages = [{"id": "u", "role": "user", "content": "Hi"}]
    repeats = ["Already answered: x", "Already held: x", "Already tried: x", "Already done: x"]
    for i, text in enumerate(repeats):
        call = {"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        messages += [
            {"id": f"a{i}", "role": "assistant", "model": "m", "content": "", "tool_calls": [call]},
            {"id": f"t{i}", "role": "tool", "tool_call_id": f"c{i}", "content": text},
        ]
    messages.append({"id": "end", "role": "assistant", "model": "m", "content": "Done."})
    assert answer_labels(messages, success=True) == {
        "a0": "down",
        "a1": "down",
        "a2": "down",
        "a3": "down",
        "end": "up",
    }


def test_a_local_model_may_write_only_calls_the_policy_would_run(template: Store) -> None:
    """Under the JSON protocol the agent holds decoding to ``Environment.callable_tools``: no
    write before the sign-in, ids only as heard; the model still reads all 16 tools."""

    class JsonEngine(Engine):
        kind = "json"

        def __init__(self, answers: list[str]) -> None:
            super().__init__("json")
            self.answers, self.callable, self.shown = answers, [], []

        def _complete(self, messages, params, json_schema, tools):  # type: ignore[no-untyped-def]
            self.callable.append(re.findall(r"'name': \{'const': '(\w+)'\}", str(json_schema)))
            self.shown.append(messages[0]["content"].count("("))
            return ChatResult(self.answers.pop(0), "stop", Usage(0, 0), self.name)

        def _stream(self, messages, params, json_schema):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    env = Environment(episode_store(template))
    call = {"name": "find_user_id_by_email", "arguments": EMAIL}
    ask, hello = '{"content": "Your email, please?"}', '{"content": "Hi"}'
    engine = JsonEngine([ask, json.dumps({"tool_calls": [call]}), hello])
    agent = LLMAgent(engine, env)
    agent.respond(said(env, "Cancel order #W1787190, please"))
    assert "cancel_pending_order" not in engine.callable[0]
    assert "find_user_id_by_email" not in engine.callable[0]  # nobody said an email yet
    assert engine.callable[0] == []  # at the greeting the model can only reply
    agent.respond(said(env, f"It is {EMAIL['email']}"))
    assert "find_user_id_by_email" in engine.callable[1] and env.user_id == "yusuf_khan_7091"
    assert "cancel_pending_order" in engine.callable[2]  # signed in, the order id was heard
    assert "find_user_id_by_email" not in engine.callable[2]  # just called: reply or another
    assert engine.shown[0] == engine.shown[2] >= len(TOOLS)


def test_the_step_after_a_held_write_may_only_ask_for_the_yes(template: Store) -> None:
    env = Environment(episode_store(template))
    engine = ScriptedEngine(
        [
            ("find_user_id_by_email", EMAIL),
            ("cancel_pending_order", CANCEL),
            "I will cancel order #W1787190 (no longer needed). Shall I go ahead?",
        ]
    )
    agent = LLMAgent(engine, env)
    reply = agent.respond(
        said(env, f"Cancel order #W1787190, I no longer need it. {EMAIL['email']}")
    )
    assert reply.startswith("I will cancel order #W1787190")
    assert engine.tools_offered == [True, True, False]  # no second change over the held one
    assert env.proposed is not None and env.proposed.name == "cancel_pending_order"


def test_the_reply_after_a_confirmed_change_says_what_it_did_in_figures(template: Store) -> None:
    env = Environment(episode_store(template))
    engine = ScriptedEngine(
        [
            ("find_user_id_by_email", EMAIL),
            ("cancel_pending_order", CANCEL),
            "I will cancel order #W1787190 (no longer needed). Shall I go ahead?",
            "The order has been cancelled.",  # the model leaves the refund out
            "Anything else?",
        ]
    )
    agent = LLMAgent(engine, env)
    env.agent_says(agent.respond(said(env, f"Cancel #W1787190, not needed. {EMAIL['email']}")))
    env.user_says("Yes, please.")
    reply = agent.respond("Yes, please.")
    assert reply == (
        "The order has been cancelled.\nDone: cancel_pending_order: order #W1787190 is "
        "cancelled; refund $3189.44 (paypal_5796936)."
    )
    assert agent.respond("Thanks") == "Anything else?"  # told once


def test_the_scripted_user_says_no_to_a_change_of_another_order() -> None:
    """The 1.5B cancelled the order the user named, then put a cancel of another of the user's
    orders, and the scripted user said yes: a careful user checks the order too."""
    from pasar.apps.taskbot.scenarios import NOT_ASKED, ScriptedUser

    [cancel] = [s for s in load_scenarios(PARAPHRASES) if s.id == "para-en-cancel"]
    other = CONFIRM["en"].format(target="cancel_pending_order: order_id=#W1787190")
    assert ScriptedUser(cancel).reply(other) == NOT_ASKED["en"]
    theirs = CONFIRM["en"].format(target="cancel_pending_order: order_id=#W3579467")
    assert ScriptedUser(cancel).reply(theirs) == cancel.answers["confirm"]
