"""SQLAlchemy models: the interaction log and the commerce data. Changes go through Alembic.

Commerce data mirrors the retail store database of tau2-bench (users with addresses and payment
methods, products with variants, orders with items, fulfillments and payment history), so that
Taskbot, disputes and listing share one order model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored naive, always UTC


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, Decimal: Numeric(12, 2)}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown to people to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the whole key
    scope: Mapped[str] = mapped_column(String(16))  # "user" or "admin"
    rate_limit_per_minute: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", order_by="Message.position"
    )


class Message(Base):
    """One message of a conversation. Assistant messages carry how they were produced.

    A position holds one message, except that the choices of one completion (``n`` > 1) share
    it, told apart by ``choice``: the database refuses two messages in one place, whatever
    requests race to append."""

    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "uq_messages_conversation_position_choice",
            "conversation_id",
            "position",
            "choice",
            unique=True,
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    position: Mapped[int]
    choice: Mapped[int] = mapped_column(default=0, server_default="0")  # index among n choices
    # The chat completion an answer belongs to (its first choice's id is the completion's).
    completion_id: Mapped[str | None] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    tool_calls: Mapped[list[Any] | None]
    tool_call_id: Mapped[str | None] = mapped_column(String(64))
    # How an assistant message was produced (null for the others).
    model: Mapped[str | None] = mapped_column(String(200), index=True)
    model_version: Mapped[str | None] = mapped_column(String(64))
    engine: Mapped[str | None] = mapped_column(String(16))
    sampling: Mapped[dict[str, Any] | None]
    finish_reason: Mapped[str | None] = mapped_column(String(16))
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    latency_ms: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    feedback: Mapped[list[Feedback]] = relationship(back_populates="message")


class Feedback(Base):
    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id"), index=True)
    rating: Mapped[str | None] = mapped_column(String(8))  # "up", "down" or None (correction only)
    correction: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    message: Mapped[Message] = relationship(back_populates="feedback")


# -- commerce data ---------------------------------------------------------------------------


class Address:
    """Postal address columns, shared by users and orders."""

    address1: Mapped[str] = mapped_column(String(200))
    address2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(100))
    zip: Mapped[str] = mapped_column(String(20), index=True)


class User(Address, Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200), unique=True)

    payment_methods: Mapped[list[PaymentMethod]] = relationship(order_by="PaymentMethod.position")
    orders: Mapped[list[Order]] = relationship(
        back_populates="user", order_by="Order.user_position"
    )


class PaymentMethod(Base):
    __tablename__ = "payment_methods"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    position: Mapped[int]
    source: Mapped[str] = mapped_column(String(32))  # credit_card, paypal, gift_card
    brand: Mapped[str | None] = mapped_column(String(32))
    last_four: Mapped[str | None] = mapped_column(String(4))
    balance: Mapped[Decimal | None]  # gift cards


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))

    variants: Mapped[list[Variant]] = relationship(order_by="Variant.position")


class Variant(Base):
    """A purchasable item: one combination of a product's options, with its price."""

    __tablename__ = "variants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    position: Mapped[int]
    options: Mapped[dict[str, Any]]
    available: Mapped[bool]
    price: Mapped[Decimal]


class Order(Address, Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    user_position: Mapped[int]  # where the order stands in the user's list
    status: Mapped[str] = mapped_column(String(64))

    user: Mapped[User] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(order_by="OrderItem.position")
    fulfillments: Mapped[list[Fulfillment]] = relationship(order_by="Fulfillment.position")
    payments: Mapped[list[Payment]] = relationship(order_by="Payment.position")


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int]
    item_id: Mapped[str] = mapped_column(ForeignKey("variants.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal]  # the price paid, which may differ from today's variant price
    options: Mapped[dict[str, Any]]


class Fulfillment(Base):
    __tablename__ = "fulfillments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int]
    tracking_ids: Mapped[list[Any]]
    item_ids: Mapped[list[Any]]


class Payment(Base):
    """A payment or refund on an order."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    position: Mapped[int]
    transaction_type: Mapped[str] = mapped_column(String(16))  # payment, refund
    amount: Mapped[Decimal]
    payment_method_id: Mapped[str] = mapped_column(String(64))
