"""One conversation's environment: the store, the tools and the policy, with what was said.

    template = load_template(Path("../shared/data/retail/db.json"))   # once: an in-memory store
    env = Environment(episode_store(template))                        # per episode: a fresh copy
    env.user_says("Hi, I'm ...");  env.call("find_user_id_by_email", {"email": ...})

A tool call comes back as an ``Observation``: the tool's JSON result, or an error the agent can
read (bad arguments, a domain error, or a policy refusal). Serving uses the same class on the
configured store (``pasar store import`` loads the data).

Per-episode copies are SQLite's online backup of an in-memory template (about 20 ms), so every
episode runs on the real store code rather than on a dict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import create_engine, event
from sqlalchemy.pool import StaticPool

from pasar.apps.taskbot.policy import (
    AUTH_TOOLS,
    OPEN_TOOLS,
    confirmation_target,
    is_affirmative,
)
from pasar.apps.taskbot.tools import TOOLS
from pasar.errors import PasarError
from pasar.store.commerce import get_order, import_retail, load_retail_json
from pasar.store.db import Store, migrate


@dataclass(frozen=True)
class Observation:
    """What a tool call returned to the agent. ``refused``: the policy said no."""

    content: str
    error: bool = False
    refused: bool = False


@dataclass(frozen=True)
class CallRecord:
    name: str
    arguments: dict[str, Any]
    observation: Observation


def _memory_store() -> Store:
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA foreign_keys=ON"))
    return Store(engine)


def load_template(path: Path) -> Store:
    """The retail database in an in-memory store: the start state of every episode."""
    store = _memory_store()
    migrate(store.engine)
    import_retail(store, load_retail_json(path))
    return store


def episode_store(template: Store) -> Store:
    """A fresh, independent copy of ``template`` (SQLite online backup)."""
    copy = _memory_store()
    source = template.engine.raw_connection()
    target = copy.engine.raw_connection()
    try:
        source.driver_connection.backup(target.driver_connection)  # type: ignore[union-attr]
    finally:
        source.close()
        target.close()
    return copy


@dataclass
class Environment:
    """Tools under policy for one conversation with one user."""

    db: Store
    user_id: str | None = None
    # Request details the schema has no columns for (cancel reason, items to return...).
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    last_agent_text: str = ""
    confirmed_summary: str | None = None  # the agent message the user said yes to

    # -- what was said -------------------------------------------------------------------------
    def agent_says(self, text: str) -> None:
        self.last_agent_text = text

    def user_says(self, text: str) -> None:
        self.confirmed_summary = self.last_agent_text if is_affirmative(text) else None

    # -- tool calls ----------------------------------------------------------------------------
    def call(self, name: str, arguments: dict[str, Any]) -> Observation:
        """Run a tool call under the policy; every call is recorded in ``calls``."""
        observation = self._call(name, arguments)
        self.calls.append(CallRecord(name, arguments, observation))
        return observation

    def execute(self, name: str, arguments: dict[str, Any]) -> Any:
        """Run a tool without the conversation policy (gold actions, tests). Raises errors."""
        result = TOOLS[name].run(self.db, arguments)
        if isinstance(result, dict) and "request" in result:
            self.requests.setdefault(result["order_id"], {}).update(result.pop("request"))
        return result

    def _call(self, name: str, arguments: dict[str, Any]) -> Observation:
        if name not in TOOLS:
            return Observation(f"Error: unknown tool {name!r}; use one of {sorted(TOOLS)}", True)
        refusal = self._refusal(name, arguments)
        if refusal:
            return Observation(f"Refused by policy: {refusal}", True, True)
        try:
            result = self.execute(name, arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            return Observation(f"Error: bad arguments for {name}: {problems}", True)
        except (PasarError, ValueError, LookupError) as exc:
            return Observation(f"Error: {exc}", True)
        if name in AUTH_TOOLS:
            if self.user_id not in (None, result):
                return Observation(
                    "Refused by policy: this conversation is with another user; "
                    "one user per conversation",
                    True,
                    True,
                )
            self.user_id = result
        if TOOLS[name].kind == "write":
            self.confirmed_summary = None  # one yes, one write
        return Observation(json.dumps(result, ensure_ascii=False, separators=(",", ":")))

    def _refusal(self, name: str, arguments: dict[str, Any]) -> str | None:
        if name in OPEN_TOOLS:
            return None
        if self.user_id is None:
            return (
                "authenticate the user first (find_user_id_by_email, or "
                "find_user_id_by_name_zip), even if they gave a user id"
            )
        owner = self._owner(arguments)
        if owner is not None and owner != self.user_id:
            return "that belongs to another user; only the authenticated user can be helped"
        if TOOLS[name].kind == "write":
            target = confirmation_target(name, arguments)
            summary = self.confirmed_summary
            if summary is None or (target and target not in summary):
                return (
                    f"before {name}, list the action details (naming {target or 'the target'}) "
                    "and get an explicit yes from the user"
                )
        return None

    def _owner(self, arguments: dict[str, Any]) -> str | None:
        if "user_id" in arguments:
            return str(arguments["user_id"])
        if "order_id" in arguments:
            try:
                return str(get_order(self.db, order_id=str(arguments["order_id"]))["user_id"])
            except LookupError:
                return None  # the tool itself says the order does not exist
        return None
