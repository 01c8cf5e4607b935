"""``pasar chat``: talk to a model, one-shot (-p) or in an interactive session with history."""

from __future__ import annotations

import json
import readline
from pathlib import Path
from typing import Annotated, Any

import typer

from pasar.cli.output import NoLog, console, err_console, write_report
from pasar.config import get_settings
from pasar.errors import PasarError
from pasar.models.engine import Engine
from pasar.models.registry import load_engine
from pasar.models.types import ChatResult, Message, StreamedAnswer
from pasar.store.db import open_configured_store
from pasar.store.recorder import RecordedEngine

REPL_HELP = (
    "Commands: /reset starts a new conversation, /exit (or Ctrl-D) quits. Every answer is "
    "recorded in the store (--no-log: not); give feedback with `pasar feedback give ID`."
)


def read_schema(path: Path) -> dict[str, Any]:
    try:
        schema: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ValueError(f"--json-schema {path}: no such file") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"--json-schema {path} is not valid JSON: {exc}") from exc
    return schema


def answer(engine: Engine, messages: list[Message], stream: bool, **options: Any) -> ChatResult:
    """Print the model's answer (streamed or whole) and return it."""
    if not stream:
        result = engine.chat(messages, **options)
        console.print(result.text, markup=False, highlight=False)
        return result
    streamed = StreamedAnswer(engine.name)
    for chunk in engine.stream(messages, **options):
        console.print(streamed.add(chunk).text, end="", markup=False, highlight=False)
    console.print()
    return streamed.result()


def chat(
    prompt: Annotated[
        str | None, typer.Option("--prompt", "-p", help="Ask once, print the answer, exit.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model name (`pasar models list`: taskbot-flows too), .gguf, HF dir or URL. "
            "Default: $PASAR_MODEL.",
        ),
    ] = None,
    engine: Annotated[
        str | None, typer.Option(help="Force an engine: llamacpp, hf or http.")
    ] = None,
    system: Annotated[str | None, typer.Option("--system", "-s", help="System message.")] = None,
    temperature: Annotated[float, typer.Option(help="0 = greedy (deterministic).")] = 0.0,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = 1.0,
    max_tokens: Annotated[int, typer.Option(help="Most tokens per answer.")] = 256,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    stop: Annotated[list[str] | None, typer.Option(help="Stop string (repeatable).")] = None,
    json_schema: Annotated[
        Path | None, typer.Option(help="JSON schema file: the answer is forced to match it.")
    ] = None,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Print answers whole.")] = False,
    no_log: NoLog = False,
    out: Annotated[
        Path | None, typer.Option(help="With -p: also write the answer as JSON.")
    ] = None,
) -> None:
    """Chat with a model. With -p, answer one prompt; without, start an interactive session.

    Example: pasar chat -p "Write a title for a red cotton T-shirt"
    """
    schema = read_schema(json_schema) if json_schema else None
    options: dict[str, Any] = {
        "temperature": temperature,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "seed": seed,
        "stop": stop,
        "json_schema": schema,
    }
    with err_console.status("loading model..."):
        llm = load_engine(model, engine=engine)
    card = llm.spec.card if llm.spec is not None else None
    if card is not None and not card.instruct:
        err_console.print(
            f"[yellow]warning:[/] {llm.name} is a base model, not trained to chat: under a chat "
            "template it often answers nothing (docs/models.md). Fine-tune it first "
            "(`pasar align sft`) or chat with an instruct model (`pasar models list`)."
        )
    log = None if no_log else RecordedEngine(llm, open_configured_store())
    talk = log.as_engine() if log else llm
    base: list[Message] = [{"role": "system", "content": system}] if system else []

    if prompt is not None:
        messages = [*base, {"role": "user", "content": prompt}]
        result = answer(talk, messages, stream=not no_stream, **options)
        message_id = log.message_id if log else None
        if message_id:
            err_console.print(
                f"[dim]saved as {message_id}: pasar feedback give {message_id} "
                "--up | --down [--correction TEXT][/]",
                highlight=False,
            )
        write_report(
            out,
            {
                "model": llm.name,
                "engine": llm.kind,
                "prompt": prompt,
                "text": result.text,
                "finish_reason": result.finish_reason,
                "usage": {
                    "prompt_tokens": result.usage.prompt_tokens,
                    "completion_tokens": result.usage.completion_tokens,
                },
                "message_id": message_id,
                "settings": {k: v for k, v in options.items() if k != "json_schema"},
            },
        )
        return

    history_file = get_settings().home / "chat_history"
    history_file.parent.mkdir(parents=True, exist_ok=True)
    if history_file.exists():
        readline.read_history_file(history_file)
    readline.set_auto_history(False)  # added by hand below, so piped input is kept too
    console.print(f"[bold]{llm.name}[/] on {llm.kind}. {REPL_HELP}")
    messages = list(base)
    try:
        while True:
            try:
                line = input(">>> ").strip()
            except EOFError:
                console.print()
                break
            if not line:
                continue
            readline.add_history(line)
            if line in ("/exit", "/quit"):
                break
            if line == "/reset":
                messages = list(base)
                if log:
                    log.new_conversation()
                console.print("[dim]conversation forgotten[/]")
                continue
            messages.append({"role": "user", "content": line})
            try:
                result = answer(talk, messages, stream=not no_stream, **options)
            except PasarError as exc:
                messages.pop()
                err_console.print(f"[red]error:[/] {exc}")
                continue
            saved = f", saved as {log.message_id}" if log else ""
            messages.append({"role": "assistant", "content": result.text})
            console.print(
                f"[dim]{result.usage.prompt_tokens} prompt + {result.usage.completion_tokens} "
                f"answer tokens{saved}[/]",
                highlight=False,
            )
    except KeyboardInterrupt:
        console.print()
    finally:
        readline.write_history_file(history_file)
