"""What the running server holds: settings, the store, loaded models, metrics, rate limits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from pasar.apps.taskbot.serving import TASKBOT_MODELS, taskbot_engine
from pasar.config import Settings
from pasar.errors import UnknownModelError
from pasar.models.engine import Engine
from pasar.models.registry import (
    ModelSpec,
    list_models,
    load_engine,
    model_version,
    require_weights,
)
from pasar.serve.errors import APIError
from pasar.serve.limits import RateLimiter
from pasar.serve.metrics import Metrics
from pasar.store.commerce import commerce_counts
from pasar.store.db import Store
from pasar.store.keys import any_key_made


class ModelPool:
    """Engines by name, loaded on first use and kept. Only registered names are served:
    an HTTP client must not make the server open arbitrary paths or URLs. The customer-service
    agents (``taskbot``, ``taskbot-flows``) are served too, on the store's commerce data, and
    vision models (engine ``vision``, a ``pasar vision train`` folder) by the vision app's
    engine, which reads image content parts."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self._engines: dict[str, Engine] = {}
        self._versions: dict[str, str | None] = {}
        self._lock = threading.RLock()

    def names(self) -> list[str]:
        return [m.name for m in list_models(self.settings) if m.available] + list(TASKBOT_MODELS)

    def vision_names(self) -> list[str]:
        """The served models that read images."""
        return [m.name for m in list_models(self.settings) if m.available and m.engine == "vision"]

    def _load(self, spec: ModelSpec) -> Engine:
        if spec.engine != "vision":
            return load_engine(spec.name, settings=self.settings)
        require_weights(spec)
        from pasar.apps.vision.serving import VisionEngine  # torch: loaded with the first one

        return VisionEngine(spec.name, spec.source, n_ctx=self.settings.n_ctx)

    def _taskbot(self, name: str) -> tuple[Engine, str | None]:
        if not commerce_counts(self.store)["users"]:
            raise APIError(
                409,
                f"{name} needs the store's commerce data: run `pasar store import "
                "../shared/data/retail/db.json` against this server's store, then retry",
                code="no_commerce_data",
                param="model",
            )
        engine = taskbot_engine(name, self.store, lambda: self.get(self.settings.model)[0])
        version = None if name == "taskbot-flows" else self.get(self.settings.model)[1]
        return engine, version

    def get(self, name: str) -> tuple[Engine, str | None]:
        with self._lock:
            if name in TASKBOT_MODELS and name not in self._engines:
                self._engines[name], self._versions[name] = self._taskbot(name)
            if name not in self._engines:
                specs = {m.name: m for m in list_models(self.settings)}
                if name not in specs:
                    raise APIError(
                        404,
                        f"model {name!r} does not exist; GET /v1/models lists the models "
                        f"served here: {', '.join(self.names())}",
                        code="model_not_found",
                        param="model",
                    )
                try:
                    self._engines[name] = self._load(specs[name])
                except UnknownModelError as exc:  # removed from the registry meanwhile
                    raise APIError(404, str(exc), code="model_not_found", param="model") from exc
                self._versions[name] = model_version(specs[name])
            return self._engines[name], self._versions[name]

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()


@dataclass
class ServeState:
    settings: Settings
    store: Store
    models: ModelPool
    metrics: Metrics = field(default_factory=Metrics)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    _auth_checked: float = -1e9
    _auth_on: bool = False

    def auth_required(self) -> bool:
        """Keys are required as soon as one was made, and stay required when every key is
        revoked (checked at most once a second)."""
        now = time.monotonic()
        if now - self._auth_checked > 1.0:
            self._auth_on = any_key_made(self.store)
            self._auth_checked = now
        return self._auth_on
