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
    GROUNDED_ARGUMENTS,
    OPEN_TOOLS,
    callable_tools,
    confirmation_target,
    is_affirmative,
)
from pasar.apps.taskbot.tools import TOOLS, order_id_as_stored
from pasar.errors import PasarError
from pasar.store.commerce import (
    get_order,
    get_user,
    import_retail,
    load_retail_json,
    order_statuses,
)
from pasar.store.db import Store, migrate


@dataclass(frozen=True)
class Observation:
    """What a tool call returned to the agent. ``refused``: the policy said no. ``held``: a
    write not run, waiting for the user's yes."""

    content: str
    error: bool = False
    refused: bool = False
    held: bool = False


@dataclass(frozen=True)
class Change:
    """One write: a tool and its checked arguments (as the tool's schema gives them)."""

    name: str
    arguments: dict[str, Any]

    @classmethod
    def of(cls, name: str, arguments: dict[str, Any]) -> Change:
        return cls(name, TOOLS[name].arguments.model_validate(arguments).model_dump())


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
    # Off where the marketplace signs customers in (pasar serve with keys): then the customer
    # comes from the caller (``sign_in``) and the find_user_id_* tools are refused.
    chat_sign_in: bool = True
    # Request details the schema has no columns for (cancel reason, items to return...).
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    last_agent_text: str = ""
    # The write the agent put to the user (tool and arguments), held until their next message,
    # and the one they said yes to: a write runs only when it is exactly the confirmed one.
    proposed: Change | None = None
    confirmed: Change | None = None
    # What the user said and what tools returned, lower-cased: the only places an id, an email
    # or a name in a call's arguments may come from (GROUNDED_ARGUMENTS).
    heard: str = ""
    grounded: bool = True  # refuse made-up values (off only in unit tests of the other rules)

    def sign_in(self, user_id: str) -> None:
        """The customer the caller vouches for is this conversation's user."""
        get_user(self.db, user_id=user_id)  # NotFoundError when the store has no such user
        self.user_id = user_id
        self._hear(user_id)

    # -- what was said -------------------------------------------------------------------------
    def agent_says(self, text: str) -> None:
        self.last_agent_text = text

    def user_says(self, text: str) -> None:
        """A yes confirms the held change, if the agent's last message named its target (the
        order id, or the new zip of a user address); any other message drops it."""
        self._hear(text)
        proposed, self.proposed, self.confirmed = self.proposed, None, None
        if proposed is not None and is_affirmative(text):
            target = confirmation_target(proposed.name, proposed.arguments)
            if target in self.last_agent_text:
                self.confirmed = proposed

    # -- tool calls ----------------------------------------------------------------------------
    def callable_tools(self, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``tools`` as the policy would run them now (``policy.callable_tools``), an order
        tool held to the signed-in user's orders it can change."""
        statuses = None if self.user_id is None else order_statuses(self.db, user_id=self.user_id)
        return callable_tools(
            tools,
            heard=self.heard,
            user_id=self.user_id,
            chat_sign_in=self.chat_sign_in,
            order_statuses=statuses,
        )

    def call(self, name: str, arguments: dict[str, Any]) -> Observation:
        """Run a tool call under the policy; every call is recorded in ``calls``. An order id
        is read in the store's form first ('W1234567' is '#W1234567'), for the policy too."""
        if "order_id" in arguments:
            arguments = {**arguments, "order_id": order_id_as_stored(arguments["order_id"])}
        observation = self._call(name, arguments)
        self.calls.append(CallRecord(name, arguments, observation))
        if not observation.error:
            self._hear(observation.content)
        return observation

    def _hear(self, text: str) -> None:
        self.heard += text.lower() + "\n"

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
            if TOOLS[name].kind == "write":
                change = Change.of(name, arguments)  # checks the arguments
                if change != self.confirmed:
                    with self.db.rehearsal() as rehearsal:  # raises what running it would
                        TOOLS[name].run(rehearsal, arguments)
                    return self._hold(change)
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
            self.confirmed = None  # one yes, one write
        return Observation(json.dumps(result, ensure_ascii=False, separators=(",", ":")))

    def _hold(self, change: Change) -> Observation:
        """A write that is not the confirmed change is not run: it becomes the change put to
        the user, and the agent is told how to get it confirmed. Only a change that would run
        is held (``_call`` rehearses it first): a yes to one that fails (a cancel of a
        delivered order) would cost the user a turn for nothing."""
        self.proposed, self.confirmed = change, None
        target = confirmation_target(change.name, change.arguments)
        held = {
            "status": "not done yet: waiting for the user's yes",
            "next": f"List these details to the user{f' (naming {target})' if target else ''} "
            "and ask them to confirm with yes. Their yes makes exactly this change (you will "
            "see its result); no other message does.",
            "tool": change.name,
            "arguments": change.arguments,
        }
        return Observation(json.dumps(held, ensure_ascii=False, separators=(",", ":")), held=True)

    def _refusal(self, name: str, arguments: dict[str, Any]) -> str | None:
        if name in AUTH_TOOLS and not self.chat_sign_in:
            return "customers are signed in by the marketplace here, not by chat: " + (
                f"this conversation is with {self.user_id}" if self.user_id else "no customer"
            )
        if name not in OPEN_TOOLS and self.user_id is None:
            return (
                "authenticate the user first (find_user_id_by_email, or "
                "find_user_id_by_name_zip), even if they gave a user id"
            )
        unheard = self._unheard(arguments) if self.grounded else None
        if unheard is not None:
            key, value = unheard
            return (
                f"{key} {value!r} was neither said by the user nor returned by a tool in this "
                "conversation: ask the user for it (never make one up)"
            )
        if name in OPEN_TOOLS:
            return None
        owner = self._owner(arguments)
        if owner is not None and owner != self.user_id:
            return "that belongs to another user; only the authenticated user can be helped"
        return None

    def _unheard(self, arguments: dict[str, Any]) -> tuple[str, str] | None:
        """The first grounded argument whose value nobody in the conversation gave, if any
        (case and an order id's '#' aside)."""
        for key in GROUNDED_ARGUMENTS:
            value = arguments.get(key)
            for one in value if isinstance(value, list) else [value]:
                text = str(one).strip().lower().lstrip("#")
                if one is not None and text not in self.heard:
                    return key, str(one)
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
