"""Disputes over HTTP (`pasar serve`): refund decisions and chargeback packets, retail data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
from conftest import SHARED_DATA
from pypdf import PdfReader

from pasar.store.commerce import import_retail, load_retail_json
from pasar.store.db import open_store

EXAMPLES = Path(__file__).parent.parent / "examples" / "disputes"


def test_refund_and_chargeback_endpoints(make_server, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    import_retail(open_store(url), load_retail_json(SHARED_DATA / "retail" / "db.json"))
    server = make_server(url)
    case = json.loads((EXAMPLES / "case-demand-th.json").read_text())
    r = httpx.post(f"{server.url}/v1/disputes/refund/decide", json=case, timeout=120)
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["decided_by"] == "rules"  # no model under PASAR_HOME/disputes
    assert (decision["refund_type"], decision["refund_amount"]) == ("full", 29.28)
    assert decision["reply_language"] == "th"

    r = httpx.post(
        f"{server.url}/v1/disputes/refund/decide",
        json=case | {"return_shipping_cost": -1},
        timeout=60,
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "return_shipping_cost"
    r = httpx.post(
        f"{server.url}/v1/disputes/refund/decide", json=case | {"order_id": "#W0"}, timeout=60
    )
    assert r.status_code == 404 and "no order with id '#W0'" in r.json()["error"]["message"]
    # An attack seen on a running server: one item id 22 times decided a refund of 22 items.
    from pasar.store.commerce import get_order

    items = get_order(open_store(url), order_id=case["order_id"])["items"]
    r = httpx.post(
        f"{server.url}/v1/disputes/refund/decide",
        json=case | {"item_ids": [items[0]["item_id"]] * 22},
        timeout=60,
    )
    assert r.status_code == 400 and "22 times" in r.json()["error"]["message"], r.text
    r = httpx.post(
        f"{server.url}/v1/disputes/refund/decide",
        json=case | {"item_ids": [items[0]["item_id"]]},
        timeout=120,
    )
    assert r.status_code == 200 and r.json()["refund_amount"] <= items[0]["price"]

    chargeback = json.loads((EXAMPLES / "chargeback-visa-10.4.json").read_text())
    r = httpx.post(f"{server.url}/v1/disputes/chargeback/checklist", json=chargeback, timeout=60)
    assert r.status_code == 200
    assert r.json()["missing"] == ["delivery_confirmation", "device_and_ip"]
    r = httpx.post(f"{server.url}/v1/disputes/chargeback/packet", json=chargeback, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["x-evidence-missing"] == "delivery_confirmation,device_and_ip"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "Evidence index: Visa 10.4" in text
    unknown = chargeback | {"reason_code": "77"}
    r = httpx.post(f"{server.url}/v1/disputes/chargeback/checklist", json=unknown, timeout=60)
    assert r.status_code == 400 and "reason code '77'" in r.json()["error"]["message"]
