"""Order answers: a customer asks about one of their orders; the reply is checked against the
order record.

The assistant is given the record (as a tool lookup would give it) and the customer's question in
one of six languages. The verifier checks, against the database and nothing else:
  * status: the order's status is stated (English or a local spelling);
  * items: every item's product name appears (names are kept as in the catalogue);
  * tracking: every tracking id of the order appears;
  * no contradiction: no other status is stated (unless negated: "belum diproses"), and no
    long number that is not one of the order's tracking ids;
  * language: lingua (restricted to pasar's six) finds the customer's language.
Prompts are generated deterministically with a seed and split into train and held-out sets by
user, so that no held-out customer was trained on.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from typing import Any

from pasar.evaluate.listing import Verdict, held_out, language_without
from pasar.languages import (
    LANGUAGE_NAMES,
    LANGUAGES,
    check_languages,
    phrase_pattern,
)

QUESTIONS = {
    "en": "Hi, what is happening with my order {order_id}? What is in it and what is the "
    "tracking number?",
    "id": "Halo, bagaimana status pesanan saya {order_id}? Apa isinya dan berapa nomor resinya?",
    "ms": "Hai, apakah status pesanan saya {order_id}? Apa isinya dan apakah nombor penjejakannya?",
    "th": "สวัสดีค่ะ คำสั่งซื้อ {order_id} ของฉันเป็นอย่างไรบ้าง มีสินค้าอะไรบ้าง และเลขพัสดุคืออะไร",
    "vi": "Chào bạn, đơn hàng {order_id} của tôi thế nào rồi? Trong đơn có gì và mã vận đơn là gì?",
    "tl": "Hi po, ano na ang status ng order ko na {order_id}? Ano ang laman nito at ano ang "
    "tracking number?",
}
SYSTEM = (
    "You are the customer-service assistant of an online store. Answer the customer in "
    "{language}, using only this order record.\n{record}"
)

# How each status is written; English is accepted in every language.
STATUS_SPELLINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "pending": {
        "en": ("pending", "not yet processed", "awaiting processing"),
        "id": ("menunggu", "tertunda", "belum diproses"),
        "ms": ("menunggu", "belum diproses", "tertangguh"),
        "th": ("รอดำเนินการ", "รอการดำเนินการ", "ยังไม่ได้ดำเนินการ"),
        "vi": ("đang chờ", "chờ xử lý", "chưa xử lý"),
        "tl": ("nakabinbin", "hinihintay", "hindi pa napoproseso"),
    },
    "processed": {
        "en": ("processed", "shipped", "on its way", "on the way"),
        "id": ("diproses", "sudah diproses", "dikirim", "dalam pengiriman"),
        "ms": ("diproses", "telah diproses", "dihantar keluar", "dalam penghantaran"),
        "th": ("ดำเนินการแล้ว", "จัดส่งแล้ว", "กำลังจัดส่ง"),
        "vi": ("đã xử lý", "đang giao", "đã gửi"),
        "tl": ("naproseso", "napadala", "papunta na"),
    },
    "delivered": {
        "en": ("delivered",),
        "id": ("terkirim", "sudah diterima", "sudah sampai", "telah sampai"),
        "ms": ("telah dihantar", "sudah sampai", "telah diterima"),
        "th": ("ส่งถึงแล้ว", "ได้รับแล้ว", "ส่งมอบแล้ว"),
        "vi": ("đã giao", "đã nhận", "đã đến"),
        "tl": ("naihatid", "naideliver", "dumating na"),
    },
    "cancelled": {
        "en": ("cancelled", "canceled"),
        "id": ("dibatalkan", "batal"),
        "ms": ("dibatalkan", "batal"),
        "th": ("ยกเลิก",),
        "vi": ("đã hủy", "bị hủy", "hủy"),
        "tl": ("kinansela", "nakansela", "kanselado"),
    },
}
# Words that turn a status into its opposite when they come just before it.
NEGATIONS = (
    "not", "no", "never", "yet to be", "belum", "tidak", "bukan", "chưa", "không", "hindi",
    "ยังไม่", "ไม่",
)  # fmt: skip
TRACKING_LIKE = re.compile(r"(?<!\d)\d{9,}(?!\d)")


@dataclass(frozen=True)
class OrderTask:
    id: str
    language: str
    user_id: str
    order_id: str
    status: str
    items: list[str]  # product names, one per item line
    tracking_ids: list[str]
    messages: list[dict[str, str]]
    split: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tracking_ids(order: dict[str, Any]) -> list[str]:
    return [t for f in order.get("fulfillments", []) for t in f["tracking_id"]]


def order_record(order: dict[str, Any]) -> str:
    items = "; ".join(
        f"{item['name']} ({', '.join(item['options'].values())})" for item in order["items"]
    )
    tracking = tracking_ids(order)
    return (
        f"order_id: {order['order_id']}\nstatus: {order['status']}\nitems: {items}\n"
        f"tracking: {', '.join(tracking) if tracking else 'none yet'}"
    )


def order_tasks(
    db: dict[str, Any],
    *,
    per_language: int,
    seed: int = 0,
    held_out_fraction: float = 0.2,
    languages: tuple[str, ...] = tuple(LANGUAGES),
) -> list[OrderTask]:
    """``per_language`` questions per language, each about a random order of the database."""
    check_languages(languages)
    rng = random.Random(seed)
    orders = sorted(db["orders"].values(), key=lambda o: o["order_id"])
    tasks = []
    for language in languages:
        for i in range(per_language):
            order = rng.choice(orders)
            system = SYSTEM.format(language=LANGUAGE_NAMES[language], record=order_record(order))
            tasks.append(
                OrderTask(
                    id=f"order-{language}-{seed}-{i}",
                    language=language,
                    user_id=order["user_id"],
                    order_id=order["order_id"],
                    status=order["status"],
                    items=[item["name"] for item in order["items"]],
                    tracking_ids=tracking_ids(order),
                    messages=[
                        {"role": "system", "content": system},
                        {
                            "role": "user",
                            "content": QUESTIONS[language].format(order_id=order["order_id"]),
                        },
                    ],
                    split="heldout" if held_out(order["user_id"], held_out_fraction) else "train",
                )
            )
    return tasks


def _normal(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def _status_spans(text: str, status: str, language: str) -> list[tuple[int, int]]:
    """Where ``status`` is stated in ``text`` (lowercased), outside a negation."""
    spellings = {*STATUS_SPELLINGS[status]["en"], *STATUS_SPELLINGS[status][language]}
    spans: list[tuple[int, int]] = []
    for spelling in sorted(spellings, key=len, reverse=True):
        for match in re.finditer(phrase_pattern(spelling, language), text):
            before = text[max(0, match.start() - 16) : match.start()]
            negated = any(
                re.search(rf"(?<!\w){re.escape(n)}\W*(\w+\W+)?$", before) for n in NEGATIONS
            )
            if not negated and not any(s <= match.start() < e for s, e in spans):
                spans.append((match.start(), match.end()))
    return spans


def stated_statuses(text: str, language: str) -> set[str]:
    """Statuses a reply states (longest spellings first, so "belum diproses" is not also
    "diproses")."""
    lowered = text.lower()
    taken: list[tuple[int, int]] = []
    found = set()
    spans = [
        (span, status)
        for status in STATUS_SPELLINGS
        for span in _status_spans(lowered, status, language)
    ]
    ranked = sorted(spans, key=lambda pair: pair[0][0] - pair[0][1])  # longest first
    for (start, end), status in ranked:
        if not any(start < e and s < end for s, e in taken):
            taken.append((start, end))
            found.add(status)
    return found


def verify_order_answer(task: OrderTask, reply: str) -> Verdict:
    reply = reply.strip()
    problems = []
    statuses = stated_statuses(reply, task.language)
    checks = {"status": task.status in statuses}
    if not checks["status"]:
        problems.append(f"status {task.status!r} not stated")
    normal = f" {_normal(reply)} "
    missing = [
        name
        for name in dict.fromkeys(task.items)
        if f" {_normal(name)} " not in normal and f" {_normal(name)}s " not in normal
    ]
    checks["items"] = not missing
    if missing:
        problems.append(f"items not named: {missing}")
    absent = [t for t in task.tracking_ids if t not in reply]
    checks["tracking"] = not absent
    if absent:
        problems.append(f"tracking ids missing: {absent}")
    wrong_status = sorted(statuses - {task.status})
    wrong_numbers = sorted(set(TRACKING_LIKE.findall(reply)) - set(task.tracking_ids))
    checks["no_contradiction"] = not wrong_status and not wrong_numbers
    if wrong_status:
        problems.append(f"states other statuses: {wrong_status}")
    if wrong_numbers:
        problems.append(f"numbers not in the record: {wrong_numbers}")
    found = language_without(reply, [task.order_id, *task.items, *task.tracking_ids])
    checks["language"] = found == task.language
    if not checks["language"]:
        problems.append(f"language {found} instead of {task.language}")
    return Verdict.of(checks, problems)
