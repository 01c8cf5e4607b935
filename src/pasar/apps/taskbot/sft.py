"""SFT trajectories for the LLM agent, in TRL's ``messages`` format.

Two sources:
- pasar scenarios (``examples/taskbot/*.json``): the flows agent plays each one against the
  scripted user; the episodes the judge passes (corrections included) become trajectories;
- tau2-bench tasks (``tasks_train.json``): the gold actions are replayed on a fresh store with
  their real observations, between user turns written from the task (its reason for calling and
  what the user knows, in first person) and agent turns from the flows' templates, in each
  requested language (the user's request stays in English, as the task gives it).

``render="local"`` writes what a local engine sees and emits: the tool list as a system message,
every assistant turn as the constrained JSON ({"tool_calls": [...]} or {"content": ...}) and
tool results in the ``tool`` role when the student's chat template has one (``tool_role``), as
user messages otherwise;
``render="openai"`` keeps the tool messages in TRL's tool-calling form (``tool_calls`` with
arguments as objects, ``tool`` results named by their call) with a ``tools`` column (a JSON
string), for models whose chat template handles tools: the template then renders each row as
the engine renders the agent's conversation under the template protocol.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from pasar.apps.taskbot.environment import Environment, episode_store
from pasar.apps.taskbot.evaluation import run_episode, scenario_case, score_episode
from pasar.apps.taskbot.flows import FlowsAgent, flow_spec
from pasar.apps.taskbot.judge import gold_hash
from pasar.apps.taskbot.llm_agent import call_message, local_history, system_message
from pasar.apps.taskbot.policy import AUTH_TOOLS, YES
from pasar.apps.taskbot.scenarios import Scenario
from pasar.apps.taskbot.simulator import Task
from pasar.apps.taskbot.tools import TOOLS, tool_schemas
from pasar.data.feedback import trl_messages
from pasar.models.schema import with_tools
from pasar.models.types import Message, ToolCall
from pasar.store.commerce import get_order, get_user
from pasar.store.db import Store

Render = Literal["local", "openai"]
FIRST_PERSON = [
    (r"\bYou are\b", "I am"),
    (r"\byou are\b", "I am"),
    (r"\bYou're\b", "I'm"),
    (r"\byou're\b", "I'm"),
    (r"\bYou'd\b", "I'd"),
    (r"\byou'd\b", "I'd"),
    (r"\bYour\b", "My"),
    (r"\byour\b", "my"),
    (r"\byourself\b", "myself"),
    (r"\bYou\b", "I"),
    (r"\byou\b", "I"),
]


def first_person(text: str) -> str:
    """A task's second-person instructions as the user would say them."""
    for pattern, replacement in FIRST_PERSON:
        text = re.sub(pattern, replacement, text)
    return text


def _say(key: str, language: str, **values: Any) -> str:
    templates = flow_spec()["say"][key]
    return str(templates.get(language, templates["en"])).format(**values)


def _tool_turn(env: Environment, name: str, arguments: dict[str, Any]) -> list[Message]:
    call = ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=name, arguments=arguments)
    observation = env.call(name, arguments)
    return [
        call_message(call),
        {"role": "tool", "tool_call_id": call.id, "content": observation.content},
    ]


def scenario_trajectory(scenario: Scenario, template: Store) -> list[Message] | None:
    """The flows agent's episode as LLM-agent messages, or None if the judge fails it."""
    case = scenario_case(scenario)
    env = Environment(episode_store(template))
    transcript, _, _ = run_episode(
        lambda e, lang: FlowsAgent(e, lang), case.make_user(0), env, language=scenario.language
    )
    gold = gold_hash(template, scenario.gold_actions)
    if not score_episode(env, transcript, gold=gold, facts=scenario.facts)["success"]:
        return None
    messages = [system_message(scenario.language)]
    records = iter(env.calls)  # the transcript's tool entries, in order, with full results
    for entry in transcript:
        if entry["role"] == "tool":
            record = next(records)
            call = ToolCall(f"call_{uuid.uuid4().hex[:24]}", record.name, record.arguments)
            messages.append(call_message(call))
            messages.append(
                {"role": "tool", "tool_call_id": call.id, "content": record.observation.content}
            )
        else:
            messages.append({"role": entry["role"], "content": entry["content"]})
    if messages[-1]["role"] == "user":
        messages.pop()  # the closing needs no answer
    return messages


