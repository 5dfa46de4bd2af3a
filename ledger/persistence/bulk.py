"""Row ids and bulk writes: the folds every posting and every import rides on.

Ids are reserved before the first insert (:func:`allocate_id_blocks`, :func:`open_commit`), so
rows can point at each other and each table is written with one bulk statement
(:func:`bulk_insert`: COPY on PostgreSQL; :func:`bulk_update`: ``UPDATE … FROM unnest``). Only
repositories call these; the history of each fold is in docs/performance.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from ledger.persistence.db import is_postgres
from ledger.persistence.schema import COMMITS

# --- ids ---------------------------------------------------------------------------------------

_sequence_names: dict[str, str] = {}


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """Reserve ``count`` primary keys of ``table`` before inserting, so rows can point at each
    other (journal lines at journals) and be written in bulk without a round trip per row."""
    return allocate_id_blocks(session, [(table, count)])[0]


def allocate_id_blocks(session: Session, wanted: Sequence[tuple[Table, int]]) -> list[list[int]]:
    """Primary keys for several tables at once, ascending within each table: one round trip on
    PostgreSQL however many tables a posting writes (a gateway batch writes four).

    PostgreSQL: values of each table's identity sequence. SQLite: max(id)+1 onwards, safe because
    every SQLite transaction holds the database's write lock (BEGIN IMMEDIATE).
    """
    asked = _asked(wanted)
    if not asked:
        return [[] for _ in wanted]
    if not is_postgres(session):
        blocks: list[list[int]] = [[] for _ in wanted]
        high_water: dict[str, int] = session.info.setdefault("id_high_water", {})
        for index, table, count in asked:
            current = session.execute(select(func.max(table.c.id))).scalar() or 0
            start = max(current, high_water.get(table.name, 0)) + 1
            high_water[table.name] = start + count - 1
            blocks[index] = list(range(start, start + count))
        return blocks
    selects, params = _id_series(session, asked)
    return _collect_blocks(session.execute(text(" UNION ALL ".join(selects)), params), len(wanted))


def open_commit(
    session: Session, wanted: Sequence[tuple[Table, int]]
) -> tuple[int, list[list[int]]]:
    """Insert this posting's ledger commit (its journals point at it) and reserve the ids of the
    rows it will write, like ``allocate_id_blocks``. On PostgreSQL both are one statement: the
    commit is inserted by a data-modifying CTE of the id read, a round trip fewer per posting.
    """
    if not is_postgres(session):
        (commit_id,), *blocks = allocate_id_blocks(session, [(COMMITS, 1), *wanted])
        session.execute(insert(COMMITS), [{"id": commit_id}])
        return commit_id, blocks
    selects, params = _id_series(session, _asked(wanted))
    # The commit's id comes back as one more block, after the ones asked for.
    sql = (
        f"WITH new_commit AS (INSERT INTO {COMMITS.name} DEFAULT VALUES RETURNING id) "
        + " UNION ALL ".join([f"SELECT {len(wanted)} AS block, id FROM new_commit", *selects])
    )
    *blocks, (commit_id,) = _collect_blocks(session.execute(text(sql), params), len(wanted) + 1)
    return commit_id, blocks


def _asked(wanted: Sequence[tuple[Table, int]]) -> list[tuple[int, Table, int]]:
    """The (position, table, count) of every table that wants at least one id."""
    return [(index, table, count) for index, (table, count) in enumerate(wanted) if count > 0]


def _id_series(
    session: Session, asked: Sequence[tuple[int, Table, int]]
) -> tuple[list[str], dict[str, Any]]:
    """A ``SELECT`` of a ``nextval`` series per table asked, each row ``(block, id)``, to be
    joined by ``UNION ALL``, and their parameters."""
    params: dict[str, Any] = {}
    selects = []
    for index, table, count in asked:
        params[f"s{index}"] = _sequence_name(session, table)
        params[f"n{index}"] = count
        selects.append(
            f"SELECT {index} AS block, nextval(CAST(:s{index} AS regclass)) AS id "
            f"FROM generate_series(1, :n{index})"
        )
    return selects, params


def _collect_blocks(rows: Iterable[Any], size: int) -> list[list[int]]:
    blocks: list[list[int]] = [[] for _ in range(size)]
    for index, value in rows:
        blocks[index].append(int(value))
    for block in blocks:
        block.sort()
    return blocks


def _sequence_name(session: Session, table: Table) -> str:
    sequence = _sequence_names.get(table.name)
    if sequence is None:
        sequence = str(
            session.execute(
                text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}
            ).scalar_one()
        )
        _sequence_names[table.name] = sequence
    return sequence


# --- bulk writes -------------------------------------------------------------------------------


def bulk_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows in one go: COPY on PostgreSQL (psycopg 3, in the session's transaction),
    executemany on SQLite. Every row has the same keys."""
    if not rows:
        return
    if not is_postgres(session):
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    values = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    cursor = _driver_connection(session).cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(values(row))


def bulk_update(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], *, key: str = "id"
) -> None:
    """Update rows by key in one statement: ``UPDATE … FROM unnest(arrays)`` on PostgreSQL,
    executemany on SQLite. Every row has the same keys; ``key`` names the row to update."""
    if not rows:
        return
    columns = tuple(column for column in rows[0] if column != key)
    statement = _update_statement(table, key, columns, is_postgres(session))
    if not is_postgres(session):
        session.execute(
            statement, [{f"_{name}": value for name, value in row.items()} for row in rows]
        )
        return
    names = (key, *columns)
    session.execute(statement, {name: [row[name] for row in rows] for name in names})


@cache
def _update_statement(table: Table, key: str, columns: tuple[str, ...], postgres: bool) -> Any:
    """``bulk_update``'s statement for these columns, built once per process: it runs twice in
    every posting (line balances, receipt statuses)."""
    if not postgres:
        return (
            update(table)
            .where(table.c[key] == bindparam(f"_{key}"))
            .values({column: bindparam(f"_{column}") for column in columns})
        )
    from sqlalchemy.dialects import postgresql  # noqa: PLC0415 - a SQLite run never loads it

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    names = [key, *columns]
    arrays = ", ".join(
        f"CAST(:{name} AS {table.c[name].type.compile(dialect=dialect)}[])" for name in names
    )
    assignments = ", ".join(f"{column} = v.{column}" for column in columns)
    return text(
        f"UPDATE {table.name} SET {assignments} FROM unnest({arrays}) AS v({', '.join(names)}) "
        f"WHERE {table.name}.{key} = v.{key}"
    )


def _driver_connection(session: Session) -> Any:
    return session.connection().connection.driver_connection
