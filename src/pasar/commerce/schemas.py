"""Typed commerce records, in the shape of tau2-bench's retail documents (what
``pasar.store.commerce.get_order`` / ``get_user`` return and ``db.json`` holds).

Read them with ``order_record`` / ``user_record`` (or ``Order.model_validate(document)``) and
use attributes, not dictionary keys: a renamed field is then a type error, not a KeyError in a
rarely taken branch.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from pasar.store.commerce import get_order, get_user
from pasar.store.db import Store


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Address(Record):
    address1: str
    address2: str = ""
    city: str
    state: str
    country: str
    zip: str


class Name(Record):
    first_name: str
    last_name: str


class PaymentMethod(Record):
    id: str
    source: str  # credit_card, paypal or gift_card
    brand: str | None = None
    last_four: str | None = None
    balance: float | None = None  # a gift card's


class Payment(Record):
    transaction_type: str  # payment or refund
    amount: float
    payment_method_id: str


class OrderItem(Record):
    name: str
    product_id: str
    item_id: str
    price: float
    options: dict[str, str] = {}


class Fulfillment(Record):
    tracking_id: list[str]
    item_ids: list[str]


class Order(Record):
    order_id: str
    user_id: str
    address: Address
    items: list[OrderItem]
    status: str
    fulfillments: list[Fulfillment] = []
    payment_history: list[Payment] = []

    @property
    def tracking_ids(self) -> list[str]:
        return [t for f in self.fulfillments for t in f.tracking_id]

    @property
    def net_paid(self) -> float:
        """Payments minus refunds already made on the order (never below zero)."""
        total = sum(
            p.amount if p.transaction_type == "payment" else -p.amount for p in self.payment_history
        )
        return round(max(total, 0.0), 2)

    @property
    def refunded(self) -> bool:
        return any(p.transaction_type == "refund" for p in self.payment_history)


class User(Record):
    user_id: str
    name: Name
    address: Address
    email: str
    payment_methods: dict[str, PaymentMethod] = {}
    orders: list[str] = []


def order_record(db: Store, *, order_id: str) -> Order:
    """The order, typed (NotFoundError as ``get_order``)."""
    return Order.model_validate(get_order(db, order_id=order_id))


def user_record(db: Store, *, user_id: str) -> User:
    """The user, typed (NotFoundError as ``get_user``)."""
    return User.model_validate(get_user(db, user_id=user_id))


def orders_of(document: dict[str, Any]) -> dict[str, Order]:
    """The orders of a retail database document (``db.json``), typed."""
    return {k: Order.model_validate(v) for k, v in document["orders"].items()}
