"""API keys: shown once when created, stored as a SHA-256 hash, with a scope and a rate limit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from pasar.errors import NotFoundError
from pasar.store.db import Store
from pasar.store.schema import ApiKey, utcnow

# user: chat and feedback on its own conversations; backend: the same, and it may name the
# signed-in customer of a Taskbot conversation (X-Pasar-Customer) - a marketplace's server
# holds it, never a browser; disputes: also refund decisions and chargeback packets (they show
# customers' names, addresses and card digits); admin: everything.
SCOPES = ("user", "backend", "disputes", "admin")


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    prefix: str
    scope: str
    rate_limit_per_minute: int
    revoked: bool


def _hash(key: str) -> str:
    # Keys are 256 random bits, so a fast hash is safe: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        row.id,
        row.name,
        row.prefix,
        row.scope,
        row.rate_limit_per_minute,
        row.revoked_at is not None,
    )


def create_key(
    db: Store, *, name: str, scope: str = "user", rate_limit_per_minute: int = 600
) -> tuple[str, KeyInfo]:
    """Create a key; returns (the key itself, shown only now, and its stored info)."""
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r} is not one of {', '.join(SCOPES)}")
    if rate_limit_per_minute < 1:
        raise ValueError(f"rate limit {rate_limit_per_minute}/min: must be at least 1")
    key = f"psr_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=name,
        prefix=key[:10],
        key_hash=_hash(key),
        scope=scope,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    try:
        with db.session() as session, session.begin():
            session.add(row)
    except IntegrityError as exc:
        raise ValueError(f"a key named {name!r} exists already; choose another name") from exc
    return key, _info(row)


def find_key(db: Store, *, key: str) -> KeyInfo | None:
    """The active key matching ``key``, or None."""
    with db.session() as session:
        row = session.scalar(
            select(ApiKey).where(ApiKey.key_hash == _hash(key), ApiKey.revoked_at.is_(None))
        )
        return _info(row) if row else None


def list_keys(db: Store) -> list[KeyInfo]:
    with db.session() as session:
        return [_info(r) for r in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke_key(db: Store, *, name: str) -> None:
    with db.session() as session, session.begin():
        row = session.scalar(select(ApiKey).where(ApiKey.name == name))
        if row is None:
            raise NotFoundError(f"no API key named {name!r}; see `pasar keys list`")
        row.revoked_at = utcnow()


def any_key_made(db: Store) -> bool:
    """Whether a key was ever made here, revoked or not: once one was, auth stays on (revoking
    the last key must not silently open the server)."""
    with db.session() as session:
        return session.scalar(select(ApiKey.id).limit(1)) is not None


def any_active_key(db: Store) -> bool:
    with db.session() as session:
        return (
            session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1))
            is not None
        )
