"""The FastAPI app of ``pasar serve``: OpenAI-compatible API, feedback, web UI, health, metrics.

uvicorn --factory pasar.serve.app:create_app      # or: pasar serve
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import pasar
from pasar.apps.disputes.chargeback import REASON_CODES
from pasar.apps.disputes.schemas import REASONS
from pasar.config import Settings, get_settings
from pasar.serve import routes_disputes, routes_feedback, routes_openai
from pasar.serve.deps import StateDep
from pasar.serve.errors import install_error_handlers
from pasar.serve.limits import BodySizeLimit, RequestGuard
from pasar.serve.metrics import Metrics, MetricsMiddleware
from pasar.serve.state import ModelPool, ServeState
from pasar.store.db import Store, open_store

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def create_app(settings: Settings | None = None, *, store: Store | None = None) -> FastAPI:
    settings = settings or get_settings()
    store = store or open_store(settings.store_url_resolved)
    counters = Metrics()
    state = ServeState(
        settings=settings,
        store=store,
        models=ModelPool(settings, store, counters),
        metrics=counters,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.models.close()
        state.store.close()

    app = FastAPI(
        title="pasar",
        version=pasar.__version__,
        description="OpenAI-compatible API, feedback store and web UI.",
        lifespan=lifespan,
    )
    app.state.pasar = state
    install_error_handlers(app)
    app.include_router(routes_openai.router)
    app.include_router(routes_feedback.router)
    app.include_router(routes_disputes.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # /health runs on threads of its own: requests waiting for a busy model can hold every
    # thread of the shared pool, and a busy server must not look dead to a load balancer.
    health_threads = anyio.CapacityLimiter(2)

    def check_health() -> dict[str, Any]:
        with state.store.session() as session:
            session.connection().exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": pasar.__version__, "models": state.models.names()}

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, Any]:
        return await anyio.to_thread.run_sync(check_health, limiter=health_threads)

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:  # no I/O, no thread: answered on the event loop
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def chat_page(request: Request, state: StateDep) -> HTMLResponse:
        return templates.TemplateResponse(
            request, "chat.html", {"default_model": state.settings.model}
        )

    @app.get("/admin", response_class=HTMLResponse, include_in_schema=False)
    def admin_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "admin.html", {})

    @app.get("/disputes", response_class=HTMLResponse, include_in_schema=False)
    def disputes_page(request: Request) -> HTMLResponse:
        context = {"reasons": REASONS, "reason_codes": list(REASON_CODES.values())}
        return templates.TemplateResponse(request, "disputes.html", context)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Pasar-Conversation-Id"],
        )
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestGuard, allowed_hosts=settings.allowed_hosts_resolved)  # outermost
    return app
