"""What the running server holds: settings, the store, loaded models, metrics, rate limits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from pasar.config import Settings
from pasar.errors import NoCommerceDataError, UnknownModelError
from pasar.models.engine import Engine
from pasar.models.registry import engine_types, list_models, load_engine
from pasar.serve.errors import APIError
from pasar.serve.limits import RateLimiter
from pasar.serve.metrics import Metrics
from pasar.store.db import Store
from pasar.store.keys import any_key_made


class ModelPool:
    """Engines by name, loaded on first use by ``load_engine`` and kept. Only registered names
    are served (``list_models``: embedded, added, and those engine types provide, such as the
    agents ``taskbot`` and ``taskbot-flows``): an HTTP client must not make the server open
    arbitrary paths or URLs. Loaders get the server's store and this pool (``models``), so the
    agents work on the server's commerce data and share its default model."""

    def __init__(self, settings: Settings, store: Store, metrics: Metrics | None = None):
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self._engines: dict[str, Engine] = {}
        self._lock = threading.RLock()

    def names(self) -> list[str]:
        return [m.name for m in list_models(self.settings) if m.available]

    def vision_names(self) -> list[str]:
        """The served models that read images."""
        types = engine_types()
        return [
            m.name
            for m in list_models(self.settings)
            if m.available and m.engine in types and types[m.engine].reads_images
        ]

    def get(self, name: str) -> Engine:
        """The engine serving ``name`` (its ``version`` is the weights version recorded)."""
        with self._lock:
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
                    self._engines[name] = load_engine(
                        specs[name], settings=self.settings, store=self.store, models=self.get
                    )
                except UnknownModelError as exc:  # removed from the registry meanwhile
                    raise APIError(404, str(exc), code="model_not_found", param="model") from exc
                except NoCommerceDataError as exc:
                    raise APIError(409, str(exc), code="no_commerce_data", param="model") from exc
                loop = getattr(self._engines[name], "loop", None)  # a batching engine's
                if self.metrics is not None and loop is not None:
                    self.metrics.watch(name, loop)
            return self._engines[name]

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
