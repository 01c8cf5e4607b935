"""Bodies that buy unbounded compute, or used to reach the database as a 500, get a 400."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

BASE = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"max_tokens": 1_000_000}, "max_tokens"),
        ({"n": 100}, "n"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4 stop strings"),
        ({"stop": "x" * 500}, "at most 64 characters"),
        (
            {"response_format": {"type": "json_object", "schema": {"enum": ["v" * 40] * 1000}}},
            "larger than",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 7}]}]}, "string"),
        ({"messages": [{"role": "user", "content": "a\u0000b"}]}, "NUL"),
        (
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "tool", "content": "x", "tool_call_id": "c" * 500},
                ]
            },
            "tool_call_id",
        ),
    ],
)
def test_hostile_bodies_get_a_clear_400(
    make_server,
    tmp_path: Path,
    postgres_server,
    change: dict,
    says: str,  # type: ignore[type-arg]
) -> None:
    from conftest import new_postgres_database  # noqa: PLC0415 - the tests' own helper

    server = make_server(new_postgres_database(postgres_server))
    r = httpx.post(f"{server.url}/v1/chat/completions", json=BASE | change, timeout=60)
    assert r.status_code == 400, r.text
    assert says in r.text
