"""Simulated users against a real `pasar serve`: thumbs by the verifier, corrections from a
better baseline, all recorded by the server and exported as training rows."""

from __future__ import annotations

import json
import re

import httpx
from conftest import SHARED_DATA, run_pasar

from pasar.data.feedback import feedback_rows
from pasar.evaluate.prompts import make_prompts
from pasar.evaluate.users import simulate_users
from pasar.models.engine import Engine
from pasar.models.types import ChatChunk, ChatResult, Usage
from pasar.store.interactions import feedback_examples

DB = json.loads((SHARED_DATA / "retail" / "db.json").read_text())


def oracle_answer(messages: list[dict]) -> str:
    """The right answer to a product question, read off the record in the system message."""
    record, question = messages[0]["content"], messages[-1]["content"]
    product = re.search(r"product: (.+) \(id", record).group(1)
    values = re.search(r"\(([^)]*)\) in stock", question).group(1).split(", ")
    for line in record.splitlines()[2:]:
        options, _, rest = line.removeprefix("- ").rpartition(": ")
        parts = options.split(", ")
        if len(parts) == len(values) and all(
            p.endswith(f" {v}") for p, v in zip(parts, values, strict=True)
        ):
            price, stock = rest.split(" USD, ")
            return f"The {product} ({', '.join(values)}) is {stock}, and it costs {price} USD."
    raise AssertionError(f"no variant {values} in {record}")


class Scripted(Engine):
    kind = "scripted"

    def __init__(self, name: str, knows: callable):
        super().__init__(name)
        self.knows = knows

    def _complete(self, messages, params, json_schema, tools) -> ChatResult:
        right = oracle_answer(messages)
        text = right if self.knows(right) else "Sorry, I do not know."
        return ChatResult(text, "stop", Usage(3, 3), self.name)

    def _stream(self, messages, params, json_schema):
        yield ChatChunk(self._complete(messages, params, None, None).text, "stop", Usage(3, 3))


def test_simulated_users_rate_and_correct_through_the_server(make_server, tmp_path) -> None:
    server = make_server(f"sqlite:///{tmp_path / 'store.db'}")
    pool = server.app.state.pasar.models
    # The student knows only the products before "M"; the baseline knows them all.
    pool._engines["student"] = Scripted("student", lambda answer: answer[4] < "M")
    pool._engines["baseline"] = Scripted("baseline", lambda answer: True)
    prompts = make_prompts(DB, per_language=12, seed=1, tasks=("product",), languages=("en",))
    progress = tmp_path / "users.jsonl"
    with httpx.Client(base_url=server.url, timeout=60) as client:
        # Killed after 5 users, then run again: the first 5 are not asked twice.
        simulate_users(
            client, prompts[:5], model="student", baseline="baseline", correct_share=1.0,
            progress=progress,
        )  # fmt: skip
        report = simulate_users(
            client, prompts, model="student", baseline="baseline", correct_share=1.0,
            progress=progress,
        )  # fmt: skip
    assert len(progress.read_text().splitlines()) == 12
    assert report["prompts"] == 12 and report["up"] + report["down"] == 12
    assert report["up"] > 0 and report["down"] > 0
    assert report["corrections"] == report["down"]  # every wrong answer had a better baseline
    assert report["by_task"]["product"]["prompts"] == 12

    examples = feedback_examples(server.store)
    assert len(examples) == 12 and {e.model for e in examples} == {"student"}
    ups = [e for e in examples if e.rating == "up"]
    corrected = [e for e in examples if e.correction]
    assert len(ups) == report["up"] and len(corrected) == report["corrections"]
    for e in corrected:
        assert e.answer == "Sorry, I do not know." and e.correction == oracle_answer(e.prompt)
    rows = feedback_rows(examples, "bnf")
    assert sum(r["label"] for r in rows) == report["up"] + report["corrections"]
    assert sum(not r["label"] for r in rows) == report["down"]


def test_the_cli_names_a_server_that_refuses(tmp_path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    rows = make_prompts(DB, per_language=1, seed=0, tasks=("product",), languages=("en",))
    prompts.write_text("".join(json.dumps(r | {"split": "train"}) + "\n" for r in rows))
    done = run_pasar(
        "feedback", "simulate", "--server", "http://127.0.0.1:9/v1", "--model", "m",
        "--prompts", str(prompts), "--out", str(tmp_path / "r.json"), "--correct-share", "0",
    )  # fmt: skip
    assert done.returncode == 2 and "cannot reach pasar serve at http://127.0.0.1:9" in (
        " ".join(done.stderr.split())
    )


def test_a_limited_run_covers_every_task_and_language() -> None:
    """`feedback simulate --limit N` takes prompts in turn from each task and language: the
    first N of the file would be titles in English only (the file is grouped by task)."""
    from pasar.evaluate.prompts import balanced

    rows = [
        {"id": f"{task}-{lang}-{i}", "task": task, "language": lang}
        for task in ("title", "order")
        for lang in ("en", "id", "th")
        for i in range(5)
    ]
    taken = balanced(rows, 8)
    assert [r["id"] for r in taken] == [
        "title-en-0", "title-id-0", "title-th-0", "order-en-0", "order-id-0", "order-th-0",
        "title-en-1", "title-id-1",
    ]  # fmt: skip
    assert balanced(rows, None) == rows and balanced(rows, 100) == rows
