"""The retail tools: typed functions tagged read or write, each documented by its docstring.

The first docstring line is the tool's description and the ``Args:`` lines describe its
parameters; together with the type hints they become the JSON schema the model sees
(``Tool.schema()``) and the pydantic model that checks a call's arguments. Tools raise domain
errors (``NotFoundError``, ``OrderActionError``); the environment turns them into observations.
Policy (who may call what, when) is not here: see ``environment.py``.
"""

from __future__ import annotations

import ast
import inspect
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
)

from pasar.commerce import orders
from pasar.errors import NotFoundError
from pasar.store.commerce import find_user_id, get_order, get_product, get_user
from pasar.store.db import Store
from pasar.store.schema import Product, Variant

Kind = Literal["read", "write"]
Reason = Literal["no longer needed", "ordered by mistake"]
ORDER_ID = re.compile(r"#?\s*W?\s*(\d{7})", re.IGNORECASE)


def order_id_as_stored(value: Any) -> Any:
    """An order id as the store keys it ('#W' and 7 digits) from the forms people and models
    write it in ('W1234567', '#w1234567', '1234567'); anything else as given."""
    match = ORDER_ID.fullmatch(value.strip()) if isinstance(value, str) else None
    return f"#W{match[1]}" if match else value


# The schema's pattern holds constrained decoding to the stored form, too ([0-9], not \d:
# llama-cpp-python's schema converter turns \d{7} into a broken grammar that crashes llama.cpp).
OrderId = Annotated[
    str, StringConstraints(pattern=r"^#W[0-9]{7}$"), BeforeValidator(order_id_as_stored)
]


