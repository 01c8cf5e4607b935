"""``pasar taskbot``: evaluate the customer-service agents, make SFT data, chat with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pasar.cli.output import NoLog, console, run_guarded, write_report
from pasar.config import data_path

app = typer.Typer(
    help="Taskbot: customer-service tasks under policy on the retail store (LLM agent and "
    "hand-built flows).",
    no_args_is_help=True,
)

Db = Annotated[
    Path | None,
    typer.Option(
        help="Retail database JSON: the start state of every episode. Default: "
        "$PASAR_DATA_DIR/retail/db.json."
    ),
]
Model = Annotated[
    str | None,
    typer.Option(
        "--model", "-m", help="LLM for --agent llm or guided (name, GGUF, HF dir or URL)."
    ),
]
Engine = Annotated[str | None, typer.Option(help="Run the model on llamacpp, hf or http.")]
NCtx = Annotated[int, typer.Option(help="Context window for local engines, in tokens.")]


def _engine(model: str | None, engine: str | None, n_ctx: int) -> Any:
    """The model on ``n_ctx`` tokens of context: a setting, used by the engines that have one."""
    from pasar.config import get_settings
    from pasar.models.registry import load_engine

    settings = get_settings().model_copy(update={"n_ctx": n_ctx})
    return load_engine(model, engine=engine, settings=settings)


def _agent_factory(agent: str, model: str | None, engine: str | None, n_ctx: int, log: bool) -> Any:
    """What makes the agent of each episode, and the LLM it runs (None for flows); an LLM
    agent's conversation is recorded (``log``), one per episode."""
    if agent == "flows":
        from pasar.apps.taskbot.flows import FlowsAgent

        return (lambda env, language: FlowsAgent(env, language)), None
    if agent not in ("llm", "guided"):
        raise ValueError(f"--agent {agent!r}: use llm, guided or flows")
    from pasar.apps.taskbot.guided import GuidedAgent
    from pasar.apps.taskbot.llm_agent import LLMAgent
    from pasar.apps.taskbot.understanding import Understanding
    from pasar.store.db import open_configured_store
    from pasar.store.recorder import recording

    llm = _engine(model, engine, n_ctx)
    store = open_configured_store() if log else None
    if agent == "guided":
        return (
            lambda env, language: GuidedAgent(
                env, language, understanding=Understanding(recording(llm, store))
            )
        ), llm
    return (lambda env, language: LLMAgent(recording(llm, store), env, language)), llm


