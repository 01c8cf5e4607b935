"""Shared fixtures: an isolated PASAR_HOME per test, and models loaded once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pasar.config import get_settings
from pasar.models.embedded import find_embedded_gguf

TESTS = Path(__file__).parent
# Whole lines in the CLI's messages, in this process as in subprocesses: rich reads the width
# once, when pasar.cli.output's consoles are made (at the first import, during collection).
os.environ["COLUMNS"] = "200"

WORKER = os.environ.get("PYTEST_XDIST_WORKER") is not None
if WORKER:
    # Tests run in one worker per core (pytest-xdist, `-n auto` in pyproject): each worker
    # computes on one thread, so two workers never fight over a core. llama.cpp's OpenMP threads
    # spin while they wait: two 2-thread engines on 2 cores slow each other many times over.
    # Children (`pasar` subprocesses, servers, Ray workers) inherit the same settings.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "PASAR_THREADS"):
        os.environ[variable] = "1"
# llama.cpp engines the tests build themselves take this (None: llama-cpp-python's default).
THREADS = 1 if WORKER else None
SHARED_DATA = TESTS.parent.parent / "shared" / "data"


def run_pasar(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The pasar command in a subprocess, as a user runs it (COLUMNS above: whole lines)."""
    return subprocess.run(
        [sys.executable, "-m", "pasar.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def invoke_pasar(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The pasar command in this process (Typer's CliRunner), for commands that load no model:
    the same exit code, stdout and stderr as `run_pasar` without a new interpreter (~1 s).
    Anything but a clean exit (an error the CLI did not turn into one line) is raised."""
    from typer.testing import CliRunner

    from pasar.cli.main import app

    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


@pytest.fixture(autouse=True)
def fresh_accelerate_state() -> Iterator[None]:
    """accelerate keeps one AcceleratorState per process: a Trainer in one test would leave its
    mixed precision to the next test's Accelerator() ("already been initialized and cannot be
    changed"), so which tests pass would depend on how xdist shares files among workers. Reset
    after every test, as accelerate's own test cases do."""
    yield
    if "accelerate.state" in sys.modules:
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(autouse=True)
def pasar_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets an empty PASAR_HOME and fresh settings, so nothing leaks between tests.
    The tests' default model is the 135M one: fast, and no test claims quality from it."""
    home = tmp_path / "pasar-home"
    monkeypatch.setenv("PASAR_HOME", str(home))
    monkeypatch.setenv("PASAR_MODEL", "smollm2-135m-instruct")
    for var in ("PASAR_ENGINE", "PASAR_CONFIG", "PASAR_N_CTX", "PASAR_STORE_URL"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedded_gguf() -> Path:
    path = find_embedded_gguf(Path("/nonexistent"))
    assert path is not None, "the embedded model is not installed: run scripts/setup"
    return path


@pytest.fixture(scope="session")
def llama_engine(embedded_gguf: Path):
    """The 135M model as `pasar serve` and the CLI load it (its card's sampling defaults)."""
    from pasar.models.embedded import SMOLLM2
    from pasar.models.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine(
        SMOLLM2.name,
        str(embedded_gguf),
        n_ctx=1024,
        n_threads=THREADS,
        repeat_penalty=SMOLLM2.repeat_penalty,
    )
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    """A SQLite store with the retail database imported, one per test module."""
    from pasar.store.commerce import import_retail, load_retail_json
    from pasar.store.db import open_store

    db = open_store(f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}")
    import_retail(db, load_retail_json(SHARED_DATA / "retail" / "db.json"))
    return db


@pytest.fixture(scope="session")
def greedy_hi(llama_engine):
    """The embedded model's greedy answer to "Hi" with at most ``max_tokens`` tokens, as this
    llama.cpp build gives it. Tests of the CLI, the server and the UI compare with the engine,
    not with a string one build printed (the answer changed between llama-cpp-python releases)."""
    answers = {}

    def answer(max_tokens: int = 20):
        if max_tokens not in answers:
            answers[max_tokens] = llama_engine.chat(
                [{"role": "user", "content": "Hi"}], max_tokens=max_tokens
            )
        return answers[max_tokens]

    return answer


@pytest.fixture
def chat_hi(pasar_home: Path):
    """`pasar chat -p Hi`'s answer (greedy, 256 tokens), from an engine loaded as the CLI loads
    it: the same settings (context, parallel sequences, threads). llama.cpp can break a near
    tie between two tokens differently under another context or on another CPU (CI once saw
    "help" where `greedy_hi`'s one-sequence context gave "assist"), so the CLI is compared with
    this, not with ``greedy_hi``."""
    from pasar.models.registry import load_engine

    engine = load_engine()
    try:
        return engine.chat(
            [{"role": "user", "content": "Hi"}], temperature=0.0, top_p=1.0, max_tokens=256
        )
    finally:
        engine.close()


def stop_before_fifth_word(text: str) -> tuple[str, str]:
    """A stop string taken from an answer (its fifth word), and the text before it."""
    stop = " " + text.split()[4]
    return stop, text[: text.index(stop)]


@pytest.fixture(scope="session")
def hf_gguf_engine(embedded_gguf: Path):
    """The embedded GGUF dequantised into transformers (about 15 s to load)."""
    from pasar.models.hf import HFEngine

    return HFEngine("smollm2-135m-instruct", str(embedded_gguf), n_ctx=1024)


def save_random_llama(out: Path, gguf: Path, hidden: int, positions: int) -> Path:
    """A random 2-layer Llama (seed 0) with SmolLM2's real tokenizer, saved as an HF dir."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory: pytest.TempPathFactory, embedded_gguf: Path) -> Path:
    """Hidden size 8: the cheapest model that runs every code path."""
    return save_random_llama(tmp_path_factory.mktemp("tiny-llama"), embedded_gguf, 8, 512)


@pytest.fixture(scope="session")
def small_llm_dir(tmp_path_factory: pytest.TempPathFactory, embedded_gguf: Path) -> Path:
    """Hidden size 32: big enough to learn four captions in a few dozen steps."""
    return save_random_llama(tmp_path_factory.mktemp("small-llama"), embedded_gguf, 32, 256)


# -- servers the tests start for real ---------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, proc, what: str, timeout: float = 60) -> None:
    """Poll ``url`` until it answers 200; fail if ``proc`` exits or time runs out."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"{what} exited during start-up"
        assert time.monotonic() < deadline, f"{what} did not start within {timeout:.0f} s"
        time.sleep(0.1)


def start_serve(store_url: str, home: Path) -> tuple[subprocess.Popen[str], str]:
    """`pasar serve` as its own process on a free port (stderr kept, as text); returns it and
    its base URL once /health answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pasar.cli.main", "serve", "--port", str(port)]
        + ["--store", store_url],
        env={**os.environ, "PASAR_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(f"{url}/health", proc, "pasar serve")
    return proc, url


def _pg_bin(name: str) -> str:
    import glob

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    assert found, (
        "PostgreSQL server binaries not found: install Debian's `postgresql` package "
        "(scripts/setup does, as root)"
    )
    return found[-1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL server on loopback, in a temporary data directory; yields a base URL."""
    import os
    import shutil
    import subprocess
    import tempfile

    # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
    data = Path(tempfile.mkdtemp(prefix="pasar-pg-"))
    port = free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: run it as the postgres user
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, _pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=on"
    subprocess.run(
        [
            *as_user,
            _pg_bin("pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(data / "log"),
            "start",
        ],
        check=True,
        capture_output=True,
    )
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    yield url
    subprocess.run(
        [*as_user, _pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True
    )
    shutil.rmtree(data, ignore_errors=True)


def new_postgres_database(server_url: str) -> str:
    import uuid

    import psycopg

    name = f"pasar_{uuid.uuid4().hex[:12]}"
    conninfo = server_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store on each backend: a SQLite file, or a new database on the real server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_server"))


class LiveServer:
    """pasar's app under a real uvicorn on loopback, in a thread."""

    def __init__(self, settings):
        import threading

        import uvicorn

        from pasar.serve.app import create_app

        self.app = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def store(self):
        return self.app.state.pasar.store


@pytest.fixture
def make_server(pasar_home: Path):
    """Start servers with given settings; all stopped at the end of the test."""
    from pasar.config import Settings

    started: list[LiveServer] = []

    def start(store_url: str, **settings) -> LiveServer:
        server = LiveServer(Settings(home=pasar_home, store_url=store_url, **settings))
        started.append(server.__enter__())
        return server

    yield start
    for server in started:
        server.__exit__()


@contextmanager
def store_at_revision(store_url: str, revision: str) -> Iterator[Any]:
    """A store migrated only up to ``revision``: the connection writes rows as an older pasar
    did; ``open_store(store_url)`` afterwards runs the newer migrations over them."""
    from alembic import command
    from alembic.config import Config

    from pasar.store.db import MIGRATIONS, make_engine

    engine = make_engine(store_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        yield connection
    engine.dispose()
