"""Prometheus metrics: requests, latency, tokens, feedback. One registry per app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from pasar.models.batching import DecodeLoop


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
        self.batch_sequences = Histogram(
            "pasar_batch_sequences",
            "Sequences advanced by one decoding step of a batching model",
            ["model"],
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32),
            registry=self.registry,
        )
        self.first_token = Histogram(
            "pasar_time_to_first_token_seconds",
            "From a request joining a model's queue to its first generated token",
            ["model"],
            registry=self.registry,
        )
        self.sequence_speed = Histogram(
            "pasar_sequence_tokens_per_second",
            "Generated tokens per second of each answer, from its first token to its last",
            ["model"],
            buckets=(1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 250),
            registry=self.registry,
        )
        self.loops = LoopCollector()
        self.registry.register(self.loops)

    def watch(self, model: str, loop: DecodeLoop) -> None:
        """Count a model's decoding loop: its queue, batch sizes, first-token times, speeds."""
        self.loops.loops[model] = loop
        loop.observer = LoopMetrics(self, model)


class LoopMetrics:
    """A decoding loop's observer (``batching.LoopObserver``) for one model."""

    def __init__(self, metrics: Metrics, model: str):
        self.batch = metrics.batch_sequences.labels(model)
        self.first_token = metrics.first_token.labels(model)
        self.speed = metrics.sequence_speed.labels(model)

    def step(self, sequences: int, tokens: int) -> None:
        if sequences:
            self.batch.observe(sequences)

    def sequence_done(self, first_token_s: float | None, tokens: int, seconds: float) -> None:
        if first_token_s is None:
            return
        self.first_token.observe(first_token_s)
        if tokens > 1 and seconds > first_token_s:
            self.speed.observe((tokens - 1) / (seconds - first_token_s))


class LoopCollector(Collector):
    """Read at each scrape: what every batching model is doing now."""

    def __init__(self) -> None:
        self.loops: dict[str, DecodeLoop] = {}

    def collect(self) -> Iterator[Any]:
        waiting = GaugeMetricFamily(
            "pasar_queue_waiting", "Requests waiting for a free sequence", labels=["model"]
        )
        running = GaugeMetricFamily(
            "pasar_sequences_running", "Sequences being generated now", labels=["model"]
        )
        slots = GaugeMetricFamily(
            "pasar_sequences_max", "Sequences a model decodes together", labels=["model"]
        )
        cached = CounterMetricFamily(
            "pasar_prompt_tokens_from_cache",
            "Prompt tokens found in the cache (a shared prefix) instead of decoded",
            labels=["model"],
        )
        for model, loop in list(self.loops.items()):
            waiting.add_metric([model], loop.waiting)
            running.add_metric([model], loop.running)
            slots.add_metric([model], len(loop.slots))
            cached.add_metric([model], loop.prompt_tokens_cached)
        yield from (waiting, running, slots, cached)


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
