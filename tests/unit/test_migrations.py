"""Migrations that restore an earlier revision's statements restore exactly those statements."""

from __future__ import annotations

from ledger.persistence.migrate import migration_module


def _words(statement: str) -> list[str]:
    return statement.split()


def test_the_balance_check_downgrade_restores_the_trigger_of_0001() -> None:
    initial = migration_module("0001").POSTGRES_GUARDS
    restored = migration_module("0008").PREVIOUS_BALANCE_CHECK
    assert [_words(s) for s in restored] == [_words(s) for s in initial[:2]]
    assert "CONSTRAINT TRIGGER journal_lines_balance" in " ".join(_words(restored[1]))
