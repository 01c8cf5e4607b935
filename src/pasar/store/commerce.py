"""Store functions for commerce data: import and export the retail database, and look-ups.

The JSON shape is tau2-bench's retail ``db.json`` (products, users, orders keyed by id); import
then export gives back the same document, which is what lets an evaluation compare final
database states by hash.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from pasar.errors import NotFoundError
from pasar.store.db import Store
from pasar.store.schema import (
    Fulfillment,
    Order,
    OrderItem,
    Payment,
    PaymentMethod,
    Product,
    User,
    Variant,
)

COMMERCE_TABLES = (Payment, Fulfillment, OrderItem, Order, PaymentMethod, User, Variant, Product)


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _address(row: User | Order) -> dict[str, str]:
    return {
        "address1": row.address1,
        "address2": row.address2,
        "city": row.city,
        "country": row.country,
        "state": row.state,
        "zip": row.zip,
    }


def load_retail_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ValueError(
            f"{path}: no such file (the retail database is ../shared/data/retail/db.json)"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    missing = {"products", "users", "orders"} - set(data)
    if missing:
        raise ValueError(f"{path} lacks {', '.join(sorted(missing))}: not a retail database file")
    return data


def import_retail(db: Store, data: dict[str, Any], *, replace: bool = False) -> dict[str, int]:
    """Load a retail database document into the store, in one transaction.

    Refuses to mix with commerce data already there unless ``replace`` (which deletes it first).
    """
    with db.session() as session, session.begin():
        existing = session.scalar(select(func.count()).select_from(User)) or 0
        if existing and not replace:
            raise ValueError(
                f"the store already holds {existing} users; pass replace=True "
                "(`--replace`) to delete the commerce data and import anew"
            )
        for table in COMMERCE_TABLES:
            session.execute(delete(table))
        for product in data["products"].values():
            session.add(Product(id=product["product_id"], name=product["name"]))
            for position, variant in enumerate(product["variants"].values()):
                session.add(
                    Variant(
                        id=variant["item_id"],
                        product_id=product["product_id"],
                        position=position,
                        options=variant["options"],
                        available=variant["available"],
                        price=Decimal(str(variant["price"])),
                    )
                )
        session.flush()
        for user in data["users"].values():
            session.add(
                User(
                    id=user["user_id"],
                    first_name=user["name"]["first_name"],
                    last_name=user["name"]["last_name"],
                    email=user["email"],
                    **user["address"],
                )
            )
            for position, method in enumerate(user["payment_methods"].values()):
                balance = method.get("balance")
                session.add(
                    PaymentMethod(
                        id=method["id"],
                        user_id=user["user_id"],
                        position=position,
                        source=method["source"],
                        brand=method.get("brand"),
                        last_four=method.get("last_four"),
                        balance=None if balance is None else Decimal(str(balance)),
                    )
                )
        session.flush()
        user_positions = {
            oid: i for user in data["users"].values() for i, oid in enumerate(user["orders"])
        }
        for order in data["orders"].values():
            oid = order["order_id"]
            session.add(
                Order(
                    id=oid,
                    user_id=order["user_id"],
                    user_position=user_positions.get(oid, 0),
                    status=order["status"],
                    **order["address"],
                )
            )
            for position, item in enumerate(order["items"]):
                session.add(
                    OrderItem(
                        order_id=oid,
                        position=position,
                        item_id=item["item_id"],
                        product_id=item["product_id"],
                        name=item["name"],
                        price=Decimal(str(item["price"])),
                        options=item["options"],
                    )
                )
            for position, fulfillment in enumerate(order["fulfillments"]):
                session.add(
                    Fulfillment(
                        order_id=oid,
                        position=position,
                        tracking_ids=fulfillment["tracking_id"],
                        item_ids=fulfillment["item_ids"],
                    )
                )
            for position, payment in enumerate(order["payment_history"]):
                session.add(
                    Payment(
                        order_id=oid,
                        position=position,
                        transaction_type=payment["transaction_type"],
                        amount=Decimal(str(payment["amount"])),
                        payment_method_id=payment["payment_method_id"],
                    )
                )
    return commerce_counts(db)


def commerce_counts(db: Store) -> dict[str, int]:
    with db.session() as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in reversed(COMMERCE_TABLES)
        }


def _product_json(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "product_id": product.id,
        "variants": {
            v.id: {
                "item_id": v.id,
                "options": v.options,
                "available": v.available,
                "price": _money(v.price),
            }
            for v in product.variants
        },
    }


def _payment_method_json(method: PaymentMethod) -> dict[str, Any]:
    out: dict[str, Any] = {"source": method.source, "id": method.id}
    if method.brand is not None:
        out |= {"brand": method.brand, "last_four": method.last_four}
    if method.balance is not None:
        out["balance"] = _money(method.balance)
    return out


def _user_json(user: User) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "name": {"first_name": user.first_name, "last_name": user.last_name},
        "address": _address(user),
        "email": user.email,
        "payment_methods": {m.id: _payment_method_json(m) for m in user.payment_methods},
        "orders": [o.id for o in user.orders],
    }


def _order_json(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "user_id": order.user_id,
        "address": _address(order),
        "items": [
            {
                "name": i.name,
                "product_id": i.product_id,
                "item_id": i.item_id,
                "price": _money(i.price),
                "options": i.options,
            }
            for i in order.items
        ],
        "status": order.status,
        "fulfillments": [
            {"tracking_id": f.tracking_ids, "item_ids": f.item_ids} for f in order.fulfillments
        ],
        "payment_history": [
            {
                "transaction_type": p.transaction_type,
                "amount": _money(p.amount),
                "payment_method_id": p.payment_method_id,
            }
            for p in order.payments
        ],
    }


def export_retail(db: Store) -> dict[str, Any]:
    """The commerce data as a retail database document (the shape ``import_retail`` reads)."""
    with db.session() as session:
        products = session.scalars(select(Product).options(selectinload(Product.variants)))
        users = session.scalars(
            select(User).options(selectinload(User.payment_methods), selectinload(User.orders))
        )
        orders = session.scalars(
            select(Order).options(
                selectinload(Order.items),
                selectinload(Order.fulfillments),
                selectinload(Order.payments),
            )
        )
        return {
            "products": {p.id: _product_json(p) for p in products},
            "users": {u.id: _user_json(u) for u in users},
            "orders": {o.id: _order_json(o) for o in orders},
        }


def _one(session: Session, model: type, key: str, what: str) -> Any:
    row = session.get(model, key)
    if row is None:
        raise NotFoundError(f"no {what} with id {key!r}")
    return row


def get_user(db: Store, *, user_id: str) -> dict[str, Any]:
    with db.session() as session:
        return _user_json(_one(session, User, user_id, "user"))


def get_order(db: Store, *, order_id: str) -> dict[str, Any]:
    with db.session() as session:
        return _order_json(_one(session, Order, order_id, "order"))


def order_statuses(db: Store, *, user_id: str) -> dict[str, str]:
    """The user's orders by id, with their status (one query; no other order detail)."""
    with db.session() as session:
        rows = session.execute(select(Order.id, Order.status).where(Order.user_id == user_id))
        return {order_id: status for order_id, status in rows}


def get_product(db: Store, *, product_id: str) -> dict[str, Any]:
    with db.session() as session:
        return _product_json(_one(session, Product, product_id, "product"))


def find_user_id(
    db: Store,
    *,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    zip: str | None = None,
) -> str:
    """A user's id by email, or by full name and zip code (case-insensitive)."""
    with db.session() as session:
        query = select(User.id)
        if email is not None:
            query = query.where(func.lower(User.email) == email.strip().lower())
        elif first_name and last_name and zip:
            query = query.where(
                func.lower(User.first_name) == first_name.strip().lower(),
                func.lower(User.last_name) == last_name.strip().lower(),
                User.zip == zip.strip(),
            )
        else:
            raise ValueError("give an email, or a first name, last name and zip code")
        user_id = session.scalar(query)
        if user_id is None:
            raise NotFoundError(
                "no user matches; check the spelling, or try the other way "
                "(email, or name and zip code)"
            )
        return user_id
