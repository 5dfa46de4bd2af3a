"""The foreign keys PostgreSQL enforces by trigger since migration 0009, tried by every way around.

Each of the 16 keys of the tables written in bulk refuses a value with no parent on a one-row
INSERT, on a multi-row INSERT where one row of several is bad, on COPY, and on an UPDATE of the
column (with the append-only guard of journals and lines disabled in the transaction, so the key
check is shown to hold on its own); NULL passes where the column is nullable. Each parent refuses
DELETE and an UPDATE of its key (again with 0001's guards disabled where a table has them), and
TRUNCATE while a child row still names it. The downgrade restores the very constraints 0008 had.
Plain psycopg, no ORM: these are the statements a bug or a careless script could send.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from alembic import command
from psycopg import sql

from config.settings import Settings
from ledger.intake.inputs import validate_load_file
from ledger.persistence.migrate import migration_module, upgrade
from ledger.services.receipts import load_file
from tests.support.databases import migrate, reset_postgres, throwaway_postgres, triggers
from tests.support.paths import SAMPLE

MIGRATION = migration_module("0009")
MIGRATION_0010 = migration_module("0010")
KEYS = [
    (table, *key) for table, keys in MIGRATION.REPLACED.items() for key in keys
]  # (table, constraint, column, parent, parent key)
NULLABLE = {
    ("journal_lines", "order_id"),
    ("journal_lines", "line_id"),
    ("journals", "order_id"),
    ("journals", "receipt_id"),
    ("journals", "write_off_id"),
    ("journals", "reverses_id"),
    ("receipts", "customer_id"),
    ("receipts", "org_unit"),
    ("receipts", "replaces_id"),
    ("receipts", "lockbox_file_id"),
}
TEXT_KEYS = {"account", "product", "customer_id", "org_unit", "ar_account"}
# The append-only guards (0001) refuse any UPDATE of these before a key check could.
APPEND_ONLY = {"journals": "journals_append_only", "journal_lines": "journal_lines_append_only"}


def missing(column: str) -> Any:
    return "NO-SUCH-KEY" if column in TEXT_KEYS else 987654321


@pytest.fixture
def parents(pg_run_database: str) -> dict[str, Any]:
    """The sample organisation, and one committed row of every parent, each pointed at."""
    reset_postgres(pg_run_database)
    load_file(Settings(database_url=pg_run_database), validate_load_file(SAMPLE.read_bytes()))
    with psycopg.connect(pg_run_database) as connection:
        order, line = connection.execute(
            "SELECT order_id, id FROM order_lines ORDER BY id LIMIT 1"
        ).fetchone()
        connection.execute("INSERT INTO ledger_commits (id) VALUES (900)")
        connection.execute(
            "INSERT INTO lockbox_files (id, sha256, name, format, items) "
            "VALUES (900, 'f', 'f.txt', 'csv', 1)"
        )
        for receipt, replaces in ((900, None), (901, 900)):
            connection.execute(
                "INSERT INTO receipts (id, source, external_key, payload_hash, currency, "
                "amount_minor, received_date, automated, request, status, customer_id, org_unit, "
                "replaces_id, lockbox_file_id) VALUES (%s, 'operator', %s, 'x', 'USD', 100, "
                "'2026-11-05', false, '{}', 'queued', 'C-1', 'ASSN', %s, 900)",
                (receipt, f"fixture:{receipt}", replaces),
            )
        connection.execute(
            "INSERT INTO write_offs (id, order_id, line_id, amount_minor, kind, advanced, reason, "
            "debit_account, credit_account, posting_date) VALUES (900, %s, %s, 1, 'debit', false, "
            "'BAD_DEBT', '6100', '1100', '2026-11-05')",
            (order, line),
        )
        for journal, reverses in ((900, None), (901, 900)):
            connection.execute(
                "INSERT INTO journals (id, commit_id, type, code, currency, amount_minor, "
                "posting_date, order_id, receipt_id, write_off_id, reverses_id) VALUES "
                "(%s, 900, 'RECEIPT', 1, 'USD', 100, '2026-11-05', %s, 900, 900, %s)",
                (journal, order, reverses),
            )
            connection.execute(
                "INSERT INTO journal_lines (id, journal_id, account, debit_minor, credit_minor, "
                "order_id, line_id) VALUES (%s, %s, '1000', 100, 0, %s, %s), "
                "(%s, %s, '1100', 0, 100, NULL, NULL)",
                (journal * 10 + 1, journal, order, line, journal * 10 + 2, journal),
            )
    return {"url": pg_run_database, "order": order, "line": line}


@pytest.fixture
def connection(parents: dict[str, Any]) -> Iterator[psycopg.Connection]:
    with psycopg.connect(parents["url"]) as connection:
        yield connection
        connection.rollback()


def good_row(table: str, parents: dict[str, Any], n: int) -> dict[str, Any]:
    """A row of ``table`` whose every key names an existing parent (``n`` keeps ids and unique
    columns apart)."""
    order, line = parents["order"], parents["line"]
    if table == "journal_lines":
        return {
            "id": 5000 + n,
            "journal_id": 900,
            "account": "1000",
            "debit_minor": 1,
            "credit_minor": 0,
            "order_id": order,
            "line_id": line,
        }
    if table == "journals":
        return {
            "id": 5000 + n,
            "commit_id": 900,
            "type": "RECEIPT",
            "code": 1,
            "currency": "USD",
            "amount_minor": 1,
            "posting_date": "2026-11-05",
            "order_id": order,
            "receipt_id": 900,
            "write_off_id": 900,
            "reverses_id": 900,
        }
    if table == "order_lines":
        return {
            "id": 5000 + n,
            "order_id": order,
            "line_no": 50 + n,
            "product": "DUES",
            "amount_minor": 100,
            "ar_account": "1100",
            "shipped": True,
            "balance_minor": 100,
        }
    assert table == "receipts"
    return {
        "id": 5000 + n,
        "source": "operator",
        "external_key": f"test:{n}",
        "payload_hash": "x",
        "currency": "USD",
        "amount_minor": 100,
        "received_date": "2026-11-05",
        "automated": False,
        "request": "{}",
        "status": "queued",
        "customer_id": "C-1",
        "org_unit": "ASSN",
        "replaces_id": 900,
        "lockbox_file_id": 900,
    }


def insert(connection: psycopg.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    row = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
    connection.execute(
        sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join([row] * len(rows)),
        ),
        [value for r in rows for value in r.values()],
    )


def copy(connection: psycopg.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, rows[0]))
    )
    with connection.cursor().copy(statement) as writer:
        for r in rows:
            writer.write_row(list(r.values()))


def refusal(name: str, column: str, parent: str, value: Any) -> str:
    return (
        f'violates foreign key constraint "{name}": key \\({column}\\)=\\({value}\\) '
        f'is not present in table "{parent}"'
    )


def key_ids(keys: list[tuple[str, ...]]) -> list[str]:
    return [f"{table}.{column}" for table, _name, column, *_ in keys]


def test_the_sixteen_keys_of_the_tables_written_are_checked_by_trigger(parents):
    with psycopg.connect(parents["url"]) as connection:
        remaining = connection.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid::regclass::text = ANY(%s)",
            (list(MIGRATION.REPLACED),),
        ).fetchall()
    assert len(KEYS) == 16
    assert remaining == []


def test_rows_naming_existing_parents_are_accepted_by_insert_and_copy(connection, parents):
    for table in MIGRATION.REPLACED:
        insert(connection, table, [good_row(table, parents, n) for n in (1, 2)])
        copy(connection, table, [good_row(table, parents, n) for n in (3, 4)])
    # A row may point at another row of the same statement, as under the constraints.
    reversal = good_row("journals", parents, 6) | {"reverses_id": 5005}
    insert(connection, "journals", [good_row("journals", parents, 5), reversal])
    replacement = good_row("receipts", parents, 6) | {"replaces_id": 5005}
    copy(connection, "receipts", [replacement, good_row("receipts", parents, 5)])


@pytest.mark.parametrize(("table", "name", "column", "parent", "key"), KEYS, ids=key_ids(KEYS))
def test_an_insert_naming_a_missing_parent_is_refused(
    connection, parents, table, name, column, parent, key
):
    bad = good_row(table, parents, 1) | {column: missing(column)}
    with pytest.raises(
        psycopg.errors.ForeignKeyViolation, match=refusal(name, column, parent, missing(column))
    ) as raised:
        insert(connection, table, [bad])
    assert raised.value.diag.constraint_name == name
    assert raised.value.diag.column_name == column


@pytest.mark.parametrize(("write", "bad_at"), [(insert, 1), (copy, 2)], ids=["insert", "copy"])
@pytest.mark.parametrize(("table", "name", "column", "parent", "key"), KEYS, ids=key_ids(KEYS))
def test_one_bad_row_among_good_ones_refuses_the_multi_row_insert_and_the_copy(
    connection, parents, table, name, column, parent, key, write, bad_at
):
    rows = [good_row(table, parents, n) for n in (1, 2, 3)]
    rows[bad_at][column] = missing(column)
    with pytest.raises(
        psycopg.errors.ForeignKeyViolation, match=refusal(name, column, parent, missing(column))
    ):
        write(connection, table, rows)


@pytest.mark.parametrize(("table", "name", "column", "parent", "key"), KEYS, ids=key_ids(KEYS))
def test_an_update_of_the_column_to_a_missing_parent_is_refused(
    connection, parents, table, name, column, parent, key
):
    insert(connection, table, [good_row(table, parents, n) for n in (1, 2)])
    if table in APPEND_ONLY:
        # In this transaction only: the key check must hold without the append-only guard.
        connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER {APPEND_ONLY[table]}")
    with pytest.raises(
        psycopg.errors.ForeignKeyViolation, match=refusal(name, column, parent, missing(column))
    ):
        connection.execute(
            sql.SQL("UPDATE {} SET {} = %s WHERE id >= 5000").format(
                sql.Identifier(table), sql.Identifier(column)
            ),
            (missing(column),),
        )


@pytest.mark.parametrize(("table", "name", "column", "parent", "key"), KEYS, ids=key_ids(KEYS))
def test_null_is_accepted_exactly_where_the_column_is_nullable(
    connection, parents, table, name, column, parent, key
):
    row = good_row(table, parents, 1) | {column: None}
    if (table, column) not in NULLABLE:
        with pytest.raises(psycopg.errors.NotNullViolation):
            insert(connection, table, [row])
        return
    insert(connection, table, [row])
    copy(connection, table, [good_row(table, parents, 2) | {column: None}])
    if table in APPEND_ONLY:
        connection.execute(f"ALTER TABLE {table} DISABLE TRIGGER {APPEND_ONLY[table]}")
    connection.execute(
        sql.SQL("UPDATE {} SET {} = NULL WHERE id = 5002").format(
            sql.Identifier(table), sql.Identifier(column)
        )
    )


def test_sqlalchemy_raises_integrity_error_for_a_missing_parent_as_before(parents):
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from ledger.persistence.db import unit_of_work
    from ledger.persistence.schema import RECEIPTS

    row = good_row("receipts", parents, 1) | {
        "customer_id": "C-404",
        "received_date": date(2026, 11, 5),
    }
    with (
        unit_of_work(parents["url"]) as session,
        pytest.raises(IntegrityError, match="fk_receipts_customer_id_customers"),
    ):
        session.execute(insert(RECEIPTS), [row])


def test_an_update_to_another_existing_parent_and_one_leaving_keys_alone_are_accepted(
    connection, parents
):
    insert(connection, "receipts", [good_row("receipts", parents, 1)])
    connection.execute("UPDATE receipts SET customer_id = 'C-2', status = 'applied'")
    connection.execute("UPDATE order_lines SET balance_minor = balance_minor")


def test_every_check_probes_the_parents_key_index_whatever_the_statements_size(connection, parents):
    """0010: a check's plan, kept for the session, is an index probe per distinct value, whether
    the session's first statement wrote one row or the next one thousands; never a scan of the
    parent, whose cost would grow with the ledger. auto_explain shows the plans of the nested
    statements as notices."""
    plans: list[str] = []
    connection.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
    connection.execute("LOAD 'auto_explain'")
    connection.execute("SET auto_explain.log_min_duration = 0")
    connection.execute("SET auto_explain.log_nested_statements = on")
    connection.execute("SET auto_explain.log_level = notice")
    for table in MIGRATION.REPLACED:
        insert(connection, table, [good_row(table, parents, 1)])
        copy(connection, table, [good_row(table, parents, n) for n in range(2, 2002)])
    checks = [plan for plan in plans if "new_rows" in plan and "NOT EXISTS" in plan]
    assert len(checks) == 2 * len(KEYS)
    for plan in checks:
        assert "Nested Loop Anti Join" in plan, plan
        assert "Seq Scan" not in plan and "Hash" not in plan.replace("HashAggregate", ""), plan


def test_a_bulk_statement_is_checked_by_a_plan_of_its_own_and_still_refuses_a_missing_parent(
    connection, parents
):
    """From 0010's ``PLANNED_FROM`` rows a statement takes 0009's planned checks: a good bulk COPY
    passes, one missing parent among as many rows is refused, the session's settings are left as
    they were, and a one-row statement after it is refused as before."""
    bulk = MIGRATION_0010.PLANNED_FROM
    rows = [good_row("journal_lines", parents, n) | {"id": 100_000 + n} for n in range(bulk)]
    copy(connection, "journal_lines", rows)
    assert connection.execute("SHOW enable_hashjoin").fetchone() == ("on",)
    with pytest.raises(psycopg.errors.ForeignKeyViolation) as refused, connection.transaction():
        rows[bulk // 2] = rows[bulk // 2] | {"line_id": missing("line_id")}
        copy(connection, "journal_lines", [row | {"id": row["id"] + bulk} for row in rows])
    assert "fk_journal_lines_line_id_order_lines" in str(refused.value)
    with pytest.raises(psycopg.errors.ForeignKeyViolation), connection.transaction():
        insert(
            connection,
            "journal_lines",
            [good_row("journal_lines", parents, 1) | {"journal_id": missing("journal_id")}],
        )


# The referenced row of each parent, as the ``parents`` fixture made them.
def referenced_row(parent: str, parents: dict[str, Any]) -> Any:
    return {
        "gl_accounts": "1000",
        "journals": 900,
        "order_lines": parents["line"],
        "orders": parents["order"],
        "ledger_commits": 900,
        "receipts": 900,
        "write_offs": 900,
        "products": "DUES",
        "customers": "C-1",
        "lockbox_files": 900,
        "org_units": "ASSN",
    }[parent]


PARENTS = sorted(MIGRATION.PARENTS)


def without_older_guards(connection: psycopg.Connection, parent: str) -> None:
    """Disable, in this transaction only, every user trigger of ``parent`` but 0009's, so that
    0009's refusal is shown to hold on its own."""
    names = connection.execute(
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = %s::regclass "
        "AND tgname NOT LIKE %s",
        (parent, f"{parent}_referenced_%"),
    ).fetchall()
    for (name,) in names:
        connection.execute(
            sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(
                sql.Identifier(parent), sql.Identifier(name)
            )
        )