@app.command("eval")
@run_guarded
def eval_command(
    agent: Annotated[
        str,
        typer.Option(
            help="llm (tool-calling loop), flows (YAML flows) or guided (the flows, asking "
            "--model what their keywords miss)."
        ),
    ],
    scenarios: Annotated[
        Path,
        typer.Option(help="pasar scenarios (examples/taskbot/scenarios.json) or tau2 tasks."),
    ],
    out: Annotated[
        Path, typer.Option(help="Report JSON; episodes go beside it (.episodes.jsonl).")
    ],
    model: Model = None,
    engine: Engine = None,
    user_model: Annotated[
        str | None, typer.Option(help="LLM playing the user of tau2 tasks (default: --model).")
    ] = None,
    split: Annotated[str, typer.Option(help="Scenario rows: all, train or heldout.")] = "all",
    trials: Annotated[int, typer.Option(help="Runs per scenario (for pass^k).")] = 1,
    max_turns: Annotated[int, typer.Option(help="User turns before an episode is cut.")] = 10,
    limit: Annotated[int | None, typer.Option(help="Only the first N scenarios.")] = None,
    n_ctx: NCtx = 8192,
    db: Db = None,
    no_log: NoLog = False,
) -> None:
    """Run the agent on every scenario TRIALS times and write completion rate, correction rate,
    pass^k, mean turns, tool errors and policy refusals, overall and per language. A killed
    run resumes from the episodes file; delete it to start over."""
    from pasar.apps.taskbot.environment import load_template
    from pasar.apps.taskbot.evaluation import evaluate, scenario_case, task_case
    from pasar.apps.taskbot.scenarios import load_scenarios
    from pasar.apps.taskbot.simulator import (
        USER_TEMPERATURE,
        SimulatedUser,
        is_tau2_file,
        load_tasks,
    )

    if not scenarios.exists():
        raise ValueError(f"{scenarios}: no such file (see examples/taskbot/scenarios.json)")
    if is_tau2_file(json.loads(scenarios.read_text())):
        simulator = _engine(user_model or model, engine, n_ctx)
        cases = [
            task_case(
                t,
                lambda task, trial: SimulatedUser(
                    simulator, task, temperature=USER_TEMPERATURE, seed=trial
                ),
            )
            for t in load_tasks(scenarios)
        ]
    else:
        cases = [scenario_case(s) for s in load_scenarios(scenarios, split)]
    cases = cases[:limit] if limit else cases
    if not cases:
        raise ValueError(f"{scenarios} has no scenarios in split {split!r}")
    factory, llm = _agent_factory(agent, model, engine, n_ctx, log=not no_log)
    episodes_file = out.with_suffix(".episodes.jsonl")
    report, _ = evaluate(
        cases,
        factory,
        load_template(db or data_path("retail", "db.json")),
        trials=trials,
        max_turns=max_turns,
        episodes_file=episodes_file,
    )
    report = {
        "agent": agent,
        "model": model if agent != "flows" else None,
        "tool_format": getattr(llm, "tool_format", None),  # llama.cpp's json or template
        "scenarios": str(scenarios),
        "split": split,
        "trials": trials,
        **report,
        "episodes_file": str(episodes_file),
    }
    write_report(out, report)
    correction = report["correction_rate"]
    console.print(
        f"{agent}: completion {report['completion_rate']:.3f}, correction "
        f"{'n/a' if correction is None else f'{correction:.3f}'}, pass^1 "
        f"{report['pass_hat_k']['1']:.3f}, signed in {report['signed_in_rate']:.3f}, mean turns "
        f"{report['mean_turns']:.1f}, tool errors "
        f"{report['tool_errors']}, refusals {report['policy_refusals']} "
        f"({report['episodes']} episodes)"
    )
    for language, row in report["by_language"].items():
        console.print(
            f"  {language}  completion {row['completion_rate']:.3f}  (n={row['episodes']})"
        )


@app.command("label")
@run_guarded
def label_command(
    episodes: Annotated[
        Path, typer.Argument(help="An episodes file of `pasar taskbot eval` (recorded).")
    ],
    out: Annotated[Path | None, typer.Option(help="Also write the counts as JSON.")] = None,
) -> None:
    """Turn the judge's verdicts into feedback on the recorded conversations: thumbs down on
    each answer whose call failed (an error, a refusal, a repeat), thumbs up on the rest of a
    passed episode, thumbs down on the last answer of a failed one where nothing was located.
    Then `pasar feedback export --format sft|bnf --model M` makes training data of them."""
    from pasar.apps.taskbot.labels import label_episodes
    from pasar.store.db import open_configured_store

    if not episodes.exists():
        raise ValueError(f"{episodes}: no such file (`pasar taskbot eval ... --out R.json`)")
    rows = [json.loads(line) for line in episodes.read_text().splitlines() if line.strip()]
    counts = label_episodes(open_configured_store(), rows)
    console.print(
        f"{counts['episodes']} episodes labelled: {counts['up']} up, {counts['down']} down"
        + (
            f"; {counts['not_recorded']} were not recorded (run eval without --no-log)"
            if counts["not_recorded"]
            else ""
        )
    )
    write_report(out, counts)


