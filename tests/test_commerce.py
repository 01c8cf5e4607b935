"""Commerce data from the real retail database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, invoke_pasar

from pasar.errors import NotFoundError
from pasar.store.commerce import (
    commerce_counts,
    export_retail,
    find_user_id,
    get_order,
    get_product,
    get_user,
    import_retail,
    load_retail_json,
)
from pasar.store.db import open_store

RETAIL_DB = SHARED_DATA / "retail" / "db.json"


@pytest.fixture(scope="module")
def retail() -> dict:
    return load_retail_json(RETAIL_DB)


def test_import_then_export_gives_back_the_same_database(store_url, retail):
    store = open_store(store_url)
    counts = import_retail(store, retail)
    assert counts == {
        "products": 50,
        "variants": 591,
        "users": 500,
        "payment_methods": 695,
        "orders": 1000,
        "order_items": 2978,
        "fulfillments": 577,
        "payments": 1102,
    }
    assert export_retail(store) == retail  # lossless, money included
    with pytest.raises(ValueError, match="already holds 500 users"):
        import_retail(store, retail)
    smaller = {"products": retail["products"], "users": {}, "orders": {}}
    assert import_retail(store, smaller, replace=True)["users"] == 0
    assert commerce_counts(store)["products"] == 50


def test_lookups(store_url, retail):
    store = open_store(store_url)
    import_retail(store, retail)
    assert find_user_id(store, email="Noah.Brown7922@example.com ") == "noah_brown_6181"
    assert (
        find_user_id(store, first_name="noah", last_name="brown", zip="80279") == "noah_brown_6181"
    )
    with pytest.raises(NotFoundError, match="no user matches"):
        find_user_id(store, email="nobody@example.com")
    with pytest.raises(ValueError, match="give an email"):
        find_user_id(store, first_name="Noah")
    user = get_user(store, user_id="noah_brown_6181")
    assert user == retail["users"]["noah_brown_6181"]
    order = get_order(store, order_id="#W2611340")
    assert order["status"] == "processed" and order["items"][1]["price"] == 488.81
    assert get_product(store, product_id="9523456873")["name"] == "T-Shirt"
    with pytest.raises(NotFoundError, match="no order with id '#W0'"):
        get_order(store, order_id="#W0")


def test_bad_files_are_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="no such file"):
        load_retail_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_retail_json(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"users": {}}')
    with pytest.raises(ValueError, match="lacks orders, products"):
        load_retail_json(tmp_path / "other.json")


def test_store_cli_import_export(pasar_home: Path, tmp_path: Path, retail):
    done = invoke_pasar("store", "import", str(RETAIL_DB))
    assert done.returncode == 0, done.stderr
    assert "1000 orders" in " ".join(done.stdout.split())
    again = invoke_pasar("store", "import", str(RETAIL_DB))
    assert again.returncode == 2 and "--replace" in again.stderr
    assert invoke_pasar("store", "import", str(RETAIL_DB), "--replace").returncode == 0
    out = tmp_path / "export.json"
    assert invoke_pasar("store", "export", "--out", str(out)).returncode == 0
    assert json.loads(out.read_text()) == retail
    report = tmp_path / "info.json"
    assert invoke_pasar("store", "info", "--out", str(report)).returncode == 0
    assert json.loads(report.read_text())["counts"]["users"] == 500


def test_a_rehearsed_change_says_what_it_would_do_and_leaves_the_store_as_it_was(store_url, retail):
    from pasar.commerce.orders import OrderActionError, cancel_pending_order

    store = open_store(store_url)
    import_retail(store, retail)
    pending, delivered = (
        next(i for i, o in retail["orders"].items() if o["status"] == status)
        for status in ("pending", "delivered")
    )
    before = get_order(store, order_id=pending)
    with store.rehearsal() as rehearsal:
        done = cancel_pending_order(rehearsal, order_id=pending, reason="no longer needed")
        assert done["status"] == "cancelled"  # what the change would do, seen inside
        with pytest.raises(OrderActionError, match="only pending orders"):
            cancel_pending_order(rehearsal, order_id=delivered, reason="no longer needed")
    assert get_order(store, order_id=pending) == before  # nothing of it stayed
    # The store still takes real changes afterwards.
    assert cancel_pending_order(store, order_id=pending, reason="ordered by mistake")["status"] == (
        "cancelled"
    )
    assert get_order(open_store(store_url), order_id=pending)["status"] == "cancelled"
