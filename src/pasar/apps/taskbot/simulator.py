"""Tasks in tau2-bench's format (``tasks_train.json``) and an LLM user simulator for them.

The simulator is any pasar engine prompted with the task's user scenario (reason for the call,
what the user knows and does not know, how they behave); it plays the customer one message at
a time and ends the conversation with ###STOP###, as tau2-bench's user simulator does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pasar.errors import MissingInputError
from pasar.languages import LANGUAGE_NAMES
from pasar.models.engine import Engine
from pasar.models.types import Message

USER_PROMPT = """You are a customer talking to a retail store's customer-service agent.
Your situation:
{scenario}
Rules: write only the customer's next message, short and natural, in {language}. Give only the
information you are asked for, one piece at a time. Never make up an email, an order id or an
address you were not given. When your request is done, or cannot be done, write ###STOP###."""


# The simulated user samples (seed = the trial's number), so the trials of one task differ as
# real users do and pass^k measures consistency; the agent under test stays greedy.
USER_TEMPERATURE = 0.7
AGENT_TURN = "The agent says: {text}\n\nWrite your next message as the customer."


@dataclass(frozen=True)
class Task:
    id: str
    scenario: str  # the user's instructions, as text
    gold_actions: list[dict[str, Any]]
    facts: list[str] = field(default_factory=list)
    language: str = "en"

    @classmethod
    def from_tau2(cls, row: dict[str, Any]) -> Task:
        instructions = row["user_scenario"]["instructions"]
        if isinstance(instructions, str):
            scenario = instructions
        else:
            parts = ("reason_for_call", "known_info", "unknown_info", "task_instructions")
            scenario = "\n".join(f"- {instructions[k]}" for k in parts if instructions.get(k))
        criteria = row.get("evaluation_criteria") or {}
        return cls(
            id=str(row["id"]),
            scenario=scenario,
            gold_actions=[
                {"name": a["name"], "arguments": a.get("arguments") or {}}
                for a in criteria.get("actions") or []
            ],
            facts=[str(f) for f in criteria.get("communicate_info") or []],
        )


def is_tau2_file(rows: Any) -> bool:
    return isinstance(rows, list) and bool(rows) and "user_scenario" in rows[0]


def load_tasks(path: Path) -> list[Task]:
    if not path.exists():
        raise MissingInputError(
            f"{path}: no such task file (../shared/data/retail/tasks_train.json)"
        )
    rows = json.loads(path.read_text())
    if not is_tau2_file(rows):
        raise ValueError(f"{path} is not in tau2-bench's task format (no user_scenario)")
    return [Task.from_tau2(r) for r in rows]


class SimulatedUser:
    """A customer played by an engine; ``done`` once it says ###STOP###."""

    def __init__(self, engine: Engine, task: Task, *, temperature: float = 0.0, seed: int = 0):
        self.engine, self.task = engine, task
        self.temperature, self.seed = temperature, seed
        prompt = USER_PROMPT.format(
            scenario=task.scenario, language=LANGUAGE_NAMES.get(task.language, "English")
        )
        self.messages: list[Message] = [{"role": "system", "content": prompt}]
        self.done = False

    def _next(self) -> str:
        result = self.engine.chat(
            self.messages, max_tokens=96, temperature=self.temperature, seed=self.seed
        )
        text = result.text.strip() or "###STOP###"
        self.messages.append({"role": "assistant", "content": text})
        self.done = "###STOP###" in text
        return text

    def first(self) -> str:
        # The agent greets first in tau2-bench; the simulator answers that greeting.
        return self.reply("Hi! How can I help you today?")

    def reply(self, agent_text: str) -> str:
        # Roles are flipped: the agent's messages are the simulator's "user" turns, labelled as
        # the agent's, with a reminder of whom to play (an instruct model answers a "user" turn
        # as the assistant: the 1.5B greeted back as the agent, or echoed its question).
        self.messages.append({"role": "user", "content": AGENT_TURN.format(text=agent_text)})
        return self._next()