def _owner_email(env: Environment, actions: list[dict[str, Any]]) -> str | None:
    for action in actions:
        arguments = action["arguments"]
        try:
            if "user_id" in arguments:
                return str(get_user(env.db, user_id=arguments["user_id"])["email"])
            if "order_id" in arguments:
                user_id = get_order(env.db, order_id=arguments["order_id"])["user_id"]
                return str(get_user(env.db, user_id=user_id)["email"])
        except LookupError:
            continue
    return None


def task_trajectory(task: Task, template: Store, language: str) -> list[Message] | None:
    """A tau2 task's gold actions, with user and agent turns around them; None when a gold
    action fails (a few tau2 tasks keep a failing call), since that teaches a wrong call."""
    env = Environment(episode_store(template))
    lines = [line.lstrip("- ") for line in task.scenario.splitlines()]
    messages = [system_message(language)]

    def user(text: str) -> None:
        env.user_says(text)
        messages.append({"role": "user", "content": text})

    def agent(text: str) -> None:
        env.agent_says(text)
        messages.append({"role": "assistant", "content": text})

    actions = list(task.gold_actions)
    identity = first_person(" ".join(lines[1:2])) or "Here are my details."
    if not any(a["name"] in AUTH_TOOLS for a in actions):
        # Many tau2 tasks list only the writes: authenticate by the email of the order's owner.
        email = _owner_email(env, actions)
        if email is None:
            return None
        identity = f"My email is {email}."
        actions.insert(0, {"name": "find_user_id_by_email", "arguments": {"email": email}})
    user(first_person(lines[0]))
    agent(_say("ask_identity", language))
    user(identity)
    for action in actions:
        name, arguments = action["name"], action["arguments"]
        if TOOLS[name].kind == "write":
            messages.extend(_tool_turn(env, name, arguments))  # held until the user's yes
            details = f"{name} {json.dumps(arguments, ensure_ascii=False)}"
            agent(_say("summary", language, action=details))
            user(YES[language][0].capitalize() + ".")
        messages.extend(_tool_turn(env, name, arguments))
        if env.calls[-1].observation.error:
            return None
        if TOOLS[name].kind == "write":
            result = json.loads(messages[-1]["content"])
            if "order_id" in result:
                done = _say(
                    "result_order",
                    language,
                    order_id=result["order_id"],
                    status=result.get("status", ""),
                )
            else:
                done = _say("result_user", language, address=json.dumps(result.get("address")))
            agent(_say("done", language, result=done))
    if messages[-1]["role"] != "assistant":
        agent(_say("done", language, result="; ".join(task.facts) or "OK"))
    return messages


def render_row(messages: list[Message], render: Render, tool_role: bool = False) -> dict[str, Any]:
    tools = tool_schemas()
    if render == "openai":
        return {"messages": trl_messages(messages), "tools": json.dumps(tools, ensure_ascii=False)}
    rendered = with_tools(local_history(messages), tools, tool_role)
    return {"messages": [{"role": m["role"], "content": m["content"]} for m in rendered]}


def sft_rows(
    template: Store,
    *,
    scenarios: list[Scenario],
    tasks: list[Task],
    languages: tuple[str, ...],
    render: Render = "local",
    tool_role: bool = False,
) -> Iterator[dict[str, Any]]:
    """Trajectories from scenarios (passing flows episodes) and tasks (every language)."""
    for scenario in scenarios:
        messages = scenario_trajectory(scenario, template)
        if messages is not None:
            yield {**render_row(messages, render, tool_role), "source": scenario.id}
    for task in tasks:
        for language in languages:
            messages = task_trajectory(task, template, language)
            if messages is not None:
                row = render_row(messages, render, tool_role)
                yield {**row, "source": f"tau2-{task.id}-{language}"}
