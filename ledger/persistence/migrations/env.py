"""Alembic environment: migrations run on the connection `arledger init` hands over, or on the URL
from the settings when alembic is run by hand."""

from alembic import context
from sqlalchemy import Connection, pool

from config.settings import get_settings
from ledger.persistence.db import get_engine, normalise_url
from ledger.persistence.tables import METADATA

target_metadata = METADATA


def run_migrations_offline() -> None:
    context.configure(
        url=normalise_url(get_settings().database_url),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = get_engine(get_settings().database_url)
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connection)


def _run(connection: Connection) -> None:
    # render_as_batch lets later migrations alter tables on SQLite, which has no ALTER COLUMN.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


_ = pool  # imported for alembic's templates; the engine comes from ledger.persistence.db
if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
