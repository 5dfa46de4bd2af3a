"""`arledger init`: create or upgrade the schema with the Alembic migrations shipped in the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import command
from alembic.config import Config

from ledger.persistence.db import get_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest), in one transaction."""
    config = alembic_config()
    with get_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def migration_module(revision: str) -> ModuleType:
    """The module of migration ``revision`` (``"0008"``), loaded from its file, for the tests and
    benchmarks that reuse a migration's own statements rather than a copy of them."""
    (path,) = (MIGRATIONS / "versions").glob(f"{revision}_*.py")
    spec = importlib.util.spec_from_file_location(f"arledger_migration_{revision}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"migration {revision} cannot be loaded from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