@pytest.mark.parametrize("parent", PARENTS)
def test_deleting_a_referenced_parent_is_refused(connection, parents, parent):
    key, _children = MIGRATION.PARENTS[parent]
    value = referenced_row(parent, parents)
    without_older_guards(connection, parent)
    with pytest.raises(
        psycopg.errors.ForeignKeyViolation,
        match=f"DELETE of {parent} row \\({key}\\)=\\({value}\\) refused",
    ):
        connection.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                sql.Identifier(parent), sql.Identifier(key)
            ),
            (value,),
        )


@pytest.mark.parametrize("parent", PARENTS)
def test_re_keying_a_referenced_parent_is_refused(connection, parents, parent):
    key, _children = MIGRATION.PARENTS[parent]
    value = referenced_row(parent, parents)
    without_older_guards(connection, parent)
    new = "RE-KEYED" if isinstance(value, str) else 987654321
    with pytest.raises(
        psycopg.errors.ForeignKeyViolation,
        match=f"UPDATE of {parent} row \\({key}\\)=\\({value}\\) refused",
    ):
        connection.execute(
            sql.SQL("UPDATE {} SET {} = %s WHERE {} = %s").format(
                sql.Identifier(parent), sql.Identifier(key), sql.Identifier(key)
            ),
            (new, value),
        )


