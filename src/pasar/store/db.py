"""Opening the store: SQLite (WAL, durable commits) by default, PostgreSQL by URL; migrations.

db = open_store("sqlite:////home/me/.pasar/store.db")   # migrates to the newest schema
with db.session() as session: ...
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from pasar.config import get_settings
from pasar.errors import PasarError

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(PasarError):
    """The store cannot be opened or used; the message says why."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives a crash
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# PostgreSQL's error text quotes the values it rejects: "DETAIL:  Key (email)=(a@b.c) already
# exists", "Failing row contains (…)", "CONTEXT:  unnamed portal parameter $1 = '…'", and
# 'invalid input syntax for type integer: "…"' on the first line.
_VALUE_LINES = re.compile(r"\n(DETAIL|CONTEXT):.*", re.DOTALL)
_QUOTED_INPUT = re.compile(r'(: )"(?:[^"]|"")*"$', re.MULTILINE)
HIDDEN = "\nDETAIL: (hidden by pasar: PostgreSQL's detail may quote a stored value)"


def scrub_database_text(text: str) -> str:
    """A database error's text without the values it may quote (customer data, message
    text): the DETAIL and CONTEXT lines go, and a quoted input at the end of a line becomes
    "***". The constraint, table and column names stay, to find the cause by."""
    end = text.rfind("\n[SQL: ")  # SQLAlchemy's statement, last (its values are hidden)
    head, statement = (text[:end], text[end:]) if end >= 0 else (text, "")
    scrubbed, count = _VALUE_LINES.subn("", head)
    return _QUOTED_INPUT.sub(r'\1"***"', scrubbed) + (HIDDEN if count else "") + statement


def _scrub_error(context: ExceptionContext) -> None:
    """Scrub a database error before it is raised, logged or answered: the driver's exception
    (printed as the cause in every traceback) and SQLAlchemy's, which copied its text."""
    for error in (context.original_exception, context.sqlalchemy_exception):
        if error is not None and error.args and isinstance(error.args[0], str):
            error.args = (scrub_database_text(error.args[0]), *error.args[1:])


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"PASAR_STORE_URL {masked_url(url)!r} is not a database URL; use e.g. "
            "sqlite:////path/store.db or postgresql+psycopg://user:password@host:5432/dbname"
        ) from None  # the original error repeats the URL, password included
    # hide_parameters: errors and logs never carry the values bound to a statement (emails,
    # addresses, message text), only the statement.
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(
            url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
        )
    event.listen(engine, "handle_error", _scrub_error)  # nor the values a database quotes
    return engine


class Store:
    """A migrated database and its session factory."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def rehearsal(self) -> Iterator[Store]:
        """A store whose writes are all undone at the end: to learn whether a change would
        run (what it raises) without making it. Its sessions join one outer transaction
        that is rolled back; their own commits do not end it (SQLAlchemy's
        ``join_transaction_mode``, the pattern of tests that roll back)."""
        with self.engine.connect() as connection:
            connection.begin()
            try:
                rehearsal = Store(self.engine)
                rehearsal._sessions = sessionmaker(
                    connection, expire_on_commit=False, join_transaction_mode="rollback_only"
                )
                yield rehearsal
            finally:
                connection.rollback()

    def close(self) -> None:
        self.engine.dispose()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_configured_store() -> Store:
    """The store named by PASAR_STORE_URL (default: SQLite under PASAR_HOME)."""
    return open_store(get_settings().store_url_resolved)


def open_store(url: str) -> Store:
    engine = make_engine(url)
    try:
        migrate(engine)
    except OperationalError as exc:
        raise StoreError(
            f"cannot open the store at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}. Check PASAR_STORE_URL and that the database server is running"
        ) from exc
    return Store(engine)
