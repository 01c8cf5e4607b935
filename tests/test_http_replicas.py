"""Replicas: one model name on several real OpenAI-compatible servers (llama-cpp-python's,
started here), used in turn; a dead one skipped and used again once it is back; a request
that no server could answer is a 503 naming each server. Which server answered a request is
read from that server's own access log."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import free_port, invoke_pasar, start_serve, wait_until_up

from pasar.errors import EngineRequestError, EngineUnavailableError, UnknownModelError
from pasar.models.registry import load_engine, resolve_model

HI = [{"role": "user", "content": "Hi"}]
COUNT = [{"role": "user", "content": "Count from 1 to 100, separated by commas."}]


class Server:
    """llama-cpp-python's server on a port of its own, its access log in a file (kept across
    restarts on the same port)."""

    def __init__(self, gguf: Path, log: Path):
        self.gguf, self.log = gguf, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf)]
                + ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "512"]
                + ["--n_threads", "1"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until_up(f"{self.url}/models", self.proc, "llama_cpp.server")

    def kill(self) -> None:
        """SIGKILL: a crash, not a graceful shutdown that finishes the requests in flight."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def answered(self) -> int:
        """Chat completions this server answered with 200, by its access log."""
        return self.log.read_text().count('"POST /v1/chat/completions HTTP/1.1" 200')


@pytest.fixture(scope="module")
def servers(
    embedded_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    logs = tmp_path_factory.mktemp("replica-logs")
    pair = (Server(embedded_gguf, logs / "a.log"), Server(embedded_gguf, logs / "b.log"))
    try:
        for server in pair:
            server.start()
        yield pair
    finally:
        for server in pair:
            server.kill()


@pytest.fixture
def up(servers: tuple[Server, Server]) -> tuple[Server, Server]:
    """Both servers, running (a test before may have killed one)."""
    for server in servers:
        if server.proc is None or server.proc.poll() is not None:
            server.start()
    return servers


def counts(a: Server, b: Server) -> tuple[int, int]:
    return a.answered(), b.answered()


def assert_answered(a: Server, b: Server, expected: tuple[int, int]) -> None:
    """Each server's count reaches ``expected`` (a log line may trail the answer a little),
    and goes no further."""
    deadline = time.monotonic() + 5
    while counts(a, b) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counts(a, b) == expected


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def test_requests_take_turns_between_replicas(up):
    a, b = up
    engine = load_engine(f"{a.url},{b.url}")
    assert [r.url for r in engine.replicas.replicas] == [a.url, b.url]
    before = counts(a, b)
    answers = [engine.chat(HI, max_tokens=8) for _ in range(4)]
    assert_answered(a, b, (before[0] + 2, before[1] + 2))
    # The same model greedy on both servers: the same answer, whichever one gave it.
    assert answers[0].text and all(r.text == answers[0].text for r in answers)

    streamed = ["".join(c.text for c in engine.stream(HI, max_tokens=8)) for _ in range(2)]
    assert streamed == [answers[0].text] * 2
    assert_answered(a, b, (before[0] + 3, before[1] + 3))


def test_a_killed_replica_is_skipped_then_used_again_once_back(up):
    a, b = up
    engine = load_engine(f"{a.url},{b.url}", cooldown=1.0)
    before = counts(a, b)
    expected = engine.chat(HI, max_tokens=8).text
    engine.chat(HI, max_tokens=8)
    assert_answered(a, b, (before[0] + 1, before[1] + 1))

    b.kill()  # the engine still holds a kept-alive connection to it
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: engine.chat(HI, max_tokens=8).text, range(8)))
    streamed = ["".join(c.text for c in engine.stream(HI, max_tokens=8)) for _ in range(2)]
    assert answers == [expected] * 8  # not one request failed: each moved on to a
    assert streamed == [expected] * 2
    assert_answered(a, b, (before[0] + 11, before[1] + 1))
    down = engine.replicas.replicas[1].down
    assert isinstance(down, EngineUnavailableError) and b.url in str(down)

    b.start()
    time.sleep(1.1)  # the cool-down: then the next request checks b and puts it back in turn
    for _ in range(4):
        assert engine.chat(HI, max_tokens=8).text == expected
    assert_answered(a, b, (before[0] + 13, before[1] + 3))
    assert engine.replicas.replicas[1].down is None


