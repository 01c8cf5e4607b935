"""No loss: SIGKILL `pasar serve` during a burst of feedback writes; every acknowledged write
is there after a restart."""

from __future__ import annotations

import signal
import threading
import time

import httpx
from conftest import start_serve

from pasar.store.db import open_store
from pasar.store.schema import Feedback


def test_acknowledged_feedback_survives_sigkill(store_url, pasar_home):
    proc, url = start_serve(store_url, pasar_home)
    completion = httpx.post(
        f"{url}/v1/chat/completions",
        timeout=60,
        json={
            "model": "smollm2-135m-instruct",
            "messages": [{"role": "user", "content": "Hi"}],
            "temperature": 0,
            "max_tokens": 8,
        },
    ).json()
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        with httpx.Client(timeout=5) as client:
            for i in range(10_000):  # bounded; the kill ends it long before
                if stop.is_set():
                    return
                try:
                    response = client.post(
                        f"{url}/v1/feedback",
                        json={
                            "message_id": completion["id"],
                            "rating": "up" if i % 2 else "down",
                            "comment": f"worker {worker} write {i}",
                        },
                    )
                except httpx.HTTPError:
                    return  # the server is gone: this write was never acknowledged
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(response.json()["id"])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # mid-burst: writers are still sending
    proc.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert len(acknowledged) >= 150, "the burst was too slow to test anything"

    proc, url = start_serve(store_url, pasar_home)  # restarts cleanly on the same store
    try:
        store = open_store(store_url)
        with store.session() as session:
            stored = set(
                session.scalars(Feedback.__table__.select().with_only_columns(Feedback.id))
            )
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged feedback writes were lost"
        conv = httpx.get(f"{url}/v1/conversations").json()["data"]
        assert conv and conv[0]["message_count"] == 2
    finally:
        proc.terminate()
        proc.wait(timeout=10)
