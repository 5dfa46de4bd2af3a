"""The journal balance check on PostgreSQL (migration 0008), tried by every way around it.

The check records the journals each statement touches and checks them once at commit, so each
test writes through a different path — a line added to a committed journal, several journals in
one statement, COPY, UPDATE, DELETE, a rolled-back savepoint, an early ``SET CONSTRAINTS`` — and
asserts the commit is refused, naming the journal. The UPDATE and DELETE paths are tried twice:
as they are (the append-only guard refuses them first) and with that guard disabled inside the
transaction, so the balance check is shown to hold on its own. Plain psycopg, no ORM: these are
the statements a bug or a careless script could send.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command

from config.settings import Settings
from ledger.intake.inputs import validate_load_file
from ledger.persistence.migrate import upgrade
from ledger.services.receipts import load_file
from tests.support.databases import migrate, reset_postgres, throwaway_postgres, triggers
from tests.support.paths import SAMPLE

LINE = "INSERT INTO journal_lines (id, journal_id, account, debit_minor, credit_minor) VALUES "


@pytest.fixture
def database(pg_run_database: str) -> str:
    reset_postgres(pg_run_database)
    load_file(Settings(database_url=pg_run_database), validate_load_file(SAMPLE.read_bytes()))
    return pg_run_database


@pytest.fixture
def connection(database: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database) as connection:
        connection.execute("INSERT INTO ledger_commits (id) VALUES (900)")
        yield connection


def journal(connection: psycopg.Connection, journal_id: int, amount: int) -> None:
    connection.execute(
        "INSERT INTO journals (id, commit_id, type, code, currency, amount_minor, posting_date) "
        "VALUES (%s, 900, 'RECEIPT', 1, 'USD', %s, '2026-11-05')",
        (journal_id, amount),
    )


def balanced(connection: psycopg.Connection, journal_id: int, amount: int) -> None:
    """A journal of ``amount`` and its two lines, debit cash and credit AR."""
    journal(connection, journal_id, amount)
    connection.execute(
        LINE + "(%s, %s, '1000', %s, 0), (%s, %s, '1100', 0, %s)",
        (journal_id * 10 + 1, journal_id, amount, journal_id * 10 + 2, journal_id, amount),
    )


def pending_rows(database: str) -> tuple[int, int]:
    with psycopg.connect(database) as connection:
        return connection.execute(
            "SELECT (SELECT count(*) FROM journal_balance_pending), "
            "(SELECT count(*) FROM journal_balance_commits)"
        ).fetchone()


def committed_journal(database: str) -> None:
    """Journal 901 (100.00, balanced), committed."""
    with psycopg.connect(database) as connection:
        connection.execute("INSERT INTO ledger_commits (id) VALUES (901)")
        connection.execute(
            "INSERT INTO journals (id, commit_id, type, code, currency, amount_minor, posting_date) "
            "VALUES (901, 901, 'RECEIPT', 1, 'USD', 10000, '2026-11-05')"
        )
        connection.execute(LINE + "(9011, 901, '1000', 10000, 0), (9012, 901, '1100', 0, 10000)")


def test_a_balanced_journal_written_across_statements_commits_and_leaves_nothing_pending(
    connection, database
):
    journal(connection, 901, 500)
    connection.execute(LINE + "(9011, 901, '1000', 500, 0)")
    connection.execute(LINE + "(9012, 901, '1100', 0, 300)")
    connection.execute(LINE + "(9013, 901, '1100', 0, 200)")
    connection.commit()
    assert pending_rows(database) == (0, 0)


def test_lines_added_to_an_already_committed_journal_are_refused_at_commit(connection, database):
    committed_journal(database)
    # Balanced between themselves: only the journal's amount can tell them apart.
    connection.execute(LINE + "(9013, 901, '1000', 50, 0), (9014, 901, '1100', 0, 50)")
    with pytest.raises(psycopg.errors.CheckViolation, match="journal 901: 4 lines totalling 10050"):
        connection.commit()
    assert pending_rows(database) == (0, 0)


def test_one_insert_of_lines_of_several_journals_checks_each_journal(connection):
    journal(connection, 901, 100)
    journal(connection, 902, 200)
    journal(connection, 903, 300)
    connection.execute(
        LINE + "(9011, 901, '1000', 100, 0), (9012, 901, '1100', 0, 100), "
        "(9021, 902, '1000', 200, 0), (9022, 902, '1100', 0, 199), "
        "(9031, 903, '1000', 300, 0), (9032, 903, '1100', 0, 300)"
    )
    with pytest.raises(psycopg.errors.CheckViolation, match="unbalanced journal 902: debits 200"):
        connection.commit()


def test_copy_of_unbalanced_lines_is_refused_at_commit(connection):
    journal(connection, 901, 100)
    journal(connection, 902, 100)
    with connection.cursor().copy(
        "COPY journal_lines (id, journal_id, account, debit_minor, credit_minor) FROM STDIN"
    ) as copy:
        for row in (
            (9011, 901, "1000", 100, 0),
            (9012, 901, "1100", 0, 100),
            (9021, 902, "1000", 100, 0),
        ):
            copy.write_row(row)
    with pytest.raises(psycopg.errors.CheckViolation, match="unbalanced journal 902: debits 100"):
        connection.commit()


def test_a_journal_without_lines_is_refused_at_commit(connection):
    journal(connection, 901, 100)
    with pytest.raises(psycopg.errors.CheckViolation, match="journal 901: 0 lines totalling 0"):
        connection.commit()


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        (
            "UPDATE journal_lines SET credit_minor = 9000 WHERE id = 9012",
            "unbalanced journal 901: debits 10000 <> credits 9000",
        ),
        # Moved to journal 902: both the journal it left and the one it joined are checked.
        ("UPDATE journal_lines SET journal_id = 902 WHERE id = 9012", "unbalanced journal 901"),
        (
            "DELETE FROM journal_lines WHERE id = 9012",
            "unbalanced journal 901: debits 10000 <> credits 0",
        ),
    ],
    ids=["amount", "journal", "delete"],
)
def test_changing_or_deleting_a_posted_line_is_refused_by_both_guards(
    connection, database, statement, refusal
):
    committed_journal(database)
    balanced(connection, 902, 10000)
    connection.commit()
    # The append-only guard refuses the statement itself.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        connection.execute(statement)
    connection.rollback()
    # Without it (disabled in this transaction only), the balance check refuses the commit.
    connection.execute("ALTER TABLE journal_lines DISABLE TRIGGER journal_lines_append_only")
    connection.execute(statement)
    with pytest.raises(psycopg.errors.CheckViolation, match=refusal):
        connection.commit()
    assert pending_rows(database) == (0, 0)


def test_a_rolled_back_savepoint_does_not_take_the_check_with_it(connection):
    """The transaction's first touch, inside a savepoint rolled back, queued the check; the
    lines written after it must queue it again."""
    with connection.transaction():  # a savepoint inside the open transaction
        balanced(connection, 901, 100)
        raise psycopg.Rollback  # back to the savepoint, the transaction goes on
    journal(connection, 902, 100)
    connection.execute(LINE + "(9021, 902, '1000', 100, 0)")
    with pytest.raises(psycopg.errors.CheckViolation, match="journal 902"):
        connection.commit()


def test_lines_written_after_an_early_check_are_checked_again_at_commit(connection):
    balanced(connection, 901, 100)
    connection.execute("SET CONSTRAINTS ALL IMMEDIATE")  # journal 901 checked now, and passes
    connection.execute("SET CONSTRAINTS ALL DEFERRED")
    connection.execute(LINE + "(9013, 901, '1000', 1, 0)")
    with pytest.raises(psycopg.errors.CheckViolation, match="unbalanced journal 901: debits 101"):
        connection.commit()


def test_downgrade_restores_the_per_line_trigger_and_upgrade_the_check_at_commit():
    with throwaway_postgres("arledger_test_downgrade") as url:
        upgrade(url)
        migrate(url, command.downgrade, "0007")
        assert triggers(url) >= {"journal_lines_balance"}
        assert not triggers(url) & {"journal_balance_at_commit", "journal_lines_touch_insert"}
        migrate(url, command.upgrade, "head")
        assert "journal_lines_balance" not in triggers(url)
        assert triggers(url) >= {"journal_balance_at_commit", "journal_lines_touch_insert"}
