"""Compute and memory limits of `pasar serve`, against a real uvicorn on loopback."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

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
