"""Concurrent requests on one conversation: never a 500, never two messages in one place.
Against a real server on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from pasar.models.engine import Engine
from pasar.models.types import ChatChunk, ChatResult, Usage
from pasar.store.interactions import get_conversation

HI = [{"role": "user", "content": "Hi"}]
CLIENTS = 8


class RacingEngine(Engine):
    """Answers at once and without a lock (as a remote http model does), all requests together:
    the first ``parties`` calls wait for one another, so their answers reach the store at the
    same moment."""

    kind = "racing"

    def __init__(self, parties: int):
        super().__init__("racing")
        self.together(parties)

    def together(self, parties: int) -> None:
        self.barrier, self.calls, self.lock = threading.Barrier(parties), 0, threading.Lock()

    def _together(self) -> None:
        with self.lock:
            self.calls += 1
            first_ones = self.calls <= self.barrier.parties
        if first_ones:  # a further choice (n = 2) does not wait: the others are gone
            self.barrier.wait(timeout=20)

    def _complete(self, messages, params, json_schema, tools) -> ChatResult:
        self._together()
        return ChatResult(f"answer to {len(messages)} messages", "stop", Usage(5, 4), self.name)

    def _stream(self, messages, params, json_schema):
        self._together()
        yield ChatChunk("streamed answer", finish_reason="stop", usage=Usage(5, 2))


def start(make_server, store_url: str):
    server = make_server(store_url)
    pool = server.app.state.pasar.models
    pool._engines["racing"] = RacingEngine(CLIENTS)
    return server


def fire(server, bodies: list[dict]) -> list[httpx.Response]:
    url = f"{server.url}/v1/chat/completions"
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: httpx.post(url, json=body, timeout=60), bodies))


def assert_positions_unique(server, conversation_id: str, answered: list[str]) -> None:
    messages = get_conversation(server.store, conversation_id=conversation_id)["messages"]
    by_id = {m["id"]: m for m in messages}
    main = [m["position"] for m in messages if not m.get("choice")]
    assert len(main) == len(set(main)), f"two messages in one position: {sorted(main)}"
    for m in messages:
        if m.get("choice"):  # choice i > 0 of a completion shares the first choice's position
            assert m["position"] == by_id[m["completion_id"]]["position"]
    for completion_id in answered:  # every answer a client was given is recorded, once
        assert completion_id in by_id


def test_concurrent_requests_creating_one_conversation_id(make_server, store_url) -> None:
    server = start(make_server, store_url)
    bodies = [
        {
            "model": "racing",
            "messages": HI,
            "conversation_id": "conv_chosen_by_the_client",
            **({"n": 2} if i % 3 == 1 else {"stream": True} if i % 3 == 2 else {}),
        }
        for i in range(CLIENTS)
    ]
    responses = fire(server, bodies)
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409} and 200 in statuses, [r.text for r in responses]
    answered = []
    for r in responses:
        if r.status_code != 200:
            continue
        if r.headers["content-type"].startswith("application/json"):
            assert r.json()["conversation_id"] == "conv_chosen_by_the_client"
            answered.append(r.json()["id"])
        else:
            assert r.headers["X-Pasar-Conversation-Id"] == "conv_chosen_by_the_client"
            assert r.text.endswith("data: [DONE]\n\n")  # recorded, and the stream ended well
    assert_positions_unique(server, "conv_chosen_by_the_client", answered)


def test_concurrent_appends_to_one_conversation(make_server, store_url) -> None:
    server = start(make_server, store_url)
    engine = server.app.state.pasar.models._engines["racing"]
    engine.together(1)
    first = httpx.post(
        f"{server.url}/v1/chat/completions", json={"model": "racing", "messages": HI}, timeout=60
    )
    assert first.status_code == 200, first.text
    conversation_id = first.json()["conversation_id"]
    engine.together(CLIENTS)
    history = [*HI, first.json()["choices"][0]["message"], {"role": "user", "content": "More"}]
    bodies = [
        {"model": "racing", "messages": history, "conversation_id": conversation_id}
        | ({"n": 2} if i % 2 else {})
        for i in range(CLIENTS)
    ]
    responses = fire(server, bodies)
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409} and 200 in statuses, [r.text for r in responses]
    answered = [r.json()["id"] for r in responses if r.status_code == 200]
    assert_positions_unique(server, conversation_id, [first.json()["id"], *answered])


def test_the_migration_renumbers_a_store_written_by_racing_requests(store_url) -> None:
    """Stores written before the unique positions may hold two messages in one place: the
    migration renumbers them in time order (choices stay with their first choice)."""
    from datetime import datetime, timedelta

    from conftest import store_at_revision
    from sqlalchemy import text

    from pasar.store.db import open_store

    t0 = datetime(2026, 1, 1)
    rows = [  # (id, position, created_at): two requests raced, one with n=2
        ("u0", 0, 0),
        ("a0", 1, 1),
        ("uA", 2, 2),
        ("uB", 2, 3),
        ("cA", 3, 4),
        ("cB", 3, 5),
        ("cB.1", 3, 5),
    ]
    with store_at_revision(store_url, "0002") as connection:
        connection.execute(
            text(
                "INSERT INTO conversations (id, title, created_at, updated_at) "
                "VALUES ('c', '', :t, :t)"
            ),
            {"t": t0},
        )
        for message_id, position, minutes in rows:
            connection.execute(
                text(
                    "INSERT INTO messages (id, conversation_id, position, role, content, "
                    "created_at) VALUES (:id, 'c', :position, 'user', '', :t)"
                ),
                {"id": message_id, "position": position, "t": t0 + timedelta(minutes=minutes)},
            )
    store = open_store(store_url)  # migrates to the newest revision
    messages = get_conversation(store, conversation_id="c")["messages"]
    assert [(m["id"], m["position"]) for m in messages] == [
        ("u0", 0),
        ("a0", 1),
        ("uA", 2),
        ("uB", 3),
        ("cA", 4),
        ("cB", 5),
        ("cB.1", 5),
    ]
    store.close()
