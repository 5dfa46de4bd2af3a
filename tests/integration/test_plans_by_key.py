"""Distribution's sessions on PostgreSQL are planned by key (``get_engine(url, by_key=True)``).

With PostgreSQL's default costs, writing the balances of a batch's thousand order lines was a
hash join over every order line of the ledger, so a batch cost more the larger the ledger grew.
On the by-key engine the same statement is a nested loop over the primary key; on the default
engine it is not, which is what makes the first assertion worth having.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from config.settings import Settings
from ledger.intake.inputs import validate_load_file
from ledger.persistence.bulk import _update_statement
from ledger.persistence.db import get_engine, unit_of_work
from ledger.persistence.schema import LINES
from ledger.services.receipts import load_file
from tests.support.databases import reset_postgres
from tests.support.paths import SAMPLE

BATCH_LINES = 1200  # about what a lockbox batch of 500 checks writes
LEDGER_LINES = 60_000


def _grow_ledger(url: str) -> list[int]:
    """Enough order lines (one order each) that a scan of them looks cheap to the planner, and
    fresh statistics; the ids of a batch's worth of them."""
    with unit_of_work(url) as session:
        session.execute(
            text(
                "INSERT INTO orders (id, number, customer_id, org_unit, currency, order_date, "
                "number_key) SELECT 100000 + g, 'PLAN-' || g, c.id, o.code, 'USD', '2026-11-01', "
                "'plan' || g FROM generate_series(1, :n) g, "
                "(SELECT id FROM customers ORDER BY id LIMIT 1) c, "
                "(SELECT code FROM org_units ORDER BY code LIMIT 1) o"
            ),
            {"n": LEDGER_LINES},
        )
        session.execute(
            text(
                "INSERT INTO order_lines (id, order_id, line_no, product, amount_minor, "
                "ar_account, shipped, balance_minor) SELECT 100000 + g, 100000 + g, 1, l.product, "
                "100, l.ar_account, true, 100 FROM generate_series(1, :n) g, "
                "(SELECT product, ar_account FROM order_lines ORDER BY id LIMIT 1) l"
            ),
            {"n": LEDGER_LINES},
        )
        session.commit()
    with get_engine(url).connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("ANALYZE orders, order_lines")
        )
    return [100000 + 50 * n for n in range(1, BATCH_LINES + 1)]


def _balance_update_plan(session: Session, ids: list[int]) -> str:
    statement = _update_statement(LINES, "id", ("balance_minor",), True)
    rows = session.execute(
        text("EXPLAIN " + statement.text), {"id": ids, "balance_minor": [0] * len(ids)}
    )
    return "\n".join(row[0] for row in rows)


def test_a_batch_of_balances_is_written_by_key_however_large_the_ledger(
    pg_run_database: str,
) -> None:
    reset_postgres(pg_run_database)
    load_file(Settings(database_url=pg_run_database), validate_load_file(SAMPLE.read_bytes()))
    ids = _grow_ledger(pg_run_database)
    with unit_of_work(pg_run_database) as session:
        default = _balance_update_plan(session, ids)
    by_key = Session(get_engine(pg_run_database, by_key=True))
    try:
        plan = _balance_update_plan(by_key, ids)
    finally:
        by_key.close()
    assert "Seq Scan on order_lines" in default or "Merge Join" in default, default
    assert "Nested Loop" in plan and "Index Scan using pk_order_lines" in plan, plan
    assert "Seq Scan" not in plan and "Hash" not in plan and "Merge" not in plan, plan
