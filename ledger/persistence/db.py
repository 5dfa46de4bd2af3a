"""Engines and the unit of work: how a service gets a database transaction.

PostgreSQL is driven through psycopg 3 (``postgresql://`` URLs are rewritten to
``postgresql+psycopg://``). SQLite, the embedded default, runs in WAL mode with foreign keys on
and every transaction opened with ``BEGIN IMMEDIATE``: SQLite has one writer at a time, and taking
the write lock up front is its equivalent of the order row lock, so two processes distributing on
the same order serialise instead of failing mid-transaction.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    any_,
    bindparam,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Result, make_url
from sqlalchemy.exc import InterfaceError, OperationalError

if TYPE_CHECKING:
    # Only for annotations: the read commands run on Core and never import the ORM (~0.3 s).
    from sqlalchemy.orm import Session

# Errors a retry may cure: a deadlock, a serialization failure, a lost connection, SQLite's busy
# lock, a server restarting. Tasks retry these with backoff; anything else is a real failure.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)


def normalise_url(url: str) -> str:
    """SQLAlchemy URL for a configured database URL (psycopg 3 for PostgreSQL)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_postgres(bind: Engine | Connection | Session) -> bool:
    """True on PostgreSQL, for an engine, a Core connection or a session."""
    # Engines and connections carry their dialect; a session asks its bind (no ORM import).
    if isinstance(bind, Engine | Connection):
        return bind.dialect.name == "postgresql"
    return bind.get_bind().dialect.name == "postgresql"


def among(
    session: Session | Connection, column: ColumnElement[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """``column IN (values)``, written on PostgreSQL as ``column = ANY(:array)``.

    An IN list renders one placeholder per value, so its SQL text changes with every batch: on
    every batch SQLAlchemy renders it again, psycopg parses it again and PostgreSQL plans it
    again. A profile of the lockbox worker found a fifth of its time there. One array parameter
    keeps one text per query, which psycopg prepares once per connection. SQLite has no arrays
    and keeps the IN list.
    """
    return _among(column, is_postgres(session), "among", list(values))


def among_param(column: ColumnElement[Any], name: str, *, postgres: bool) -> ColumnElement[bool]:
    """``among`` with the list left as the parameter ``name``, given when the statement runs:
    for a statement built once and run many times."""
    return _among(column, postgres, name, None)


def _among(
    column: ColumnElement[Any], postgres: bool, name: str, values: list[Any] | None
) -> ColumnElement[bool]:
    # With values the parameter is anonymous (unique), so one statement may hold several.
    unique = values is not None
    if postgres:
        # Imported here: the PostgreSQL dialect costs a SQLite run (the CLI's) ~0.1 s to load.
        from sqlalchemy.dialects.postgresql import ARRAY  # noqa: PLC0415

        return column == any_(bindparam(name, values, type_=ARRAY(column.type), unique=unique))
    return column.in_(bindparam(name, values, expanding=True, unique=unique))


_engines: dict[tuple[str, bool], Engine] = {}
# Connections each engine keeps open. A caller that runs database work on threads runs at most
# this many at once (the ingress does): a connection beyond it is opened for one use and closed,
# and for PostgreSQL every new connection is a new backend process.
POOL_SIZE = 5


def plain_rows(result: Result[Any]) -> list[Any]:
    """A result's rows as named tuples, for a loop that reads many columns of many rows: a
    SQLAlchemy Row's attribute costs about ten times a named tuple's (a microsecond each), and
    the copy pays for itself from the second column read."""
    make = _row_type(tuple(result.keys()))._make
    return [make(row) for row in result]


@cache
def _row_type(columns: tuple[str, ...]) -> Any:
    return namedtuple("PlainRow", columns)


# PostgreSQL's default costs price a random page read as four hundred tuples read in sequence,
# as if from disk: for a batch's thousand keys it took a hash or merge join over a whole table
# (every order line, every receipt), and a batch's cost grew with the ledger (docs/performance.md,
# "What the pipeline's own statements cost"). A session that reaches every row by key runs with
# those off, so every join is a nested loop over an index; a disabled plan costs more than
# jit_above_cost, so JIT goes off with them.
BY_KEY_OPTIONS = " ".join(
    f"-c {name}=off" for name in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin", "jit")
)


def get_engine(url: str, *, by_key: bool = False) -> Engine:
    """One engine (and pool) per database URL per process; on PostgreSQL, with ``by_key``, a
    second one whose sessions are planned for work that reaches every row by key (a
    distribution batch): ``BY_KEY_OPTIONS``. SQLite has one engine per URL either way."""
    engine = _engines.get((url, by_key))
    if engine is None:
        sa_url = normalise_url(url)
        if sa_url.startswith("sqlite"):
            engine = _engines.get((url, not by_key))
            if engine is None:
                engine = create_engine(sa_url, connect_args={"timeout": 60})
                _configure_sqlite(engine)
        else:
            engine = create_engine(
                sa_url,
                pool_pre_ping=True,
                pool_size=POOL_SIZE,
                max_overflow=5,
                connect_args={"options": BY_KEY_OPTIONS} if by_key else {},
            )
        _engines[(url, by_key)] = engine
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def dispose_engines() -> None:
    """Close every pooled connection (after a fork, or at the end of a test run)."""
    for engine in set(_engines.values()):
        engine.dispose()
    _engines.clear()


@contextmanager
def unit_of_work(url: str) -> Iterator[Session]:
    """A session in one database transaction that rolls back unless the caller commits.

    Services call ``session.commit()`` as their last step; any exception, or returning without
    committing (a dry run), rolls everything back.
    """
    from sqlalchemy.orm import Session  # noqa: PLC0415  (the ORM only where a session is built)

    session = Session(get_engine(url), expire_on_commit=False, autoflush=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@contextmanager
def connect(url: str) -> Iterator[Connection]:
    """A Core connection in one transaction that is rolled back: for the read commands, which
    never load the ORM."""
    with get_engine(url).connect() as connection:
        try:
            yield connection
        finally:
            connection.rollback()


def printable_url(url: str) -> str:
    """A database URL with its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def ping(url: str) -> bool:
    """True when the database answers a trivial query (the health endpoint)."""
    try:
        with get_engine(url).connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
