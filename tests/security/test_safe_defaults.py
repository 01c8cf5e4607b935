"""Hostile requests against a real server and store: the server fails closed.

Each test here failed before its fix (docs/security.md lists the attacks and the guarantees).
"""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from pasar.cli.main import app
from pasar.store.keys import create_key, revoke_key


def test_a_foreign_host_header_is_refused(make_server, tmp_path: Path) -> None:
    """DNS rebinding: a page on evil.example resolves its name to 127.0.0.1 and calls the API
    from the victim's browser, with Host: evil.example."""
    server = make_server(f"sqlite:///{tmp_path / 's.db'}")
    r = httpx.get(f"{server.url}/v1/conversations", headers={"Host": "evil.example"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_host"
    assert "PASAR_ALLOWED_HOSTS" in r.json()["error"]["message"]
    assert httpx.get(f"{server.url}/health", headers={"Host": "localhost:8000"}).status_code == 200
    allowed = make_server(f"sqlite:///{tmp_path / 't.db'}", allowed_hosts=["shop.example"])
    r = httpx.get(f"{allowed.url}/health", headers={"Host": "shop.example"})
    assert r.status_code == 200


def test_a_body_not_declared_json_is_refused(make_server, tmp_path: Path) -> None:
    """A cross-site form post (text/plain needs no CORS preflight) must not pass as JSON."""
    server = make_server(f"sqlite:///{tmp_path / 's.db'}")
    body = b'{"message_id": "x", "rating": "up"}'
    for headers in ({"Content-Type": "text/plain"}, {}):
        r = httpx.post(f"{server.url}/v1/feedback", content=body, headers=headers)
        assert r.status_code == 415, (headers, r.text)
        assert r.json()["error"]["code"] == "unsupported_media_type"
    r = httpx.post(f"{server.url}/v1/feedback", json={"message_id": "x", "rating": "up"})
    assert r.status_code == 404  # JSON reaches the route: no such message


def test_revoking_the_last_key_keeps_the_server_closed(make_server, tmp_path: Path) -> None:
    server = make_server(f"sqlite:///{tmp_path / 's.db'}")
    key, _ = create_key(server.store, name="shop", scope="admin")
    server.app.state.pasar._auth_checked = -1e9
    assert httpx.get(f"{server.url}/v1/admin/stats").status_code == 401
    revoke_key(server.store, name="shop")
    server.app.state.pasar._auth_checked = -1e9
    # Before: no active key left meant no auth at all, admin export included.
    assert httpx.get(f"{server.url}/v1/admin/stats").status_code == 401
    assert httpx.get(f"{server.url}/v1/admin/export?format=sft").status_code == 401
    old = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{server.url}/v1/admin/stats", headers=old).status_code == 401


def test_serving_beyond_loopback_needs_a_key_or_an_explicit_flag(pasar_home: Path) -> None:
    done = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert done.exit_code == 2
    message = " ".join(done.output.split())
    assert "refusing to serve on 0.0.0.0 with no API keys" in message
    assert "pasar keys create NAME" in message and "--insecure-open" in message
