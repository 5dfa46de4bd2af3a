"""Fixtures of the fault suite: the run's throwaway PostgreSQL database and its own Redis database
(from ``tests/conftest.py``), seeded with an organisation of many orders, and the settings an
`arledger worker` subprocess is started with.

Every test here is marked ``fault``. The scale is small in the ordinary suite and grows with
``ARLEDGER_SOAK=1`` (see docs/reliability.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from config.settings import Settings
from tests.support.databases import reset_postgres
from tests.support.fault import ORDERS, seed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.fault)


@pytest.fixture
def faulty(pg_run_database: str, clean_redis: str) -> Settings:
    """Settings on an emptied, seeded PostgreSQL database with Redis as broker and GL stream."""
    reset_postgres(pg_run_database)
    settings = Settings(
        database_url=pg_run_database,
        broker_url=clean_redis,
        gl_sink=clean_redis,
        webhook_secret=SecretStr("whsec-integration"),
        sweep_grace_seconds=0.0,
    )
    seed(settings, ORDERS)
    return settings
