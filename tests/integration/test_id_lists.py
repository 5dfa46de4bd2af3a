"""`ledger.db.among`, the id-list condition of the hot queries, on SQLite and PostgreSQL.

It must select exactly the rows it names, for any number of ids (none included), and on
PostgreSQL keep one SQL text whatever the number: that is what lets psycopg prepare the
statement once instead of parsing a new text for every batch size. Beside it, `plain_rows`, the
named tuples those queries' rows are read as.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from config.settings import Settings
from ledger.persistence.db import among, is_postgres, plain_rows, unit_of_work
from ledger.persistence.schema import ORDERS


@pytest.mark.parametrize("count", [0, 1, 2, None])  # None: every order
def test_among_selects_exactly_the_rows_it_names(loaded: Settings, count: int | None) -> None:
    with unit_of_work(loaded.database_url) as session:
        every = [
            int(i) for i in session.execute(select(ORDERS.c.id).order_by(ORDERS.c.id)).scalars()
        ]
        assert len(every) > 2
        wanted = [*every[:count], 10**9]  # and one id that does not exist
        found = session.execute(
            select(ORDERS.c.id).where(among(session, ORDERS.c.id, wanted)).order_by(ORDERS.c.id)
        ).scalars()
        assert [int(i) for i in found] == every[:count]


def test_among_keeps_one_sql_text_on_postgresql(loaded: Settings) -> None:
    with unit_of_work(loaded.database_url) as session:
        dialect = session.get_bind().dialect

        def sql(ids: list[int]) -> str:
            statement = select(ORDERS.c.number).where(among(session, ORDERS.c.id, ids))
            # As it runs: an expanding IN list is rendered with one placeholder per value.
            compiled = statement.compile(
                dialect=dialect, compile_kwargs={"render_postcompile": True}
            )
            return str(compiled)

        if is_postgres(session):
            assert sql([1]) == sql([1, 2, 3]) == sql(list(range(500)))
        else:  # SQLite has no arrays: an IN list, one text per length
            assert sql([1]) != sql([1, 2, 3])


def test_plain_rows_are_the_rows_with_their_column_names(loaded: Settings) -> None:
    # The hot loops read columns by name from these: the same values, in the same order.
    statement = select(ORDERS.c.id, ORDERS.c.number, ORDERS.c.currency).order_by(ORDERS.c.id)
    with unit_of_work(loaded.database_url) as session:
        rows = session.execute(statement).all()
        plain = plain_rows(session.execute(statement))
    assert rows and [tuple(row) for row in plain] == [tuple(row) for row in rows]
    assert [row.number for row in plain] == [row.number for row in rows]
    assert plain[0]._fields == ("id", "number", "currency")
