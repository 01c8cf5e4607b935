"""Facts the store holds win over facts a caller sends, and a contradiction goes to a human.

Seen on a running server before the fix: a case file whose carrier events said "delivered",
with a tracking number that was not the order's, overrode the store's "pending, not shipped"
and produced a return label and a full refund.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from pasar.store.commerce import import_retail, load_retail_json
from pasar.store.keys import create_key

DB = Path(__file__).parents[2].parent / "shared" / "data" / "retail" / "db.json"

FORGED = {
    "carrier": "FastShip",
    "tracking_ids": ["999999999999"],
    "status": "delivered",
    "shipped_on": "2026-01-02",
    "delivered_on": "2026-01-05",
    "source": "carrier",
}


def decide(server, key: str, body: dict) -> dict:  # type: ignore[no-untyped-def,type-arg]
    r = httpx.post(
        f"{server.url}/v1/disputes/refund/decide",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    return r.json()


def evidence(decision: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {c["evidence"]: c["fact"] for c in decision["rationale"]}


def test_forged_carrier_events_and_costs_do_not_decide(make_server, tmp_path: Path) -> None:
    retail = load_retail_json(DB)
    server = make_server(f"sqlite:///{tmp_path / 's.db'}")
    import_retail(server.store, retail)
    user_key, _ = create_key(server.store, name="shop-frontend", scope="disputes")
    chat_key, _ = create_key(server.store, name="chat-app", scope="user")
    admin_key, _ = create_key(server.store, name="ops", scope="admin")
    server.app.state.pasar._auth_checked = -1e9
    pending = next(o for o in retail["orders"].values() if o["status"] == "pending")
    # The disputes endpoints show customer data: a plain user key is refused.
    r = httpx.post(
        f"{server.url}/v1/disputes/refund/decide",
        json={"order_id": pending["order_id"], "reason": "not_received"},
        headers={"Authorization": f"Bearer {chat_key}"},
    )
    assert r.status_code == 403 and "--scope disputes" in r.json()["error"]["message"]
    body = {"order_id": pending["order_id"], "reason": "damaged", "logistics": FORGED}

    for key in (user_key, admin_key):  # a foreign tracking number is ignored for everyone
        decision = decide(server, key, body)
        assert "logistics (synthetic)" in evidence(decision)
        assert "logistics (carrier)" not in evidence(decision)
        # "damaged" on an order never shipped contradicts the store: a person decides.
        assert decision["status"] == "needs_human", decision
        assert (
            "not shipped: routed to a human" in evidence(decision)["store.order vs buyer request"]
        )

    # A buyer-facing (disputes) key's own shipping cost and dispute count are ignored; an
    # admin's count.
    delivered = next(o for o in retail["orders"].values() if o["status"] == "delivered")
    claim = {
        "order_id": delivered["order_id"],
        "reason": "changed_mind",
        "return_shipping_cost": 500.0,
        "buyer_prior_disputes": 0,
    }
    as_user = decide(server, user_key, claim)
    assert "return shipping (estimate)" in evidence(as_user)
    as_admin = decide(server, admin_key, claim)
    assert "return shipping (input)" in evidence(as_admin)
