"""Compute and memory limits of `pasar serve`, against a real uvicorn on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from pasar.models.engine import Engine
from pasar.models.types import ChatChunk, ChatResult, Usage
from pasar.store.keys import create_key

MODEL = "smollm2-135m-instruct"
HI = [{"role": "user", "content": "Hi"}]
LIMIT = 64 * 1024


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def test_an_oversized_chunked_body_gets_413_before_it_is_all_sent(make_server, tmp_path) -> None:
    server = make_server(sqlite(tmp_path), max_request_bytes=LIMIT)
    url = f"{server.url}/v1/chat/completions"

    def chunks():
        for _ in range(3):
            yield b" " * (LIMIT // 2)  # JSON whitespace: a valid body, only too long
        yield b'{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "x"}]}'

    r = httpx.post(url, content=chunks(), headers={"content-type": "application/json"}, timeout=30)
    assert "content-length" not in r.request.headers  # sent chunked, with no declared size
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "request_too_large"
    assert "PASAR_MAX_REQUEST_BYTES" in r.json()["error"]["message"]

    # A client that sends more than the limit and then stalls (the body never ends) is
    # answered at once: the server does not wait for the rest to buffer it.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        piece = b" " * 16384
        for _ in range(LIMIT // len(piece) + 2):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        answer = b""
        while b"request_too_large" not in answer:  # times out if the server waits for the end
            received = sock.recv(65536)
            if not received:
                break
            answer += received
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"request_too_large" in answer


class LockedEngine(Engine):
    """An engine that, like llama.cpp's, serves one request at a time under a lock held for
    the whole generation, streaming fast: ``pieces`` chunks of ``size`` characters. With
    ``gate`` it waits for the test before answering (generation saturated)."""

    kind = "locked"

    def __init__(self, pieces: int = 1000, size: int = 10_000, gate: threading.Event | None = None):
        super().__init__("locked")
        self.pieces, self.size, self.gate = pieces, size, gate
        self.lock = threading.Lock()
        self.waiting = 0

    def _wait_gate(self) -> None:
        self.waiting += 1
        if self.gate is not None:
            assert self.gate.wait(60)

    def _complete(self, messages, params, json_schema, tools) -> ChatResult:
        with self.lock:
            self._wait_gate()
            return ChatResult("ok", "stop", Usage(3, 1), self.name)

    def _stream(self, messages, params, json_schema) -> Iterator[ChatChunk]:
        with self.lock:
            self._wait_gate()
            for _ in range(self.pieces):
                yield ChatChunk("x" * self.size)
            yield ChatChunk("", finish_reason="stop", usage=Usage(3, self.pieces))


def serve_engine(server, engine: Engine) -> None:
    pool = server.app.state.pasar.models
    pool._engines[engine.name] = engine


def test_a_stream_nobody_reads_does_not_hold_the_model(make_server, tmp_path) -> None:
    """A client opens a stream of 10 MB (more than socket buffers hold) and reads none of it:
    the model's lock is released once the answer is generated, so the next client is answered,
    not kept waiting."""
    server = make_server(sqlite(tmp_path))
    serve_engine(server, LockedEngine())
    body = json.dumps({"model": "locked", "messages": HI, "stream": True}).encode()
    with socket.socket() as stalled:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", server.port))
        stalled.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        time.sleep(0.5)  # the stream is under way, and stalls once the socket buffers fill
        started = time.monotonic()
        second = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"model": "locked", "messages": HI},
            timeout=15,
        )
        assert second.status_code == 200, second.text
        assert time.monotonic() - started < 10
        # The stalled client still gets its whole answer when it reads.
        stalled.settimeout(10)
        received = bytearray()
        while not received.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n"):
            piece = stalled.recv(1 << 20)
            assert piece, f"the server closed the stream early: {len(received)} bytes"
            received += piece
    assert received.count(b"x" * 10_000) == 1000


def test_health_answers_while_generation_is_saturated(make_server, tmp_path) -> None:
    """More requests wait for the model than the server has worker threads: /health still
    answers at once (a load balancer must not take a busy server for a dead one)."""
    server = make_server(sqlite(tmp_path))
    gate = threading.Event()
    engine = LockedEngine(pieces=5, size=10, gate=gate)
    serve_engine(server, engine)
    url = f"{server.url}/v1/chat/completions"
    results: list[int] = []

    def ask(i: int) -> None:
        r = httpx.post(
            url, json={"model": "locked", "messages": HI, "stream": i % 2 == 0}, timeout=60
        )
        results.append(r.status_code)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(48)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while engine.waiting < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)  # the rest queue up behind the lock
        started = time.monotonic()
        health = httpx.get(f"{server.url}/health", timeout=5)
        elapsed = time.monotonic() - started
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert elapsed < 2, f"/health took {elapsed:.1f} s"
    finally:
        gate.set()
        for thread in threads:
            thread.join(60)
    assert results == [200] * 48


def test_tokens_are_rate_limited_per_key(make_server, tmp_path) -> None:
    """Besides requests, each key may spend PASAR_TOKEN_LIMIT_PER_MINUTE prompt and completion
    tokens a minute: one key past it gets 429 (with Retry-After, naming the limit and the
    setting), another key is still served."""
    server = make_server(sqlite(tmp_path), token_limit_per_minute=60)
    first_key, _ = create_key(server.store, name="first", scope="user")
    other_key, _ = create_key(server.store, name="other", scope="user")
    server.app.state.pasar._auth_checked = -1e9  # see the new keys now, not within the second
    url = f"{server.url}/v1/chat/completions"
    request = {"model": MODEL, "messages": HI, "max_tokens": 4, "temperature": 0}

    def ask(key: str, **change) -> httpx.Response:  # type: ignore[no-untyped-def]
        return httpx.post(
            url, json=request | change, headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    used = 0
    for i in range(6):
        streamed = {"stream": True, "stream_options": {"include_usage": True}}
        r = ask(first_key, **(streamed if i % 2 else {}))  # streamed answers are counted too
        if r.status_code == 429:
            break
        assert r.status_code == 200, r.text
        if i % 2:
            events = [json.loads(line[6:]) for line in r.text.splitlines() if "usage" in line]
            used += events[-1]["usage"]["total_tokens"]
        else:
            used += r.json()["usage"]["total_tokens"]
    assert r.status_code == 429, f"{used} tokens used and still served"
    assert used >= 50  # not refused within the budget (a few tokens refill meanwhile)
    error = r.json()["error"]
    assert error["code"] == "token_rate_limit_exceeded"
    assert "60 tokens/minute" in error["message"]
    assert "PASAR_TOKEN_LIMIT_PER_MINUTE" in error["message"]
    assert int(r.headers["Retry-After"]) >= 1
    assert ask(other_key).status_code == 200  # the limit is per key
