"""Request limits: body size (413) as ASGI middleware, and per-client rate limits (429)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from pasar.serve.errors import error_body

Scope = dict[str, Any]


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with 413: by Content-Length before reading, or while
    reading a chunked body, as soon as the count passes the limit (the rest is never read).

    The 413 is sent from here; the route then sees the client as gone (``http.disconnect``),
    and whatever it answers is dropped. Raising from ``receive`` instead would reach FastAPI's
    body parser, which turns any error into a 400.
    """

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
        refused = False

        async def counted_receive() -> Any:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                refused = True
                await self._refuse(send)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Any) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted_receive, guarded_send)

    async def _refuse(self, send: Any) -> None:
        await refuse(
            send,
            413,
            f"request body is larger than {self.max_bytes} bytes; send less, or raise "
            "PASAR_MAX_REQUEST_BYTES on the server",
            "request_too_large",
        )


async def refuse(send: Any, status: int, message: str, code: str) -> None:
    """Answer an ASGI request with an OpenAI-shaped error, before any route runs."""
    body = json.dumps(error_body(status, message, code)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """Refuse, before any route runs: a Host header not in ``allowed_hosts`` (a DNS-rebinding
    page cannot reach a server on loopback through the victim's browser), and a request body
    that is not declared JSON (415): a form post from another site cannot pass as JSON."""

    def __init__(self, app: Any, allowed_hosts: list[str]):
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if "*" not in self.allowed and name not in self.allowed:
            await refuse(
                send,
                400,
                f"Host {host!r} is not served here; the server answers to "
                f"{sorted(self.allowed)} (add names with PASAR_ALLOWED_HOSTS)",
                "invalid_host",
            )
            return
        has_body = headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        if (
            scope["method"] in ("POST", "PUT", "PATCH")
            and has_body
            and not content_type.startswith("application/json")
        ):
            await refuse(
                send,
                415,
                f"the body must be JSON sent with 'Content-Type: application/json', "
                f"not {content_type or 'no Content-Type'}",
                "unsupported_media_type",
            )
            return
        await self.app(scope, receive, send)


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
