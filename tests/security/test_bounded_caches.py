"""In-memory caches keyed by what clients send stay bounded under a flood of distinct keys."""

from __future__ import annotations

import pytest

from pasar.cache import BoundedCache
from pasar.models.llamacpp import GRAMMAR_CACHE_BYTES, GRAMMAR_CACHE_ITEMS
from pasar.serve.limits import MAX_RATE_CLIENTS, RateLimiter


def test_bounded_cache_evicts_the_least_recently_used_by_count_and_bytes() -> None:
    cache: BoundedCache[str, str] = BoundedCache(max_items=3, max_bytes=10)
    for key in "abc":
        cache.put(key, key * 2)
    assert cache.get("a") == "aa"  # now the most recently used
    cache.put("d", "dd")
    assert "b" not in cache and len(cache) == 3 and cache.nbytes == 6
    cache.put("e", "e" * 8)  # 14 bytes: the oldest go until 10 or fewer are left
    assert "e" in cache and cache.nbytes <= 10 and len(cache) == 2
    cache.put("huge", "x" * 11)  # larger than the whole cache: not kept
    assert "huge" not in cache and cache.nbytes <= 10
    assert cache.pop("e") == "e" * 8 and cache.nbytes == len(cache) * 2
    with pytest.raises(ValueError, match="max_items"):
        BoundedCache(0)


def test_a_flood_of_json_schemas_keeps_the_grammar_cache_bounded(llama_engine) -> None:
    """Each distinct schema a client sends compiles to a grammar kept for reuse: a client
    sending a new schema with every request must not grow the server's memory forever."""
    kept = {"type": "object", "properties": {"kept": {"type": "integer"}}}
    for i in range(3 * GRAMMAR_CACHE_ITEMS):
        llama_engine._grammar({"type": "object", "properties": {f"field_{i}": {"type": "string"}}})
        llama_engine._grammar(kept)  # used all along: stays
        assert len(llama_engine._grammars) <= GRAMMAR_CACHE_ITEMS
    assert llama_engine._grammars.nbytes <= GRAMMAR_CACHE_BYTES
    grammar = llama_engine._grammar(kept)
    assert llama_engine._grammar(kept) is grammar  # still cached, not compiled again


def test_a_flood_of_clients_keeps_the_rate_limit_buckets_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    for i in range(MAX_RATE_CLIENTS + 5000):  # all at one instant: none has refilled
        assert limiter.retry_after(f"ip:10.{i // 65536}.{i // 256 % 256}.{i % 256}", 600) == 0
        assert len(limiter._buckets) <= MAX_RATE_CLIENTS
    assert len(limiter._buckets) == MAX_RATE_CLIENTS
    # A client over its limit is still limited while the flood goes on ...
    for _ in range(3):
        limiter.retry_after("key:1", 3)
    assert limiter.retry_after("key:1", 3) > 0
    charge = limiter.reserve_tokens("key:1", 100, 150)
    assert not isinstance(charge, float)
    assert isinstance(limiter.reserve_tokens("key:1", 100, 10), float)  # in debt: waits
    # ... and buckets idle long enough to have refilled are dropped: they hold nothing.
    now[0] += 61
    limiter.retry_after("key:2", 600)
    assert len(limiter._buckets) <= 3
    now[0] += 120  # the debt of 50 tokens at 100/minute is paid after 30 s
    assert not isinstance(limiter.reserve_tokens("key:1", 100, 10), float)


def test_a_flood_of_taskbot_conversations_keeps_the_sessions_bounded() -> None:
    # Before, sessions were bounded by count only: a few long conversations could hold any
    # amount of memory.
    from conftest import SHARED_DATA

    from pasar.apps.taskbot.environment import episode_store, load_template
    from pasar.apps.taskbot.flows import FlowsAgent
    from pasar.apps.taskbot.serving import CALLER, Caller, TaskbotEngine

    store = episode_store(load_template(SHARED_DATA / "retail" / "db.json"))
    engine = TaskbotEngine(
        "taskbot-flows",
        store,
        lambda env, language: FlowsAgent(env, language),
        max_sessions=50,
        max_session_bytes=20_000,
    )
    for i in range(40):
        CALLER.set(Caller(conversation=f"c{i}"))
        engine.reply([{"role": "user", "content": "Where is my order? " + "x" * 2_000}])
    assert engine._sessions.nbytes <= 20_000
    assert 1 <= len(engine._sessions) < 40
