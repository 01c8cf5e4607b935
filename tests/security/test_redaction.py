"""Training exports carry no personal data unless an admin asks for it (issue 21).

Before: `pasar feedback export` and GET /v1/admin/export wrote customers' emails, phone numbers,
street addresses, card numbers and order/user ids into the training file as typed.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from conftest import SHARED_DATA, invoke_pasar

from pasar.data.redact import (
    ADDRESS,
    CARD,
    EMAIL,
    NAME,
    ORDER_ID,
    PHONE,
    USER_ID,
    redact_row,
    redact_text,
)

# (language, text, the text redacted): real-looking messages, each kind in each language.
REDACTED = [
    # Indonesian
    ("id", "Email saya budi.santoso@gmail.com ya kak", f"Email saya {EMAIL} ya kak"),
    ("id", "WA ke 0812-3456-7890 atau +62 812 3456 7890", f"WA ke {PHONE} atau {PHONE}"),
    ("id", "Nomor HP 081234567890 aktif", f"Nomor HP {PHONE} aktif"),
    (
        "id",
        "Kirim ke Jl. Sudirman No. 12, RT 02/RW 03, Jakarta Pusat",
        f"Kirim ke {ADDRESS}, Jakarta Pusat",
    ),
    (
        "id",
        "Alamat kantor: Jln. Gatot Subroto Kav. 5, Jakarta",
        f"Alamat kantor: {ADDRESS}, Jakarta",
    ),
    ("id", "Rumah di Gg. Mawar No.3 Bandung", f"Rumah di {ADDRESS} Bandung"),
    ("id", "Bayar pakai kartu 4111 1111 1111 1111 kemarin", f"Bayar pakai kartu {CARD} kemarin"),
    ("id", "Pesanan #W1234567 belum sampai", f"Pesanan {ORDER_ID} belum sampai"),
    ("id", "Akun saya mia_garcia_4516", f"Akun saya {USER_ID}"),
    # Malay
    ("ms", "Emel saya aminah.yusof@yahoo.com.my", f"Emel saya {EMAIL}"),
    ("ms", "Nombor telefon saya 012-345 6789", f"Nombor telefon saya {PHONE}"),
    ("ms", "Hantar ke Jalan Ampang 5, Kuala Lumpur", f"Hantar ke {ADDRESS}, Kuala Lumpur"),
    ("ms", "Alamat: No. 12, Jalan Bukit Bintang, 55100", f"Alamat: {ADDRESS}, 55100"),
    ("ms", "Rumah saya 12, Jalan SS 2/24, Petaling Jaya", f"Rumah saya {ADDRESS}, Petaling Jaya"),
    ("ms", "Kad 5500-0000-0000-0004 ditolak", f"Kad {CARD} ditolak"),
    ("ms", "Pesanan W7654321 saya dibatalkan", f"Pesanan {ORDER_ID} saya dibatalkan"),
    ("ms", "ID pengguna ahmad_tan_1234 betul", f"ID pengguna {USER_ID} betul"),
    # Thai
    ("th", "อีเมลของฉันคือ somchai.j@hotmail.com ค่ะ", f"อีเมลของฉันคือ {EMAIL} ค่ะ"),
    ("th", "โทร 081 234 5678 ค่ะ", f"โทร {PHONE} ค่ะ"),
    ("th", "เบอร์0812345678ค่ะ", f"เบอร์{PHONE}ค่ะ"),
    ("th", "ส่งที่ ถนนสุขุมวิท 21 กรุงเทพฯ", f"ส่งที่ {ADDRESS} กรุงเทพฯ"),
    (
        "th",
        "บ้านเลขที่ 123/45 ซอยสุขุมวิท 21 ถนนสุขุมวิท แขวงคลองเตยเหนือ",
        f"{ADDRESS} แขวงคลองเตยเหนือ",
    ),
    ("th", "บัตร 4111111111111111 ถูกตัดเงิน", f"บัตร {CARD} ถูกตัดเงิน"),
    ("th", "คำสั่งซื้อ#W1234567 ของผู้ใช้mia_garcia_4516", f"คำสั่งซื้อ{ORDER_ID} ของผู้ใช้{USER_ID}"),
    # Vietnamese
    ("vi", "Email của tôi là nguyen.van.an@gmail.com nhé", f"Email của tôi là {EMAIL} nhé"),
    ("vi", "Gọi cho tôi số 0912 345 678 nhé", f"Gọi cho tôi số {PHONE} nhé"),
    ("vi", "Giao tới số 45 đường Lê Lợi giúp em", f"Giao tới {ADDRESS} giúp em"),
    ("vi", "Địa chỉ: 123 Nguyễn Huệ, Quận 1, TP.HCM", f"Địa chỉ: {ADDRESS}, Quận 1, TP.HCM"),
    ("vi", "Nhà ở 12/3 Hai Bà Trưng, Phường Bến Nghé", f"Nhà ở {ADDRESS}, Phường Bến Nghé"),
    ("vi", "Thẻ 3782 822463 10005 bị trừ tiền", f"Thẻ {CARD} bị trừ tiền"),
    ("vi", "Đơn #W2611340 của james_li_5688", f"Đơn {ORDER_ID} của {USER_ID}"),
    # Filipino
    ("fil", "Ang email ko ay juan.delacruz@gmail.com po", f"Ang email ko ay {EMAIL} po"),
    ("fil", "Tawagan mo ako sa 0917 123 4567 po", f"Tawagan mo ako sa {PHONE} po"),
    ("fil", "Pakihatid sa +63 917 123 4567", f"Pakihatid sa {PHONE}"),
    (
        "fil",
        "Pakihatid sa 123 Rizal Street, Barangay San Antonio, Makati",
        f"Pakihatid sa {ADDRESS}, Barangay San Antonio, Makati",
    ),
    ("fil", "Blk 5 Lot 12 Mabini St., Brgy. Poblacion", f"{ADDRESS}, Brgy. Poblacion"),
    ("fil", "Card ko 4111-1111-1111-1111 po", f"Card ko {CARD} po"),
    ("fil", "Order #W4817420 ni noah_brown_6181", f"Order {ORDER_ID} ni {USER_ID}"),
    # English
    ("en", "Reach me at mia.garcia+shop@example.co.uk", f"Reach me at {EMAIL}"),
    ("en", "Call (415) 555-0132 or +1 415 555 0132", f"Call {PHONE} or {PHONE}"),
    ("en", "Singapore: +65 9123 4567", f"Singapore: {PHONE}"),
    ("en", "Ship to 42 Main St, Springfield", f"Ship to {ADDRESS}, Springfield"),
    ("en", "I moved to 986 Sunset Drive, Suite 259, Denver", f"I moved to {ADDRESS}, Denver"),
    ("en", "It's 101 Broadway now", f"It's {ADDRESS} now"),
    ("en", "My card 4111 1111 1111 1111 was charged twice", f"My card {CARD} was charged twice"),
    ("en", "Where is order #W1234567?", f"Where is order {ORDER_ID}?"),
    ("en", "I am mia_garcia_4516.", f"I am {USER_ID}."),
]

# Must come out unchanged: prices, sizes, years, product names and ids, ordinary sentences.
KEPT = [
    "Harga kaos merah Rp 150.000, ukuran 42, stok tahun 2024.",
    "Diskon 50% untuk 2 Kaos Merah, total Rp 1.250.000.",
    "Pesanan saya masih di jalan, kapan sampai?",
    "Kami mau jalan-jalan ke Bali tahun depan.",
    "Aplikasinya nggak jalan sejak 12/05/2024.",
    "Harga RM 1,250.00 untuk saiz 42 dan 43.",
    "Saya nak beli 3 Beg Galas warna hitam.",
    "ราคา 1,290 บาท ไซซ์ 42 ค่ะ",
    "ถนนลื่นมาก ส่งช้าหน่อยได้ค่ะ",
    "ส่งภายใน 3 วัน ปี 2567",
    "Mua 2 Áo Thun giá 250.000đ, giày số 42 Nike.",
    "Đường trắng 2 kg giá 50.000 đồng.",
    "Magkano ang 2 T-Shirt? ₱1,499.00 po ba?",
    "I bought 2 Office Chair and 1 Water Bottle in 2023.",
    "Size 42 Running Shoes, 3 Smart Watch, 1 Garden Hose at 47.84 USD.",
    "The item 6469567736 of product 9523456873 shipped with tracking 357962501027.",
    "Pay with credit_card_7815826 or gift_card_1725971, last four 9212.",
    "Delivery between 10:30 and 12:00 on 2024-05-01, 30 x 40 cm.",
    "Version 1.2.3 of the app, call id 42.",
]


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    REDACTED,
    ids=[f"{lang}-{i}" for i, (lang, _, _) in enumerate(REDACTED)],
)
def test_personal_data_is_replaced_by_typed_placeholders(
    language: str, text: str, expected: str
) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", KEPT, ids=[f"kept-{i}" for i in range(len(KEPT))])
def test_prices_sizes_years_products_and_ids_of_things_are_kept(text: str) -> None:
    assert redact_text(text) == text


def test_every_language_has_every_kind() -> None:
    kinds = {
        (lang, p) for lang, _, out in REDACTED for p in (EMAIL, PHONE, ADDRESS, CARD) if p in out
    }
    ids = {(lang, p) for lang, _, out in REDACTED for p in (ORDER_ID, USER_ID) if p in out}
    languages = {"id", "ms", "th", "vi", "fil", "en"}
    assert kinds == {(lang, p) for lang in languages for p in (EMAIL, PHONE, ADDRESS, CARD)}
    assert ids == {(lang, p) for lang in languages for p in (ORDER_ID, USER_ID)}


def test_a_card_number_must_pass_luhn() -> None:
    assert redact_text("kartu 4111 1111 1111 1112") == "kartu 4111 1111 1111 1112"
    assert redact_text("kartu 4111 1111 1111 1111") == f"kartu {CARD}"


def test_the_retail_database_addresses_ids_and_catalog() -> None:
    """Every customer's street address, user id and order id in the retail data is redacted;
    no product name, product id, item id or tracking number is."""
    db = json.loads((SHARED_DATA / "retail" / "db.json").read_text())
    for user in db["users"].values():
        address = user["address"]
        text = f"{address['address1']}, {address['address2']}, {address['city']}"
        assert redact_text(text) == f"{ADDRESS}, {address['city']}", text
        assert redact_text(f"I am {user['user_id']}") == f"I am {USER_ID}"
        assert redact_text(f"mail {user['email']}") == f"mail {EMAIL}"
    for order in db["orders"].values():
        assert redact_text(f"order {order['order_id']}") == f"order {ORDER_ID}"
        for fulfillment in order["fulfillments"]:
            for tracking in fulfillment["tracking_id"]:
                assert redact_text(f"tracking {tracking}") == f"tracking {tracking}"
    for product in db["products"].values():
        text = f"2 {product['name']}, product {product['product_id']}, items " + ", ".join(
            product["variants"]
        )
        assert redact_text(text) == text


def test_a_row_is_redacted_everywhere_and_its_structure_kept() -> None:
    arguments = {"order_id": "#W1234567", "address1": "1 Elm Street", "city": "Denver"}
    result = {
        "user_id": "mia_garcia_4516",
        "name": {"first_name": "Mia", "last_name": "Garcia"},
        "address": {"address1": "986 Sunset Drive", "address2": "Suite 259", "zip": "80279"},
        "email": "mia.garcia@example.com",
    }
    row = {
        "prompt": [
            {"role": "user", "content": "Ganti alamat ke Jl. Sudirman No. 12, HP 0812-3456-7890"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "modify_pending_order_address",
                            "arguments": json.dumps(arguments),
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(result)},
        ],
        "completion": [{"role": "assistant", "content": "Sudah, kak. Email: a.b@c.id"}],
        "label": True,
    }
    before = json.dumps(row)
    out = redact_row(row)
    assert json.dumps(row) == before  # the input is not changed
    assert out["label"] is True
    assert [m["role"] for m in out["prompt"]] == ["user", "assistant", "tool"]
    assert out["prompt"][0]["content"] == f"Ganti alamat ke {ADDRESS}, HP {PHONE}"
    call = out["prompt"][1]["tool_calls"][0]
    assert (call["id"], call["function"]["name"]) == ("call_1", "modify_pending_order_address")
    assert json.loads(call["function"]["arguments"]) == {
        "order_id": ORDER_ID,
        "address1": ADDRESS,
        "city": "Denver",
    }
    assert out["prompt"][2]["tool_call_id"] == "call_1"
    assert json.loads(out["prompt"][2]["content"]) == {
        "user_id": USER_ID,
        "name": {"first_name": NAME, "last_name": NAME},
        "address": {"address1": ADDRESS, "address2": ADDRESS, "zip": ADDRESS},
        "email": EMAIL,
    }
    assert out["completion"] == [{"role": "assistant", "content": f"Sudah, kak. Email: {EMAIL}"}]
    assert redact_row({"messages": [{"role": "user", "content": "Halo"}]}) == {
        "messages": [{"role": "user", "content": "Halo"}]
    }


# The personal data a customer wrote, and what the export must show instead.
PII = {
    "budi.santoso@gmail.com": EMAIL,
    "0812-3456-7890": PHONE,
    "Jl. Sudirman No. 12": ADDRESS,
    "4111 1111 1111 1111": CARD,
    "#W1234567": ORDER_ID,
    "mia_garcia_4516": USER_ID,
}
PROMPT = (
    "Halo, saya mia_garcia_4516 (budi.santoso@gmail.com, HP 0812-3456-7890). Pesanan "
    "#W1234567 dibayar dengan kartu 4111 1111 1111 1111, tolong kirim ke Jl. Sudirman No. 12."
)
CORRECTION = (
    "Baik kak, pesanan #W1234567 dikirim ke Jl. Sudirman No. 12; kami hubungi 0812-3456-7890."
)


def assert_redacted(text: str) -> None:
    for raw, placeholder in PII.items():
        assert raw not in text
        assert placeholder in text
    assert "Pesanan" in text and "Baik kak" in text  # the rest of the text is still there


def assert_raw(text: str) -> None:
    for raw, placeholder in PII.items():
        assert raw in text
        assert placeholder not in text


def test_cli_export_redacts_by_default_and_no_redact_warns(
    pasar_home: Path, tmp_path: Path
) -> None:
    from pasar.config import get_settings
    from pasar.models.types import ChatResult, Usage
    from pasar.store.db import open_store
    from pasar.store.interactions import ExchangeRecord, add_feedback, record_exchange

    store = open_store(get_settings().store_url_resolved)
    record_exchange(
        store,
        conversation_id=None,
        request_messages=[{"role": "user", "content": PROMPT}],
        completion_id="c0",
        answers=[ChatResult("Maaf, tidak bisa.", "stop", Usage(5, 3), "m")],
        record=ExchangeRecord("smollm2-135m-instruct", None, "llamacpp", {}),
    )
    add_feedback(store, message_id="c0", rating="down", correction=CORRECTION)

    for fmt in ("sft", "dpo"):
        out = tmp_path / f"{fmt}.jsonl"
        done = invoke_pasar("feedback", "export", "--format", fmt, "--out", str(out))
        assert done.returncode == 0, done.stderr
        assert "personal data" not in done.stderr
        assert_redacted(out.read_text())
        [row] = [json.loads(line) for line in out.read_text().splitlines()]
        assert row[{"sft": "messages", "dpo": "prompt"}[fmt]][0]["role"] == "user"

    raw = tmp_path / "raw.jsonl"
    report = tmp_path / "report.json"
    done = invoke_pasar(
        "feedback",
        "export",
        "--format",
        "sft",
        "--out",
        str(raw),
        "--no-redact",
        "--report",
        str(report),
    )
    assert done.returncode == 0, done.stderr
    assert "warning" in done.stderr and "personal data" in " ".join(done.stderr.split())
    assert_raw(raw.read_text())
    assert json.loads(report.read_text())["redacted"] is False


def test_admin_export_redacts_and_only_an_admin_key_gets_raw_text(
    make_server, tmp_path: Path, embedded_gguf: Path
) -> None:
    from pasar.store.keys import create_key

    server = make_server(f"sqlite:///{tmp_path / 's.db'}")
    keys = {
        scope: create_key(server.store, name=scope, scope=scope)[0]
        for scope in ("user", "disputes", "admin")
    }
    server.app.state.pasar._auth_checked = -1e9

    def call(method: str, path: str, scope: str, **kw) -> httpx.Response:  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {keys[scope]}"}
        return httpx.request(method, f"{server.url}{path}", headers=headers, timeout=120, **kw)

    # A customer's conversation through the real server, recorded, with a correction.
    r = call(
        "POST",
        "/v1/chat/completions",
        "user",
        json={
            "model": "smollm2-135m-instruct",
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 4,
            "temperature": 0,
        },
    )
    assert r.status_code == 200, r.text
    r = call(
        "POST",
        "/v1/feedback",
        "user",
        json={"message_id": r.json()["id"], "correction": CORRECTION},
    )
    assert r.status_code == 201, r.text

    for params in ({}, {"format": "dpo"}, {"redact": "true"}):
        r = call("GET", "/v1/admin/export", "admin", params=params)
        assert r.status_code == 200, r.text
        assert_redacted(r.text)
        assert r.headers["x-pasar-redacted"] == "true"

    raw = call("GET", "/v1/admin/export", "admin", params={"redact": "false"})
    assert raw.status_code == 200 and raw.headers["x-pasar-redacted"] == "false"
    assert_raw(raw.text)

    for scope in ("user", "disputes"):
        for params in ({"redact": "false"}, {"redact": "0"}, {}):
            r = call("GET", "/v1/admin/export", scope, params=params)
            assert r.status_code == 403, (scope, params, r.text)
            assert all(value not in r.text for value in PII)


def test_without_keys_the_export_is_always_redacted(make_server, tmp_path: Path) -> None:
    """A server without keys authenticates nobody, so nobody is an admin: raw text is refused
    (the machine's owner has `pasar feedback export --no-redact`)."""
    from pasar.models.types import ChatResult, Usage
    from pasar.store.interactions import ExchangeRecord, add_feedback, record_exchange

    server = make_server(f"sqlite:///{tmp_path / 's.db'}")
    record_exchange(
        server.store,
        conversation_id=None,
        request_messages=[{"role": "user", "content": PROMPT}],
        completion_id="c0",
        answers=[ChatResult("Maaf.", "stop", Usage(5, 3), "m")],
        record=ExchangeRecord("smollm2-135m-instruct", None, "llamacpp", {}),
    )
    add_feedback(server.store, message_id="c0", rating="down", correction=CORRECTION)
    r = httpx.get(f"{server.url}/v1/admin/export", timeout=30)
    assert r.status_code == 200
    assert_redacted(r.text)
    assert r.headers["x-pasar-redacted"] == "true"
    r = httpx.get(f"{server.url}/v1/admin/export", params={"redact": "false"}, timeout=30)
    assert r.status_code == 403
    assert "pasar feedback export --no-redact" in r.json()["error"]["message"]
    assert all(value not in r.text for value in PII)
