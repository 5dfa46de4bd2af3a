"""PostgreSQL, SQLite and Redis for the tests: the servers' addresses, emptying a database,
copying the SQLite template, and fingerprints of the ledger's state to compare before and after.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.orm import Session

from config.settings import Settings
from ledger.persistence.db import get_engine
from ledger.persistence.migrate import alembic_config

PG_ADMIN_URL = os.environ.get(
    "ARLEDGER_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# --- PostgreSQL --------------------------------------------------------------------------------


def admin_connect() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required for this test and is not reachable at {PG_ADMIN_URL}: {exc}. "
            "Start it (scripts/test does) or set ARLEDGER_TEST_PG_ADMIN_URL.",
            pytrace=False,
        )


@contextmanager
def throwaway_postgres(prefix: str) -> Iterator[str]:
    """A new empty PostgreSQL database for one test (its URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin_connect() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    try:
        yield url
    finally:
        get_engine(url).dispose()
        with admin_connect() as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def migrate(url: str, step: Callable[..., object], revision: str) -> None:
    """Alembic's ``command.upgrade`` or ``command.downgrade`` to ``revision`` on ``url``."""
    config = alembic_config()
    with get_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)


def triggers(url: str) -> set[str]:
    """The names of the database's own (not internal) triggers."""
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").fetchall()
    return {row[0] for row in rows}


def reset_postgres(url: str) -> None:
    """Empty every table (TRUNCATE fires no row trigger) and restart the outbox clock."""
    from ledger.persistence.audit import GENESIS_HASH
    from ledger.persistence.schema import Base

    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with get_engine(url).begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        # A test may have disabled the guard triggers to tamper with the ledger; restore them.
        for table in Base.metadata.sorted_tables:
            connection.exec_driver_sql(f"ALTER TABLE {table.name} ENABLE TRIGGER USER")
        connection.exec_driver_sql(
            f"INSERT INTO outbox_clock (id, last_seq, chain_hash) VALUES (1, 0, '{GENESIS_HASH}')"
        )
        connection.exec_driver_sql("INSERT INTO publisher_cursor (id, published_seq) VALUES (1, 0)")


# --- SQLite ------------------------------------------------------------------------------------


def fresh_sqlite(template: Path, directory: Path) -> str:
    target = directory / f"{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


# --- the ledger's state ------------------------------------------------------------------------


def line_balances(session: Session) -> tuple[object, ...]:
    """Every order line's (id, balance in minor units), in id order."""
    from sqlalchemy import select

    from ledger.persistence import schema

    return tuple(
        session.execute(
            select(schema.OrderLine.id, schema.OrderLine.balance_minor).order_by(
                schema.OrderLine.id
            )
        ).all()
    )


def ledger_fingerprint(url: str) -> tuple[object, ...]:
    """What a refused request must leave untouched: row counts, every balance, every status,
    the org units' matching configurations and the payer accounts."""
    from sqlalchemy import func, select

    from ledger.persistence import schema
    from ledger.persistence.db import unit_of_work

    with unit_of_work(url) as session:
        counts = tuple(
            session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (
                schema.Journal,
                schema.JournalLine,
                schema.WriteOff,
                schema.Receipt,
                schema.OrderRow,
                schema.Account,
            )
        )
        balances = line_balances(session)
        statuses = tuple(
            session.execute(
                select(schema.Receipt.id, schema.Receipt.status).order_by(schema.Receipt.id)
            ).all()
        )
        # Matching's reference data: each org unit's configuration and the payer accounts.
        matching = tuple(
            session.execute(
                select(schema.OrgUnit.code, schema.OrgUnit.matching).order_by(schema.OrgUnit.code)
            ).all()
        )
        payers = tuple(
            session.execute(
                select(schema.PayerAccount.account, schema.PayerAccount.customer_id).order_by(
                    schema.PayerAccount.account
                )
            ).all()
        )
    return counts, balances, statuses, matching, payers


# --- Redis -------------------------------------------------------------------------------------
# Each test run (and each xdist worker) uses its own Redis database number, flushed before and
# after.

REDIS_BASE = os.environ.get("ARLEDGER_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def redis_database_number() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw-1")
    return 15 - (int(worker.removeprefix("gw")) + 1) % 8


@contextmanager
def statements(settings: Settings) -> Iterator[list[str]]:
    """The SQL texts run on this database while the block runs (SQLite's BEGIN left out)."""
    seen: list[str] = []
    # Distribution batches run on the engine planned by key (one engine on SQLite).
    engines = {get_engine(settings.database_url, by_key=by_key) for by_key in (False, True)}

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            seen.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)
