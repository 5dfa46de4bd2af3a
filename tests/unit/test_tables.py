"""The ORM classes of ``schema`` are mapped over the very Core tables of ``tables``, whose partial
indexes render the DDL of their migration."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex

from ledger.persistence import schema, tables
from ledger.persistence.migrate import migration_module

ROOT = Path(__file__).resolve().parents[2]


def test_every_mapped_class_is_declared_on_the_core_table_of_its_name() -> None:
    mappers = list(schema.Base.registry.mappers)
    assert len(mappers) == len(tables.METADATA.tables)
    for mapper in mappers:
        table = mapper.class_.__table__
        assert tables.METADATA.tables[table.name] is table
        assert mapper.local_table is table


def test_schema_re_exports_the_same_table_objects() -> None:
    for name in ("ACCOUNTS", "ORDERS", "LINES", "RECEIPTS", "JOURNALS", "JOURNAL_LINES"):
        assert getattr(schema, name) is getattr(tables, name)
    assert schema.Base.metadata is tables.METADATA
    assert schema.Receipt.__table__ is tables.RECEIPTS


# The migrations that create partial indexes, each listing them in ``PARTIAL``.
PARTIAL_MIGRATIONS = ("0003", "0007")


@pytest.mark.parametrize("dialect", [postgresql.dialect(), sqlite.dialect()], ids=lambda d: d.name)
def test_partial_indexes_render_the_ddl_of_their_migration(dialect: Dialect) -> None:
    # The WHERE options are attached lazily (tables._partial); the DDL must be what the
    # migrations create, on both dialects, whichever dialect asked first.
    indexes = {
        index.name: index for table in tables.METADATA.tables.values() for index in table.indexes
    }
    partial = {k: v for m in PARTIAL_MIGRATIONS for k, v in migration_module(m).PARTIAL.items()}
    for name, (table, column, predicate, unique) in partial.items():
        rendered = str(CreateIndex(indexes[name]).compile(dialect=dialect))
        kind = "UNIQUE INDEX" if unique else "INDEX"
        assert rendered == f"CREATE {kind} {name} ON {table} ({column}) WHERE {predicate}"
        assert indexes[name].dialect_kwargs[f"{dialect.name}_where"] is not None
    others = [i for n, i in indexes.items() if n not in partial]
    assert others
    assert all(" WHERE " not in str(CreateIndex(i).compile(dialect=dialect)) for i in others)