@pytest.mark.parametrize("parent", PARENTS)
def test_truncating_a_referenced_parent_is_refused(connection, parents, parent):
    # CASCADE reaches the tables that still have real foreign keys to it, not the children
    # whose keys are triggers: those still point at it, and the truncate is refused.
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="TRUNCATE of .* refused"):
        connection.execute(sql.SQL("TRUNCATE {} CASCADE").format(sql.Identifier(parent)))


def test_a_parent_keeps_its_other_columns_changeable(connection):
    connection.execute("UPDATE gl_accounts SET name = 'Cash' WHERE code = '1000'")
    connection.execute("UPDATE customers SET name = 'Ada' WHERE id = 'C-1'")
    connection.execute("UPDATE receipts SET status = 'applied' WHERE id = 900")
    connection.execute("UPDATE gl_accounts SET code = code")  # the key set, but not changed


def test_truncating_the_parents_with_their_children_is_accepted(connection):
    tables = sorted({*MIGRATION.PARENTS, *MIGRATION.REPLACED})
    connection.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


def test_downgrade_restores_the_foreign_keys_of_0008_and_upgrade_the_triggers():
    with throwaway_postgres("arledger_test_fk_downgrade") as url:
        upgrade(url, "0008")
        before = foreign_keys(url)
        assert len(before) >= 16
        migrate(url, command.upgrade, "head")
        assert "enable_hashjoin=off" in check_settings(url)
        migrate(url, command.downgrade, "0009")
        assert check_settings(url) == ""  # 0009's own checks, planned per statement, are back
        migrate(url, command.upgrade, "head")
        replaced = {name for keys in MIGRATION.REPLACED.values() for name, *_ in keys}
        assert set(before) - set(foreign_keys(url)) == replaced
        assert len(replaced) == 16
        assert {"journals_fk_insert", "gl_accounts_referenced_no_delete"} <= triggers(url)
        migrate(url, command.downgrade, "0008")
        assert foreign_keys(url) == before
        assert not any("_fk_" in t or "_referenced_" in t for t in triggers(url))
        assert not functions(url) & {
            "arledger_fk_check_row",
            "arledger_refuse_unkeying",
            "arledger_refuse_truncate_referenced",
            "arledger_fk_check_journals",
        }
        migrate(url, command.upgrade, "head")
        assert set(before) - set(foreign_keys(url)) == replaced


def foreign_keys(url: str) -> dict[str, tuple[str, str, str]]:
    """Every foreign key: its table, definition and deferrability, by name."""
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid), "
            "condeferrable::text || condeferred::text FROM pg_constraint WHERE contype = 'f'"
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def functions(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
        ).fetchall()
    return {row[0] for row in rows}


def check_settings(url: str) -> str:
    """The settings ``journal_lines``' key check runs under (0010's fixed plan; none before)."""
    with psycopg.connect(url) as connection:
        (config,) = connection.execute(
            "SELECT coalesce(array_to_string(proconfig, ','), '') FROM pg_proc "
            "WHERE proname = 'arledger_fk_check_journal_lines'"
        ).fetchone()
    return str(config)
