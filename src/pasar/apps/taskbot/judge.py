"""The state-hash judge, as tau-bench does it: an episode succeeds when the final database
equals the one the gold actions produce on a fresh copy, and every required fact was said.

The state is the store exported in the retail JSON shape (``export_retail``) with each order's
request details merged in (cancel reason, items to return or exchange...), serialised as
canonical JSON (sorted keys, no spaces) and hashed with SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from pasar.apps.taskbot.environment import Environment, episode_store
from pasar.errors import PasarError
from pasar.store.commerce import export_retail
from pasar.store.db import Store


def state_of(env: Environment) -> dict[str, Any]:
    data = export_retail(env.db)
    for order_id, request in env.requests.items():
        data["orders"][order_id] |= request
    return data


def state_hash(env: Environment) -> str:
    canonical = json.dumps(state_of(env), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def gold_hash(template: Store, actions: Iterable[dict[str, Any]]) -> str:
    """The state hash after replaying the gold actions on a fresh copy (no policy). A gold
    action that fails changes nothing, as in tau2-bench (a few tasks keep such a call)."""
    env = Environment(episode_store(template))
    for action in actions:
        try:
            env.execute(action["name"], action.get("arguments") or {})
        except (PasarError, ValueError, LookupError):
            continue
    return state_hash(env)


def _normalise(text: str) -> str:
    # "$1,093.34" and "1093.34" say the same amount.
    return re.sub(r"(?<=\d),(?=\d{3})", "", text.lower())


def missing_facts(facts: Iterable[str], agent_texts: Iterable[str]) -> list[str]:
    """The required facts that no agent message contains (case-insensitive, 1,000 = 1000)."""
    said = _normalise("\n".join(agent_texts))
    return [f for f in facts if _normalise(f) not in said]
