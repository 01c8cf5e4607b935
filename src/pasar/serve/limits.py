"""Request limits: body size (413) as ASGI middleware, and per-client rate limits (429)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from pasar.cache import BoundedCache
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


MAX_RATE_CLIENTS = 10_000


class RateLimiter:
    """Token buckets per client, refilled continuously: one of requests (``per_minute`` of
    them), one of model tokens (prompt and completion).

    A request for tokens is admitted while its client's token bucket is not empty, and
    reserves its largest answer (``max_tokens`` times ``n``) at once, so that concurrent
    requests cannot all spend one budget; the reservation is settled with the tokens actually
    used when the answer is recorded. The bucket may end below zero (a prompt is counted only
    once read): the client then waits until it refills past zero.

    The buckets are bounded: a bucket that has refilled is the same as none and is dropped, and
    past ``max_clients`` the least recently seen client's bucket goes (it would start full).
    """

    def __init__(self, max_clients: int = MAX_RATE_CLIENTS, clock: Any = time.monotonic):
        # key -> (level, last update, when the bucket is full again)
        self._buckets: BoundedCache[str, tuple[float, float, float]] = BoundedCache(max_clients)
        self._lock = threading.Lock()
        self._clock = clock

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, key: str, per_minute: int, now: float) -> float:
        level, last, _ = self._buckets.get(key) or (float(per_minute), now, now)
        return min(float(per_minute), level + (now - last) * per_minute / 60.0)

    def _store(self, key: str, per_minute: int, level: float, now: float) -> None:
        full_at = now + (per_minute - level) * 60.0 / per_minute
        self._buckets.put(key, (level, now, full_at), size=1)
        self._buckets.prune(lambda _, bucket: bucket[2] <= now)  # idle: refilled, drop it

    def retry_after(self, client: str, per_minute: int) -> float:
        """0 if the request may go ahead (and is counted), else seconds until it may."""
        now = self._clock()
        with self._lock:
            level = self._level(client, per_minute, now)
            if level >= 1:
                self._store(client, per_minute, level - 1, now)
                return 0.0
            self._store(client, per_minute, level, now)
            return (1 - level) * 60.0 / per_minute

    def reserve_tokens(self, client: str, per_minute: int, tokens: int) -> TokenCharge | float:
        """A charge of ``tokens`` to settle later, or, when the client's token bucket is empty,
        the seconds until it is not."""
        key, now = f"tokens:{client}", self._clock()
        with self._lock:
            level = self._level(key, per_minute, now)
            if level <= 0:
                self._store(key, per_minute, level, now)
                return max(-level * 60.0 / per_minute, 0.001)
            self._store(key, per_minute, level - tokens, now)
        return TokenCharge(self, key, per_minute, tokens)

    def _adjust(self, key: str, per_minute: int, tokens: float) -> None:
        now = self._clock()
        with self._lock:
            self._store(key, per_minute, self._level(key, per_minute, now) - tokens, now)


class TokenCharge:
    """Tokens reserved for one request. ``settle`` (once) replaces the reservation by the
    tokens the request used: 0 when it failed, None when unknown (a stream the client left
    before its usage was counted), which keeps the whole reservation."""

    def __init__(self, limiter: RateLimiter, key: str, per_minute: int, reserved: int):
        self._limiter, self._key, self._per_minute = limiter, key, per_minute
        self._reserved: int | None = reserved

    def settle(self, used: int | None) -> None:
        if self._reserved is not None and used is not None:
            self._limiter._adjust(self._key, self._per_minute, used - self._reserved)
        self._reserved = None
