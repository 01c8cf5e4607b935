"""Prometheus metrics: requests, latency, tokens, feedback. One registry per app."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pasar_http_requests",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pasar_http_request_duration_seconds",
            "Time to the response's first byte",
            ["route"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "pasar_tokens", "Tokens processed", ["model", "kind"], registry=self.registry
        )
        self.feedback = Counter(
            "pasar_feedback", "Feedback received", ["rating"], registry=self.registry
        )


class MetricsMiddleware:
    """Counts every HTTP request by its route template (not its raw path, to bound the labels)."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                route = scope.get("route")
                self.metrics.latency.labels(getattr(route, "path", "other")).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "other")
            self.metrics.requests.labels(scope["method"], route, str(status[0])).inc()