def test_a_stream_cut_by_its_dying_replica_says_so_and_the_next_request_moves(up):
    a, b = up
    engine = load_engine(f"{a.url},{b.url}", cooldown=60)
    before = counts(a, b)
    stream = engine.stream(COUNT, max_tokens=300)
    first = next(stream)
    assert first.text
    deadline = time.monotonic() + 5
    while counts(a, b) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    serving, other = (a, b) if counts(a, b)[0] > before[0] else (b, a)
    serving.kill()  # mid-answer: a few tokens out of about 300
    with pytest.raises(EngineRequestError, match=f"the stream from {serving.url} failed"):
        for _ in stream:
            pass
    # Marked down: the next requests go to the other server, with no failed attempt first.
    after = counts(a, b)
    for _ in range(2):
        assert engine.chat(HI, max_tokens=8).text
    assert other.answered() == (after[0] if other is a else after[1]) + 2


def test_no_server_answering_is_one_error_naming_each():
    first, second = dead_url(), dead_url()
    engine = load_engine(f"{first},{second}")
    for _ in range(2):  # also once both are marked down: checked again, still named
        with pytest.raises(EngineUnavailableError) as info:
            engine.chat(HI, max_tokens=5)
        message = str(info.value)
        assert "none of the 2 servers of model" in message
        assert f"cannot reach the OpenAI-compatible server at {first}" in message
        assert f"cannot reach the OpenAI-compatible server at {second}" in message
        assert "Check that it is running" in message


def test_replica_urls_in_a_model_name():
    spec = resolve_model("http://h1:8000/v1, http://h2:8000/v1#Qwen/Qwen2.5-7B-Instruct")
    assert (spec.engine, spec.source) == ("http", "http://h1:8000/v1,http://h2:8000/v1")
    assert spec.remote_model == "Qwen/Qwen2.5-7B-Instruct"
    with pytest.raises(UnknownModelError, match="'h2:8000/v1' is not an http"):
        resolve_model("http://h1:8000/v1,h2:8000/v1")
    with pytest.raises(UnknownModelError, match="name different models"):
        resolve_model("http://h1:8000/v1#a,http://h2:8000/v1#b")


def test_pasar_serve_in_front_of_replicas(up, pasar_home: Path, tmp_path: Path, embedded_gguf):
    a, b = up
    added = invoke_pasar("models", "add", "replicated", a.url, b.url)
    assert added.returncode == 0, added.stderr
    nowhere = (dead_url(), dead_url())
    assert invoke_pasar("models", "add", "nowhere", *nowhere).returncode == 0
    mixed = invoke_pasar("models", "add", "mixed", str(embedded_gguf), a.url)
    assert mixed.returncode == 2
    assert "only an http model takes several sources" in mixed.stderr
    registry = json.loads((pasar_home / "models.json").read_text())
    assert registry["replicated"]["source"] == f"{a.url},{b.url}"
    assert "mixed" not in registry

    proc, url = start_serve(f"sqlite:///{tmp_path / 'store.db'}", pasar_home)
    try:
        before = counts(a, b)
        request = {"model": "replicated", "messages": HI, "max_tokens": 8, "temperature": 0}
        texts = []
        for _ in range(4):
            response = httpx.post(f"{url}/v1/chat/completions", json=request, timeout=60)
            assert response.status_code == 200, response.text
            texts.append(response.json()["choices"][0]["message"]["content"])
        assert texts[0] and texts == [texts[0]] * 4
        assert_answered(a, b, (before[0] + 2, before[1] + 2))

        streamed = httpx.post(
            f"{url}/v1/chat/completions", json=request | {"stream": True}, timeout=60
        )
        assert streamed.status_code == 200
        events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        content = "".join(
            choice["delta"].get("content") or ""
            for event in events[:-1]
            for choice in json.loads(event)["choices"]
        )
        assert content == texts[0]

        failed = httpx.post(
            f"{url}/v1/chat/completions", json=request | {"model": "nowhere"}, timeout=60
        )
        assert failed.status_code == 503
        error = failed.json()["error"]
        assert "none of the 2 servers of model 'nowhere'" in error["message"]
        assert all(dead in error["message"] for dead in nowhere)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
