"""The ORM classes of ``schema`` are mapped over the very Core tables of ``tables``."""

from __future__ import annotations

from ledger.persistence import schema, tables


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
