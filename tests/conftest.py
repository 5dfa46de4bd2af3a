"""Shared fixtures: real databases, Redis and worker processes for the tiers that need them.

PostgreSQL tests run against a real server, never a mock. The server comes from
``ARLEDGER_TEST_PG_ADMIN_URL`` (default: the local trust-auth server,
``postgresql://postgres@127.0.0.1:5432/postgres``); each test run creates its own throwaway
database there and drops it at the end. If the server cannot be reached the PostgreSQL tests
fail with the reason — they are never silently skipped.

SQLite tests copy a migrated template file, so each test starts from an empty ledger in
milliseconds.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql
from sqlalchemy.orm import Session

from benchmarks.support import ARLEDGER, Process, arledger_env
from config.settings import Settings
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.intake.inputs import validate_load_file
from ledger.persistence.db import dispose_engines, get_engine
from ledger.persistence.migrate import upgrade
from ledger.services.receipts import submit_receipt

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "ledger" / "data" / "sample.json"
PG_ADMIN_URL = os.environ.get(
    "ARLEDGER_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

_TIERS = {"unit": "unit", "integration": "integration", "e2e": "e2e", "property": "property"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the tier of the folder it lives in."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in _TIERS:
            item.add_marker(getattr(pytest.mark, _TIERS[parts[0]]))


# --- PostgreSQL --------------------------------------------------------------------------------


def _admin_connect() -> psycopg.Connection:
    try:
        return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is required for this test and is not reachable at {PG_ADMIN_URL}: {exc}. "
            "Start it (scripts/test does) or set ARLEDGER_TEST_PG_ADMIN_URL.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def pg_run_database() -> Iterator[str]:
    """A throwaway database for this test run (and this xdist worker), migrated; dropped after."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"arledger_test_{worker}_{uuid.uuid4().hex[:8]}"
    with _admin_connect() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    upgrade(url)
    try:
        yield url
    finally:
        dispose_engines()
        with _admin_connect() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    dispose_engines()
    return path


def fresh_sqlite(template: Path, directory: Path) -> str:
    target = directory / f"{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


# --- the fixture most tests use ----------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Settings]:
    """Settings on an empty, migrated database: SQLite and PostgreSQL in turn."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_run_database")
        reset_postgres(url)
    else:
        url = fresh_sqlite(sqlite_template, tmp_path)
    yield Settings(database_url=url, broker_url=None, gl_sink=str(tmp_path / "gl.jsonl"))
    if request.param == "sqlite":
        get_engine(url).dispose()


@pytest.fixture
def loaded(settings: Settings) -> Settings:
    """Settings on a database holding the bundled sample organisation."""
    from ledger.services.receipts import load_file

    load_file(settings, validate_load_file(SAMPLE.read_bytes()))
    return settings


def submit_receipts(
    settings: Settings, prefix: str, count: int, *, automated: bool = False
) -> list[int]:
    """Persist ``count`` receipts paying O-100 (5.00 USD and up, a cent more each), queued and
    not yet distributed: an operator's by default, a gateway's (automated) when asked."""
    ids = []
    for n in range(count):
        amount = Money.from_minor(500 + n, "USD")
        intake = submit_receipt(
            settings,
            ReceiptRequest(
                "gateway" if automated else "operator",
                f"{prefix}-{n}",
                amount,
                date(2026, 11, 5),
                allocations=(("O-100", amount),),
                automated=automated,
                reference=f"bench:{prefix}-{n}" if automated else None,
            ),
        )
        ids.append(intake.receipt_id)
    return ids


def wait_until(
    predicate: Callable[[], object], timeout: float = 90, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


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
    """What a refused request must leave untouched: row counts, every balance, every status."""
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
    return counts, balances, statuses


# --- Redis and worker processes ----------------------------------------------------------------
# Each test run (and each xdist worker) uses its own Redis database number, flushed before and
# after; workers are `arledger worker` subprocesses started with ``ARLEDGER_*`` variables, exactly
# as an operator starts them, and stopped at the end of the test that needs them.

REDIS_BASE = os.environ.get("ARLEDGER_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def _database_number() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw-1")
    return 15 - (int(worker.removeprefix("gw")) + 1) % 8


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis database of this run's own, empty, flushed again at the end."""
    url = f"{REDIS_BASE.rstrip('/')}/{_database_number()}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is required and not reachable at {url}: {exc}", pytrace=False)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    redis.Redis.from_url(redis_url).flushdb()
    return redis_url


class WorkerProcess(Process):
    """An `arledger worker` (or `beat`) subprocess and its log."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        super().__init__([ARLEDGER, *args], env, log)


def pipeline_env(database_url: str, broker_url: str, sink: str, **extra: str) -> dict[str, str]:
    return arledger_env(database_url, broker_url, sink, "whsec-integration", **extra)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator:
    """Start `arledger worker` (or beat) subprocesses; every one is stopped after the test."""
    started: list[WorkerProcess] = []

    def start(env: dict[str, str], *args: str, ready: str = "ready.") -> WorkerProcess:
        args = args or ("worker", "--concurrency", "2")
        worker = WorkerProcess(list(args), env, tmp_path / f"{args[0]}-{len(started)}.log")
        started.append(worker)
        worker.wait_for(ready)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.stop()