@app.command("sft-data")
@run_guarded
def sft_data(
    tasks: Annotated[
        list[Path],
        typer.Option(help="tau2 tasks (tasks_train.json) and/or pasar scenario files; repeatable."),
    ],
    out: Annotated[Path, typer.Option(help="JSONL to write (TRL `messages` rows).")],
    language: Annotated[
        list[str] | None,
        typer.Option(help="Languages for tau2 task trajectories (default: all six)."),
    ] = None,
    split: Annotated[str, typer.Option(help="Scenario rows to use: train, heldout or all.")] = (
        "train"
    ),
    render: Annotated[
        str, typer.Option(help="local (what a local engine sees and emits) or openai (tool roles).")
    ] = "local",
    model: Annotated[
        str | None,
        typer.Option(
            help="The student (local render): tool results in the tool role when its chat "
            "template has one, as the agent gives them to it; without it, as user messages."
        ),
    ] = None,
    db: Db = None,
) -> None:
    """Turn tasks into SFT trajectories: gold tool calls with user and agent turns, in several
    languages; scenarios add the flows agent's passing episodes, corrections included.
    Give the student with --model so the data shows tool results as its agent will."""
    from pasar.apps.taskbot.environment import load_template
    from pasar.apps.taskbot.scenarios import load_scenarios
    from pasar.apps.taskbot.sft import sft_rows
    from pasar.apps.taskbot.simulator import is_tau2_file, load_tasks
    from pasar.data.files import write_jsonl
    from pasar.languages import LANGUAGE_NAMES
    from pasar.models.registry import chat_template, resolve_model
    from pasar.models.schema import handles_tool_role

    if render not in ("local", "openai"):
        raise ValueError(f"--render {render!r}: use local or openai")
    tool_role = model is not None and handles_tool_role(chat_template(resolve_model(model)))
    languages = tuple(language or LANGUAGE_NAMES)
    unknown = set(languages) - set(LANGUAGE_NAMES)
    if unknown:
        raise ValueError(f"unknown languages {sorted(unknown)}; use {', '.join(LANGUAGE_NAMES)}")
    task_list, scenario_list = [], []
    for path in tasks:
        if not path.exists():
            raise ValueError(f"{path}: no such file")
        if is_tau2_file(json.loads(path.read_text())):
            task_list += load_tasks(path)
        else:
            scenario_list += load_scenarios(path, split)
    rows = sft_rows(
        load_template(db or data_path("retail", "db.json")),
        scenarios=scenario_list,
        tasks=task_list,
        languages=languages,
        render=render,  # type: ignore[arg-type]
        tool_role=tool_role,
    )
    n = write_jsonl(rows, out)
    console.print(
        f"{n} trajectories ({len(scenario_list)} scenarios, {len(task_list)} tasks x "
        f"{len(languages)} languages) -> {out}"
        + (f"; tool results in {model}'s tool role" if tool_role else "")
    )


@app.command("chat")
@run_guarded
def chat(
    agent: Annotated[str, typer.Option(help="llm, guided or flows.")] = "flows",
    model: Model = None,
    engine: Engine = None,
    language: Annotated[str, typer.Option(help="en, id, ms, th, vi or tl.")] = "en",
    n_ctx: NCtx = 8192,
    no_log: NoLog = False,
) -> None:
    """Talk to an agent on the configured store (run `pasar store import` first); its changes
    are real. Every tool call is printed. Empty line or Ctrl-D ends."""
    from pasar.apps.taskbot.environment import Environment
    from pasar.store.commerce import commerce_counts
    from pasar.store.db import open_configured_store

    store = open_configured_store()
    if not commerce_counts(store)["users"]:
        raise ValueError("the store has no commerce data: run `pasar store import db.json` first")
    env = Environment(store)
    factory, _ = _agent_factory(agent, model, engine, n_ctx, log=not no_log)
    bot = factory(env, language)
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            break
        if not text:
            break
        env.user_says(text)
        seen = len(env.calls)
        reply = bot.respond(text)
        env.agent_says(reply)
        for record in env.calls[seen:]:
            console.print(
                f"[dim]  {record.name}({json.dumps(record.arguments)}) -> "
                f"{record.observation.content[:200]}[/]",
                highlight=False,
            )
        console.print(f"bot> {reply}", highlight=False)
