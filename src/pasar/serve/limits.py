"""Request limits: body size (413) as ASGI middleware, and per-client rate limits (429)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from pasar.serve.errors import error_body

Scope = dict[str, Any]


class BodySizeLimit:
    """Refuse bodies over ``max_bytes``: by Content-Length, or while reading a chunked body."""

    def __init__(self, app: Any, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def counted_receive() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, counted_receive, send)
        except BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps(
            error_body(
                413,
                f"request body is larger than {self.max_bytes} bytes; send less, or raise "
                "PASAR_MAX_REQUEST_BYTES on the server",
                "request_too_large",
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests, refilled continuously."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str, per_minute: int) -> float:
        """0 if the request may go ahead (and is counted), else seconds until it may."""
        now = time.monotonic()
        rate = per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(client, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / rate