@dataclass(frozen=True)
class Tool:
    name: str
    kind: Kind
    function: Callable[..., Any]
    description: str
    arguments: type[BaseModel]

    def schema(self) -> dict[str, Any]:
        """The OpenAI tool definition: {"type": "function", "function": {...}}."""
        parameters = _strip_titles(self.arguments.model_json_schema())
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": parameters,
            },
        }

    def run(self, db: Store, arguments: dict[str, Any]) -> Any:
        """Check the arguments against the schema (pydantic raises), then call the tool."""
        checked = self.arguments.model_validate(arguments)
        return self.function(db, **checked.model_dump())


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def _docstring(function: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    doc = inspect.getdoc(function) or ""
    head, _, args = doc.partition("Args:")
    described = dict(re.findall(r"^\s*(\w+): (.+)$", args, flags=re.MULTILINE))
    return " ".join(head.split()), described


TOOLS: dict[str, Tool] = {}


def tool(kind: Kind) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function ``f(db, **arguments)`` as a tool of this kind."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        description, described = _docstring(function)
        hints = get_type_hints(function, include_extras=True)
        fields: dict[str, Any] = {
            name: (hints[name], Field(description=described.get(name)))
            for name in list(inspect.signature(function).parameters)[1:]
        }
        model = create_model(  # type: ignore[call-overload]
            f"{function.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )
        TOOLS[function.__name__] = Tool(function.__name__, kind, function, description, model)
        return function

    return register


@tool("read")
def find_user_id_by_email(db: Store, email: str) -> str:
    """Find a user's id by their email address."""
    return find_user_id(db, email=email)


@tool("read")
def find_user_id_by_name_zip(db: Store, first_name: str, last_name: str, zip: str) -> str:
    """Find a user's id by first name, last name and zip code."""
    return find_user_id(db, first_name=first_name, last_name=last_name, zip=zip)


@tool("read")
def get_user_details(db: Store, user_id: str) -> dict[str, Any]:
    """Get a user's profile: name, address, email, payment methods and order ids.

    Args:
        user_id: as find_user_id_by_email or find_user_id_by_name_zip returned it.
    """
    return get_user(db, user_id=user_id)


@tool("read")
def get_order_details(db: Store, order_id: OrderId) -> dict[str, Any]:
    """Get an order's status, items, address, fulfillments and payments.

    Args:
        order_id: '#W' and 7 digits, as the user or a tool gave it.
    """
    return get_order(db, order_id=order_id)


@tool("read")
def get_product_details(db: Store, product_id: str) -> dict[str, Any]:
    """Get a product's variants: item ids, options, availability, prices.

    Args:
        product_id: A product id (not an item id).
    """
    return get_product(db, product_id=product_id)


@tool("read")
def get_item_details(db: Store, item_id: str) -> dict[str, Any]:
    """Get one item (variant): product, options, availability, price.

    Args:
        item_id: An item id (not a product id).
    """
    with db.session() as session:
        variant = session.get(Variant, item_id)
        if variant is None:
            raise NotFoundError(f"no item with id {item_id!r}")
        return {
            "item_id": variant.id,
            "product_id": variant.product_id,
            "options": variant.options,
            "available": variant.available,
            "price": float(variant.price),
        }


@tool("read")
def list_all_product_types(db: Store) -> dict[str, str]:
    """List the store's product types: name -> product id."""
    with db.session() as session:
        return {p.name: p.id for p in session.query(Product).order_by(Product.name)}


_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _arithmetic(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _arithmetic(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return float(_OPERATORS[type(node.op)](_arithmetic(node.left), _arithmetic(node.right)))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return float(_OPERATORS[type(node.op)](_arithmetic(node.operand)))
    raise ValueError("only numbers, + - * / and parentheses are allowed")


# Only what ``_arithmetic`` evaluates, so constrained decoding cannot turn the calculator into
# a free-text field (the 1.5B wrote the write it could not call yet into it).
Arithmetic = Annotated[str, StringConstraints(pattern=r"^[-0-9+*/(). ]+$")]


@tool("read")
def calculate(db: Store, expression: Arithmetic) -> float:
    """Calculate an arithmetic expression, rounded to 2 decimals.

    Args:
        expression: e.g. '2 * (3.5 + 1)'.
    """
    try:
        tree = ast.parse(expression, mode="eval")
        return round(_arithmetic(tree), 2)
    except (SyntaxError, ZeroDivisionError) as exc:
        raise ValueError(f"cannot calculate {expression!r}: {exc}") from exc


# What an agent says when it hands the user over (and sets its ``transferred``).
TRANSFER_TEXT = "YOU ARE BEING TRANSFERRED TO A HUMAN AGENT"


@tool("read")
def transfer_to_human_agents(db: Store, summary: str) -> str:
    """Transfer the user to a human agent, with a summary of their issue. Only when the request
    is outside what the tools can do.

    Args:
        summary: The user's issue.
    """
    return "Transfer successful"


@tool("write")
def cancel_pending_order(db: Store, order_id: OrderId, reason: Reason) -> dict[str, Any]:
    """Cancel a pending order; payments are refunded to their methods (gift cards at once).

    Args:
        order_id: '#W' and 7 digits, as the user or a tool gave it.
    """
    return orders.cancel_pending_order(db, order_id=order_id, reason=reason)


@tool("write")
def modify_pending_order_address(
    db: Store,
    order_id: OrderId,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
) -> dict[str, Any]:
    """Change the shipping address of a pending order (address2 may be '').

    Args:
        order_id: '#W' and 7 digits, as the user or a tool gave it.
    """
    return orders.modify_pending_order_address(
        db,
        order_id=order_id,
        address1=address1,
        address2=address2,
        city=city,
        state=state,
        country=country,
        zip=zip,
    )


@tool("write")
def modify_pending_order_items(
    db: Store,
    order_id: OrderId,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
) -> dict[str, Any]:
    """Swap items of a pending order for other options of the same products (once per order).

    Args:
        order_id: '#W' and 7 digits, as the user or a tool gave it.
        new_item_ids: One per item id, in the same order.
        payment_method_id: Pays or gets the price difference.
    """
    return orders.modify_pending_order_items(
        db,
        order_id=order_id,
        item_ids=item_ids,
        new_item_ids=new_item_ids,
        payment_method_id=payment_method_id,
    )


@tool("write")
def modify_pending_order_payment(
    db: Store, order_id: OrderId, payment_method_id: str
) -> dict[str, Any]:
    """Pay a pending order with another of the user's payment methods.

    Args:
        order_id: '#W' and 7 digits, as the user or a tool gave it.
        payment_method_id: one of the user's payment methods (get_user_details).
    """
    return orders.modify_pending_order_payment(
        db, order_id=order_id, payment_method_id=payment_method_id
    )


@tool("write")
def modify_user_address(
    db: Store,
    user_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,
) -> dict[str, Any]:
    """Change a user's default address (address2 may be '').

    Args:
        user_id: as find_user_id_by_email or find_user_id_by_name_zip returned it.
    """
    return orders.modify_user_address(
        db,
        user_id=user_id,
        address1=address1,
        address2=address2,
        city=city,
        state=state,
        country=country,
        zip=zip,
    )


@tool("write")
def return_delivered_order_items(
    db: Store, order_id: OrderId, item_ids: list[str], payment_method_id: str
) -> dict[str, Any]:
    """Return items of a delivered order; the refund goes to the original method or a gift card.

    Args:
        order_id: '#W' and 7 digits, as the user or a tool gave it.
        payment_method_id: Gets the refund.
    """
    return orders.return_delivered_order_items(
        db, order_id=order_id, item_ids=item_ids, payment_method_id=payment_method_id
    )


@tool("write")
def exchange_delivered_order_items(
    db: Store,
    order_id: OrderId,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
) -> dict[str, Any]:
    """Exchange items of a delivered order for other options of the same products (once).

    Args:
        order_id: '#W' and 7 digits, as the user or a tool gave it.
        new_item_ids: One per item id, in the same order.
        payment_method_id: Pays or gets the price difference.
    """
    return orders.exchange_delivered_order_items(
        db,
        order_id=order_id,
        item_ids=item_ids,
        new_item_ids=new_item_ids,
        payment_method_id=payment_method_id,
    )


def tool_schemas() -> list[dict[str, Any]]:
    return [t.schema() for t in TOOLS.values()]
