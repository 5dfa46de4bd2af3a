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
import pkgutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from psycopg import sql

import tests.support
from config.settings import Settings
from ledger.intake.inputs import validate_load_file
from ledger.persistence.db import dispose_engines, get_engine
from ledger.persistence.migrate import upgrade

# Before the helpers are imported: their asserts (the CLI runner's, the fault audits') then
# report the values compared, as they did when the helpers lived in test modules. The package
# itself is already imported (its figures plugin is loaded first), so name each module.
pytest.register_assert_rewrite(
    *(f"tests.support.{module.name}" for module in pkgutil.iter_modules(tests.support.__path__))
)

from tests.support.databases import (  # noqa: E402
    PG_ADMIN_URL,
    REDIS_BASE,
    admin_connect,
    fresh_sqlite,
    redis_database_number,
    reset_postgres,
)
from tests.support.paths import ROOT, SAMPLE  # noqa: E402
from tests.support.processes import WorkerProcess  # noqa: E402

_TIERS = {"unit": "unit", "integration": "integration", "e2e": "e2e", "property": "property"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the tier of the folder it lives in."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in _TIERS:
            item.add_marker(getattr(pytest.mark, _TIERS[parts[0]]))


# --- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_run_database() -> Iterator[str]:
    """A throwaway database for this test run (and this xdist worker), migrated; dropped after."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"arledger_test_{worker}_{uuid.uuid4().hex[:8]}"
    with admin_connect() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    upgrade(url)
    try:
        yield url
    finally:
        dispose_engines()
        with admin_connect() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --- SQLite ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    dispose_engines()
    return path


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


# --- Redis and worker processes ----------------------------------------------------------------
# Each test run (and each xdist worker) uses its own Redis database number, flushed before and
# after; workers are `arledger worker` subprocesses started with ``ARLEDGER_*`` variables, exactly
# as an operator starts them, and stopped at the end of the test that needs them.


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis database of this run's own, empty, flushed again at the end."""
    url = f"{REDIS_BASE.rstrip('/')}/{redis_database_number()}"
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
