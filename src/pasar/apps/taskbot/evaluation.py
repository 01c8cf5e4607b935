"""Running episodes and scoring them: completion, correction, pass^k, turns, errors, refusals.

An episode: a fresh copy of the store, an agent, a user (scripted scenario or simulated tau2
task), turns until the user is done, the agent has transferred them to a human (its
``transferred``), or ``max_turns``. It succeeds when the final state hash equals the gold one
and every required fact was said (``judge.py``). Episodes are appended to a JSONL file as they
finish, so a killed evaluation resumes where it stopped.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from math import comb
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from pasar.apps.taskbot.environment import Environment, episode_store
from pasar.apps.taskbot.judge import gold_hash, missing_facts, state_hash
from pasar.apps.taskbot.policy import AUTH_TOOLS
from pasar.apps.taskbot.scenarios import Scenario, ScriptedUser
from pasar.apps.taskbot.simulator import Task
from pasar.data.files import jsonl_line
from pasar.store.db import Store


class Agent(Protocol):
    transferred: bool  # set once the agent handed the user to a human (ends an episode)

    def respond(self, text: str) -> str: ...


class User(Protocol):
    done: bool

    def first(self) -> str: ...

    def reply(self, agent_text: str) -> str: ...


AgentFactory = Callable[[Environment, str], Agent]  # (environment, language) -> agent


@dataclass
class Episode:
    scenario: str
    language: str
    trial: int
    success: bool
    state_ok: bool
    missing_facts: list[str]
    has_correction: bool
    turns: int
    tool_calls: int
    tool_errors: int
    refusals: int
    final_hash: str
    gold_hash: str
    transcript: list[dict[str, Any]]
    signed_in: bool = False
    seconds: float = 0.0  # wall time of the episode, the user simulator's turns included
    conversation_id: str | None = None  # where the store recorded the agent's LLM conversation


def signed_in(transcript: list[dict[str, Any]]) -> bool:
    """Whether a sign-in tool found the user: the first step of every task, so the rate says
    how far an agent that completes nothing gets."""
    return any(
        t["role"] == "tool"
        and t["name"] in AUTH_TOOLS
        and not t["content"].startswith(("Error", "Refused"))
        for t in transcript
    )


def run_episode(
    agent_factory: AgentFactory,
    user: User,
    env: Environment,
    *,
    language: str,
    max_turns: int = 12,
) -> tuple[list[dict[str, Any]], int, Agent]:
    """Play one conversation; returns the transcript (user, assistant and tool entries), the
    number of user turns and the agent."""
    agent = agent_factory(env, language)
    transcript: list[dict[str, Any]] = []
    text = user.first()
    turns = 0
    while turns < max_turns:
        turns += 1
        env.user_says(text)
        transcript.append({"role": "user", "content": text})
        if user.done:
            break
        calls_before = len(env.calls)
        reply = agent.respond(text)
        env.agent_says(reply)
        for record in env.calls[calls_before:]:
            transcript.append(
                {
                    "role": "tool",
                    "name": record.name,
                    "arguments": record.arguments,
                    "content": record.observation.content[:500],
                }
            )
        transcript.append({"role": "assistant", "content": reply})
        if agent.transferred:
            break
        text = user.reply(reply)
    return transcript, turns, agent


def score_episode(
    env: Environment,
    transcript: list[dict[str, Any]],
    *,
    gold: str,
    facts: list[str],
) -> dict[str, Any]:
    final = state_hash(env)
    said = [m["content"] for m in transcript if m["role"] == "assistant"]
    missing = missing_facts(facts, said)
    return {
        "success": final == gold and not missing,
        "state_ok": final == gold,
        "missing_facts": missing,
        "tool_calls": len(env.calls),
        "tool_errors": sum(c.observation.error and not c.observation.refused for c in env.calls),
        "refusals": sum(c.observation.refused for c in env.calls),
        "final_hash": final,
        "gold_hash": gold,
    }


def pass_hat_k(successes: dict[str, list[bool]], k: int) -> float:
    """tau-bench's pass^k: the chance that k trials of a task all succeed, averaged over tasks
    (per task C(c, k) / C(n, k) for c successes in n trials)."""
    scores = [comb(sum(s), k) / comb(len(s), k) for s in successes.values() if len(s) >= k]
    return sum(scores) / len(scores) if scores else 0.0


def _rates(episodes: list[Episode]) -> dict[str, Any]:
    corrected = [e for e in episodes if e.has_correction]
    n = len(episodes)
    return {
        "episodes": n,
        "completion_rate": sum(e.success for e in episodes) / n if n else 0.0,
        "state_match_rate": sum(e.state_ok for e in episodes) / n if n else 0.0,
        "signed_in_rate": sum(e.signed_in for e in episodes) / n if n else 0.0,
        "correction_rate": (
            sum(e.state_ok for e in corrected) / len(corrected) if corrected else None
        ),
        "correction_episodes": len(corrected),
        "mean_turns": sum(e.turns for e in episodes) / n if n else 0.0,
        "seconds_per_episode": sum(e.seconds for e in episodes) / n if n else 0.0,
        "tool_calls": sum(e.tool_calls for e in episodes),
        "tool_errors": sum(e.tool_errors for e in episodes),
        "policy_refusals": sum(e.refusals for e in episodes),
    }


def summarise(episodes: list[Episode], trials: int) -> dict[str, Any]:
    by_task: dict[str, list[bool]] = defaultdict(list)
    by_language: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        by_task[e.scenario].append(e.success)
        by_language[e.language].append(e)
    report = _rates(episodes)
    report["pass_hat_k"] = {str(k): pass_hat_k(by_task, k) for k in range(1, trials + 1)}
    report["by_language"] = {lang: _rates(group) for lang, group in sorted(by_language.items())}
    return report


@dataclass(frozen=True)
class Case:
    """One thing to evaluate: a scripted scenario or a tau2 task with its user."""

    id: str
    language: str
    gold_actions: list[dict[str, Any]]
    facts: list[str]
    has_correction: bool
    make_user: Callable[[int], User]  # trial -> user


def scenario_case(scenario: Scenario) -> Case:
    return Case(
        scenario.id,
        scenario.language,
        scenario.gold_actions,
        scenario.facts,
        scenario.correction is not None,
        lambda _trial: ScriptedUser(scenario),
    )


def task_case(task: Task, user_factory: Callable[[Task, int], User]) -> Case:
    return Case(
        task.id,
        task.language,
        task.gold_actions,
        task.facts,
        False,
        lambda trial: user_factory(task, trial),
    )


def _done(path: Path | None) -> dict[tuple[str, int], Episode]:
    if path is None or not path.exists():
        return {}
    done = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            row.setdefault("signed_in", signed_in(row["transcript"]))  # files from before it
            done[(row["scenario"], row["trial"])] = Episode(**row)
    return done


def evaluate(
    cases: Iterable[Case],
    agent_factory: AgentFactory,
    template: Store,
    *,
    trials: int = 1,
    max_turns: int = 12,
    episodes_file: Path | None = None,
) -> tuple[dict[str, Any], list[Episode]]:
    """Run every case ``trials`` times; returns the report and the episodes. Episodes already
    in ``episodes_file`` are kept, new ones appended as they finish."""
    if trials < 1:
        raise ValueError(f"trials={trials}: must be at least 1")
    cases = list(cases)
    done = _done(episodes_file)
    golds: dict[str, str] = {}
    episodes = []
    jobs = [(c, t) for c in cases for t in range(trials)]
    for case, trial in tqdm(jobs, desc="episodes", unit="ep"):
        if (case.id, trial) in done:
            episodes.append(done[(case.id, trial)])
            continue
        if case.id not in golds:
            golds[case.id] = gold_hash(template, case.gold_actions)
        env = Environment(episode_store(template))
        started = time.perf_counter()
        transcript, turns, agent = run_episode(
            agent_factory, case.make_user(trial), env, language=case.language, max_turns=max_turns
        )
        scores = score_episode(env, transcript, gold=golds[case.id], facts=case.facts)
        episode = Episode(
            scenario=case.id,
            language=case.language,
            trial=trial,
            has_correction=case.has_correction,
            turns=turns,
            transcript=transcript,
            signed_in=signed_in(transcript),
            seconds=round(time.perf_counter() - started, 3),
            conversation_id=getattr(getattr(agent, "engine", None), "conversation_id", None),
            **scores,
        )
        env.db.close()
        episodes.append(episode)
        if episodes_file is not None:
            episodes_file.parent.mkdir(parents=True, exist_ok=True)
            with episodes_file.open("a", encoding="utf-8") as f:
                f.write(jsonl_line(asdict(episode)))
    return summarise(episodes, trials), episodes
