"""Scripted scenarios (pasar's JSON format, documented in docs/taskbot.md) and the scripted user.

A scenario file is a JSON list of objects:

    {"id": "id-cancel-1", "language": "id", "split": "heldout",
     "opening": "Halo, saya mau membatalkan pesanan.",
     "answers": {"identity": "Email saya ...", "order_id": "Pesanan #W...", "reason": "...",
                 "confirm": "Ya, lanjutkan."},
     "correction": {"field": "reason", "say": "Eh, tunggu: alasannya salah pesan.",
                    "answers": {"reason": "..."}},
     "closing": "Itu saja, terima kasih.",
     "gold_actions": [{"name": "cancel_pending_order", "arguments": {...}}],
     "facts": ["cancelled"]}

The scripted user answers what the agent asked (``ask_of`` reads the agent's message), else
says the next answer it has not given, else the closing (which ends the episode). At the
agent's first request for confirmation it says the correction instead, if there is one, and
from then on uses the correction's answers; so it does when the agent asks again for the answer
the correction changes (the store would not make the change with the first one).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pasar.apps.taskbot.tools import TOOLS
from pasar.errors import MissingInputError

ASKS = ("confirm", "identity", "order_id", "reason", "items", "new_items", "payment", "address")
# Words by which an agent's message asks for each answer, in pasar's six languages (and
# English, which small models answer in whatever the user writes). Checked in ASKS order.
ASK_WORDS: dict[str, tuple[str, ...]] = {
    "confirm": (
        "yes/no",
        "confirm",
        "proceed",
        "ya/tidak",
        "konfirmasi",
        "ya/tak",
        "sahkan",
        "ยืนยัน",
        "ใช่/ไม่",
        "xác nhận",
        "có/không",
        "oo/hindi",
        "kumpirm",
    ),
    "identity": (
        "email",
        "e-mail",
        "zip",
        "postal",
        "surel",
        "kode pos",
        "poskod",
        "อีเมล",
        "รหัสไปรษณีย์",
        "mã bưu",
        "authenticate",
    ),
    "order_id": (
        "order id",
        "order number",
        "which order",
        "nomor pesanan",
        "nombor pesanan",
        "pesanan yang mana",
        "หมายเลขคำสั่งซื้อ",
        "mã đơn",
        "numero ng order",
        "aling order",
    ),
    "reason": ("reason", "alasan", "sebab", "เหตุผล", "lý do", "dahilan"),
    "new_items": (
        "which option",
        "new option",
        "instead",
        "pilihan baru",
        "varian",
        "ตัวเลือกใหม่",
        "lựa chọn mới",
        "bagong opsyon",
    ),
    "items": (
        "which item",
        "which product",
        "barang apa",
        "barang mana",
        "item mana",
        "สินค้าชิ้นไหน",
        "sản phẩm nào",
        "aling item",
    ),
    "payment": (
        "payment",
        "refund",
        "pembayaran",
        "bayaran",
        "การชำระ",
        "คืนเงิน",
        "thanh toán",
        "hoàn tiền",
        "bayad",
    ),
    "address": ("address", "alamat", "ที่อยู่", "địa chỉ", "tirahan"),
}


def ask_of(agent_text: str) -> str | None:
    """Which answer the agent's questions (sentences ending in '?') ask for, if any. A point
    before a digit ends no sentence ("balance $55.00")."""
    text = " ".join(re.findall(r"(?:[^.?!\n]|\.(?=\d))*\?", agent_text.lower()))
    for ask in ASKS:
        if any(word in text for word in ASK_WORDS[ask]):
            return ask
    return None


@dataclass(frozen=True)
class Correction:
    field: str  # which answer changes: reason, items, new_items, payment, address, or "intent"
    say: str  # what the user says instead of yes
    answers: dict[str, str] = dataclasses.field(default_factory=dict)  # answers from then on


@dataclass(frozen=True)
class Scenario:
    id: str
    language: str
    opening: str
    answers: dict[str, str]
    closing: str
    gold_actions: list[dict[str, Any]]
    facts: list[str] = field(default_factory=list)
    correction: Correction | None = None
    split: str = "train"

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Scenario:
        unknown = set(row.get("answers", {})) - set(ASKS)
        if unknown:
            raise ValueError(f"scenario {row.get('id')}: unknown answers {sorted(unknown)}")
        correction = row.get("correction")
        return cls(
            id=row["id"],
            language=row["language"],
            opening=row["opening"],
            answers=dict(row.get("answers", {})),
            closing=row["closing"],
            gold_actions=list(row["gold_actions"]),
            facts=list(row.get("facts", [])),
            correction=Correction(**correction) if correction else None,
            split=row.get("split", "train"),
        )


def load_scenarios(path: Path, split: str = "all") -> list[Scenario]:
    """Read a scenario file; ``split`` keeps only train or heldout rows (``all``: every row)."""
    if not path.exists():
        raise MissingInputError(f"{path}: no such scenario file (see examples/taskbot/)")
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    try:
        scenarios = [Scenario.from_json(r) for r in rows]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: a scenario lacks or mistypes a field: {exc}") from exc
    if split not in ("all", "train", "heldout"):
        raise ValueError(f"split {split!r}: use all, train or heldout")
    return [s for s in scenarios if split == "all" or s.split == split]


# What a scripted user says to a confirmation of a change it did not ask for.
NOT_ASKED = {
    "en": "No, that is not what I asked for.",
    "id": "Bukan, itu bukan yang saya minta.",
    "ms": "Bukan, itu bukan yang saya minta.",
    "th": "ไม่ใช่ค่ะ นั่นไม่ใช่สิ่งที่ขอ",
    "vi": "Không, đó không phải điều tôi yêu cầu.",
    "tl": "Hindi, hindi iyan ang hiniling ko.",
}


class ScriptedUser:
    """Plays a scenario's user: answers what it is asked, corrects once, then says goodbye.
    Like a careful customer, it says no to a confirmation that names a change of another kind
    than the one it came for (a write tool that is not among its gold actions), or only
    another order than the one it came about."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.answers = dict(scenario.answers)
        self.given: set[str] = set()
        self.corrected = False
        self.done = False

    def first(self) -> str:
        return self.scenario.opening

    def reply(self, agent_text: str) -> str:
        """The user's next message; after the closing, ``done`` is True."""
        ask = ask_of(agent_text)
        correction = self.scenario.correction
        if ask == "confirm" and self._names_another_change(agent_text):
            return NOT_ASKED.get(self.scenario.language, NOT_ASKED["en"])
        asked_again = ask in self.given and correction is not None and ask == correction.field
        if correction and not self.corrected and (ask == "confirm" or asked_again):
            self.corrected = True
            self.answers |= correction.answers
            return correction.say
        if ask == "confirm" and "confirm" in self.answers:
            return self.answers["confirm"]
        if ask in self.answers and ask != "confirm":
            self.given.add(ask)
            return self.answers[ask]
        for name, text in self.answers.items():
            if name != "confirm" and name not in self.given:
                self.given.add(name)
                return text
        self.done = True
        return self.scenario.closing

    def _names_another_change(self, agent_text: str) -> bool:
        """The question names a write of another kind than the user came for, or only orders
        other than theirs (the 1.5B put a cancel of an order nobody named, and the user said
        yes)."""
        gold = self.scenario.gold_actions
        named = {n for n, t in TOOLS.items() if t.kind == "write" and n in agent_text}
        if named and not named & {a["name"] for a in gold}:
            return True
        orders = {a.get("arguments", {}).get("order_id") for a in gold} - {None}
        mentioned = set(re.findall(r"#W[0-9]{7}", agent_text))
        return bool(orders and mentioned) and not mentioned & orders
