"""The ``taskbot`` engine type, registered through the ``pasar.engines`` entry point
(pyproject.toml): the agents are the models ``taskbot`` (the guided agent: the flows, asking the
default model what their keywords miss), ``taskbot-llm`` (the tool-calling LLM agent on the
default model) and ``taskbot-flows`` (the flows agent), so ``load_engine`` loads them like any
other model (``pasar serve``, ``pasar chat -m taskbot-flows``). Light to import: the agents load
on first use.
"""

from __future__ import annotations

from typing import Any

from pasar.config import Settings
from pasar.errors import NoCommerceDataError
from pasar.models.engine import Engine
from pasar.models.registry import LoadContext, ModelSpec, register_engine_type

KIND = "taskbot"


def taskbot_models(settings: Settings) -> list[ModelSpec]:
    """The three agents; a spec's source names its agent."""
    where = "on the store's commerce data (`pasar store import`)"
    return [
        ModelSpec(
            name="taskbot",
            engine=KIND,
            source="guided",
            description=f"Customer-service agent: the YAML flows, asking {settings.model} what "
            f"their keywords miss, {where}.",
        ),
        ModelSpec(
            name="taskbot-llm",
            engine=KIND,
            source="llm",
            description=f"Customer-service agent: tool-calling loop on {settings.model}, {where}.",
        ),
        ModelSpec(
            name="taskbot-flows",
            engine=KIND,
            source="flows",
            description=f"Customer-service agent: hand-built YAML flows, {where}.",
        ),
    ]


def load_taskbot(spec: ModelSpec, context: LoadContext, **options: Any) -> Engine:
    """The agent ``spec.source`` on ``context.store`` (default: the configured store), its LLM
    the default model (``context.model``); refused while the store has no commerce data."""
    from pasar.apps.taskbot.serving import taskbot_engine
    from pasar.store.commerce import commerce_counts
    from pasar.store.db import open_store

    store = context.store
    owns_store = store is None
    if owns_store:
        store = open_store(context.settings.store_url_resolved)
    try:
        if not commerce_counts(store)["users"]:
            raise NoCommerceDataError(
                f"{spec.name} needs the store's commerce data: run `pasar store import "
                "../shared/data/retail/db.json` against this store, then retry"
            )
        return taskbot_engine(
            spec.source,
            spec.name,
            store,
            lambda: context.model(context.settings.model),
            owns_store=owns_store,
            **options,
        )
    except Exception:
        if owns_store:
            store.close()
        raise


def register() -> None:
    register_engine_type(KIND, load_taskbot, weights=False, exclusive=True, models=taskbot_models)
