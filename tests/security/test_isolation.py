"""One key never sees or changes another key's conversations, messages or feedback.

Before: any key listed and read every conversation, gave feedback on any message and appended
to any conversation by its id; those rows then flowed into training exports.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from pasar.store.keys import create_key


def chat(server, key: str, **extra) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(
        f"{server.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "model": "smollm2-135m-instruct",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 4,
            "temperature": 0,
        }
        | extra,
        timeout=120,
    )


def test_two_keys_are_isolated_both_ways_and_admin_sees_all(
    make_server, tmp_path: Path, embedded_gguf: Path
) -> None:
    server = make_server(f"sqlite:///{tmp_path / 's.db'}")
    keys = {
        name: create_key(server.store, name=name, scope=scope)[0]
        for name, scope in (("a", "user"), ("b", "user"), ("admin", "admin"))
    }
    server.app.state.pasar._auth_checked = -1e9

    def get(name: str, path: str) -> httpx.Response:
        return httpx.get(
            f"{server.url}{path}", headers={"Authorization": f"Bearer {keys[name]}"}, timeout=30
        )

    made = {}
    for name in ("a", "b"):
        r = chat(server, keys[name], n=2)  # a second choice: reached by (completion, choice)
        assert r.status_code == 200, r.text
        made[name] = (r.json()["conversation_id"], r.json()["id"])
    for me, other in (("a", "b"), ("b", "a")):
        their_conversation, their_message = made[other]
        listed = [c["id"] for c in get(me, "/v1/conversations").json()["data"]]
        assert listed == [made[me][0]]
        assert get(me, f"/v1/conversations/{their_conversation}").status_code == 404
        r = httpx.post(
            f"{server.url}/v1/feedback",
            headers={"Authorization": f"Bearer {keys[me]}"},
            json={"message_id": their_message, "rating": "down", "correction": "poisoned"},
        )
        assert r.status_code == 404
        r = httpx.post(
            f"{server.url}/v1/feedback",
            headers={"Authorization": f"Bearer {keys[me]}"},
            json={"message_id": their_message, "choice_index": 1, "rating": "down"},
        )
        assert r.status_code == 404
        before = get(other, f"/v1/conversations/{their_conversation}").json()["messages"]
        r = chat(server, keys[me], conversation_id=their_conversation)
        assert r.status_code == 404, r.text
        after = get(other, f"/v1/conversations/{their_conversation}").json()["messages"]
        assert after == before  # nothing appended, no feedback added
        assert all(not m.get("feedback") for m in after)
    own = httpx.post(
        f"{server.url}/v1/feedback",
        headers={"Authorization": f"Bearer {keys['a']}"},
        json={"message_id": made["a"][1], "choice_index": 1, "rating": "up"},
    )
    assert own.status_code == 201 and own.json()["choice_index"] == 1
    everyone = {c["id"] for c in get("admin", "/v1/conversations").json()["data"]}
    assert everyone == {made["a"][0], made["b"][0]}
    assert get("admin", f"/v1/conversations/{made['a'][0]}").status_code == 200
