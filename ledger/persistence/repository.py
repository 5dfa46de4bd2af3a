"""Persistence of the order aggregate and of posted journals, set-based.

Reads: :func:`load_orders` turns locked order rows, their lines and their write-offs into
:class:`ledger.domain.order.Order` aggregates with one query per kind of row, however many orders
a batch touches, and records the row ids behind their keys (:mod:`ledger.persistence.row_ids`).
Orders are locked in ascending id, the one fixed order every writer uses, so two batches never
deadlock on each other.

Writes: :func:`write_journals` stores whatever a rule produced — write-offs, journals, journal
lines, the lines' new balances — with ids allocated up front and rows inserted in bulk, then
stamps the commit (:func:`seal_commit`): the last step of every posting transaction takes the
outbox clock's row lock, numbers the commit and extends the audit chain. Commit numbers therefore
follow commit order, which is the order the publisher delivers journals in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from functools import cache
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session, aliased

from ledger.domain.calendar import Calendar, Period
from ledger.domain.journal import Journal, Side, TxnType, WriteOffKey
from ledger.domain.money import Money
from ledger.domain.order import (
    Line,
    Order,
    Reason,
    WriteOff,
    WriteOffKind,
    line_priority,
    reversed_minor,
)
from ledger.persistence.audit import chain, commit_digest
from ledger.persistence.db import among_param, is_postgres
from ledger.persistence.receipt_rules import order_paid
from ledger.persistence.row_ids import RowIds, row_ids
from ledger.persistence.schema import (
    CLOCK,
    COMMITS,
    CUSTOMERS,
    JOURNAL_LINES,
    JOURNALS,
    LINES,
    ORDERS,
    ORG_UNITS,
    PERIODS,
    PRODUCTS,
    SUBSYSTEMS,
    WRITE_OFFS,
)

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


# --- reads -------------------------------------------------------------------------------------


def order_ids_by_number(session: Session, numbers: Collection[str]) -> dict[str, int]:
    if not numbers:
        return {}
    statement = _order_statements(is_postgres(session)).ids_by_number
    rows = session.execute(statement, {"numbers": sorted(numbers)})
    return {number: order_id for number, order_id in rows}


def load_orders(session: Session, order_ids: Collection[int], *, lock: bool) -> dict[int, Order]:
    """The aggregates of these orders, locked against concurrent distribution when ``lock``.

    The lock is taken on the order rows, in ascending id, before lines and write-offs are read,
    so what is read is what the holder of the lock last committed.
    """
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    statements = _order_statements(is_postgres(session))
    heads = session.execute(
        statements.locked_heads if lock else statements.heads, {"ids": ids}
    ).all()
    return dict(
        zip([row.id for row in heads], _aggregates(session, heads, statements), strict=True)
    )


def load_orders_by_number(
    session: Session, numbers: Collection[str], *, lock: bool
) -> dict[str, Order]:
    """``load_orders`` for the orders with these numbers, keyed by number; a number no order
    has is left out. One read fewer than looking the ids up first: the heads are read, and
    locked in ascending id, by number."""
    if not numbers:
        return {}
    statements = _order_statements(is_postgres(session))
    heads = session.execute(
        statements.locked_heads_by_number if lock else statements.heads_by_number,
        {"numbers": sorted(set(numbers))},
    )
    return {order.number: order for order in _aggregates(session, heads.all(), statements)}


def _aggregates(
    session: Session, heads: Sequence[Any], statements: _OrderStatements
) -> list[Order]:
    """The orders of these head rows, with their lines and write-offs, in the heads' order."""
    ids = [row.id for row in heads]
    if not ids:
        return []
    lines, write_offs = statements.lines, statements.write_offs
    lines_by_order: dict[int, list[Line]] = defaultdict(list)
    line_rows = session.execute(lines, {"ids": ids})
    lines_by_id: dict[int, Line] = {}
    currency_of = {row.id: row.currency for row in heads}
    number_of = {row.id: row.number for row in heads}
    line_ids: dict[int, dict[int, int]] = {row.id: {} for row in heads}
    loaded = _loaded_balances(session)
    for row in line_rows:
        currency = currency_of[row.order_id]
        line = Line(
            line_no=row.line_no,
            product=row.product,
            priority=line_priority(row.subsystem_priority, row.priority),
            amount=Money.from_minor(row.amount_minor, currency),
            balance=Money.from_minor(row.balance_minor, currency),
            ar_account=row.ar_account,
            revenue_account=row.revenue_account,
            writeoff_account=row.writeoff_account,
            inventoried=row.inventoried,
            shipped=row.shipped,
        )
        lines_by_order[row.order_id].append(line)
        lines_by_id[row.id] = line
        line_ids[row.order_id][row.line_no] = row.id
        loaded[row.id] = line.balance
    known = row_ids(session)
    for order_id, number in number_of.items():
        known.add_order(number, order_id, line_ids[order_id])

    # Rows come in id order, which is the order each line's write-offs were made in: a
    # write-off's place on its line is its key's ``n``.
    for row in session.execute(write_offs, {"ids": ids}):
        currency = currency_of[row.order_id]
        owner = lines_by_id[row.line_id]
        key = WriteOffKey(number_of[row.order_id], owner.line_no, len(owner.write_offs) + 1)
        known.add_write_off(key, row.id)
        owner.write_offs.append(
            WriteOff(
                key=key,
                amount=Money.from_minor(row.amount_minor, currency),
                reversed=Money.from_minor(reversed_of(row), currency),
                kind=WriteOffKind(row.kind),
                advanced=row.advanced,
                reason=Reason(row.reason),
                debit_account=row.debit_account,
                credit_account=row.credit_account,
                posting_date=row.posting_date,
                comment=row.comment,
            )
        )

    paid = order_paid(session, [row.id for row in heads if row.bills_to_parent])
    return [
        Order(
            number=row.number,
            customer_id=row.customer_id,
            currency=row.currency,
            org_unit=row.org_unit,
            credit_writeoff_account=row.credit_writeoff_account,
            lines=lines_by_order[row.id],
            bills_to_parent=row.bills_to_parent,
            paid=Money.from_minor(paid.get(row.id, 0), row.currency),
        )
        for row in heads
    ]


@cache
def write_offs_with_reversed() -> Any:
    """Write-offs with the totals of the journals that move their reversed amount, by type:
    ``reversal_minor`` (WRITE_OFF_REVERSAL) and ``undone_minor`` (RECEIPT_REVERSAL); the domain
    (:func:`ledger.domain.order.reversed_minor`) derives the reversed amount from them.

    The sums are correlated subqueries, so each write-off's reversals are found through the
    journals' write-off index — the cost follows the write-offs asked for, not the ledger's size.
    Built once per process: a statement is immutable (``where`` returns a new one), and building
    the alias and subquery afresh, then fingerprinting them for SQLAlchemy's compiled cache, was
    a tenth of the worker's time on the gateway path.
    """

    def total_of(kind: TxnType, label: str) -> Any:
        tied = aliased(JOURNALS)
        return (
            select(func.coalesce(func.sum(tied.c.amount_minor), 0))
            .where(tied.c.write_off_id == WRITE_OFFS.c.id, tied.c.type == kind.value)
            .scalar_subquery()
            .label(label)
        )

    return select(
        WRITE_OFFS.c.id,
        WRITE_OFFS.c.order_id,
        WRITE_OFFS.c.line_id,
        WRITE_OFFS.c.amount_minor,
        WRITE_OFFS.c.kind,
        WRITE_OFFS.c.advanced,
        WRITE_OFFS.c.reason,
        WRITE_OFFS.c.comment,
        WRITE_OFFS.c.debit_account,
        WRITE_OFFS.c.credit_account,
        WRITE_OFFS.c.posting_date,
        total_of(TxnType.WRITE_OFF_REVERSAL, "reversal_minor"),
        total_of(TxnType.RECEIPT_REVERSAL, "undone_minor"),
    )


def reversed_of(row: Any) -> int:
    """The reversed amount of a write-off row of ``write_offs_with_reversed``, in minor units."""
    return reversed_minor(
        {
            TxnType.WRITE_OFF_REVERSAL.value: int(row.reversal_minor),
            TxnType.RECEIPT_REVERSAL.value: int(row.undone_minor),
        }
    )


class _OrderStatements(NamedTuple):
    heads: Any
    locked_heads: Any
    heads_by_number: Any
    locked_heads_by_number: Any
    lines: Any
    write_offs: Any
    ids_by_number: Any


@cache
def _order_statements(postgres: bool) -> _OrderStatements:
    """What the order reads run: the heads of the orders in the parameter ``ids`` or with the
    ``numbers``, plain or locked (in ascending id); the lines and the write-offs of the orders in
    ``ids``; the ids of the orders with the ``numbers``. Built once per process: on the
    webhook's path, where a batch holds a few receipts, building and fingerprinting these
    statements cost more than running them."""
    head = (
        select(
            ORDERS.c.id,
            ORDERS.c.number,
            ORDERS.c.customer_id,
            ORDERS.c.currency,
            ORDERS.c.org_unit,
            ORG_UNITS.c.credit_writeoff_account,
            CUSTOMERS.c.bills_to_parent,
        )
        .join(ORG_UNITS, ORG_UNITS.c.code == ORDERS.c.org_unit)
        .join(CUSTOMERS, CUSTOMERS.c.id == ORDERS.c.customer_id)
        .order_by(ORDERS.c.id)
    )
    by_id = head.where(among_param(ORDERS.c.id, "ids", postgres=postgres))
    by_number = head.where(among_param(ORDERS.c.number, "numbers", postgres=postgres))
    lines = (
        select(
            LINES.c.id,
            LINES.c.order_id,
            LINES.c.line_no,
            LINES.c.product,
            LINES.c.amount_minor,
            LINES.c.balance_minor,
            LINES.c.ar_account,
            LINES.c.shipped,
            PRODUCTS.c.priority,
            SUBSYSTEMS.c.priority.label("subsystem_priority"),
            PRODUCTS.c.revenue_account,
            PRODUCTS.c.writeoff_account,
            PRODUCTS.c.inventoried,
        )
        .join(PRODUCTS, PRODUCTS.c.code == LINES.c.product)
        .join(SUBSYSTEMS, SUBSYSTEMS.c.code == PRODUCTS.c.subsystem)
        .where(among_param(LINES.c.order_id, "ids", postgres=postgres))
    )
    write_offs = (
        write_offs_with_reversed()
        .where(among_param(WRITE_OFFS.c.order_id, "ids", postgres=postgres))
        .order_by(WRITE_OFFS.c.id)
    )
    return _OrderStatements(
        heads=by_id,
        locked_heads=by_id.with_for_update(of=ORDERS),
        heads_by_number=by_number,
        locked_heads_by_number=by_number.with_for_update(of=ORDERS),
        lines=lines,
        write_offs=write_offs,
        ids_by_number=select(ORDERS.c.number, ORDERS.c.id).where(
            among_param(ORDERS.c.number, "numbers", postgres=postgres)
        ),
    )


def load_calendar(session: Session) -> Calendar:
    periods = session.execute(_PERIODS).all()
    return Calendar([Period(p.name, p.start_date, p.end_date, p.is_open) for p in periods])


# Read on every posting: a plain select of the columns, built once, not an ORM query of entities.
_PERIODS = select(PERIODS.c.name, PERIODS.c.start_date, PERIODS.c.end_date, PERIODS.c.is_open)


# --- writes ------------------------------------------------------------------------------------


def write_journals(
    session: Session, journals: Sequence[Journal], orders: Iterable[Order] = ()
) -> int | None:
    """Store journals (and the write-offs they create) and the new balances of ``orders``' lines,
    then seal the commit. Returns the commit sequence number, or None when there was nothing.

    Every id is allocated before the first insert, so each table is written with one bulk
    statement whatever the number of rows. Journals name orders, lines and write-offs by key;
    the ids behind them are this session's (:mod:`ledger.persistence.row_ids`): the orders it
    loaded, and the write-offs and journals it wrote, whose new ids are recorded there. A
    WRITE_OFF journal creates its write-off, whose figures are read from its order in ``orders``.
    """
    if not journals:
        _write_balances(session, orders)
        return None
    known = row_ids(session)
    # A WRITE_OFF journal is the one that creates its write-off; the write-off's figures are on
    # the order aggregate it was made on.
    new_write_offs = [journal for journal in journals if journal.type is TxnType.WRITE_OFF]
    commit_id, (write_off_ids, journal_ids, line_id_block) = open_commit(
        session,
        [
            (WRITE_OFFS, len(new_write_offs)),
            (JOURNALS, len(journals)),
            (JOURNAL_LINES, sum(len(journal.entries) for journal in journals)),
        ],
    )
    write_off_rows: list[dict[str, Any]] = []
    if new_write_offs:
        orders = list(orders)
        by_number = {order.number: order for order in orders}
        for journal, write_off_id in zip(new_write_offs, write_off_ids, strict=True):
            key = journal.write_off
            assert key is not None and key not in known.write_offs, "a write-off is new once"
            _, write_off = by_number[key.order].write_off_at(key)
            known.add_write_off(key, write_off_id)
            write_off_rows.append(_write_off_row(write_off, write_off_id, known))
    bulk_insert(session, WRITE_OFFS, write_off_rows)

    journal_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    line_ids = iter(line_id_block)
    order_ids, stored = known.orders, known.journals
    # Consecutive entries nearly always name the same order: its ids are looked up once per run.
    last_order: str | None = None
    order_id: int | None = None
    lines_of: dict[int, int] = {}
    for journal, journal_id in zip(journals, journal_ids, strict=True):
        stored[journal] = journal_id
        journal_rows.append(_journal_row(journal, journal_id, commit_id, known))
        for entry in journal.entries:
            if entry.order is None:
                entry_order_id = line_id = None
            else:
                if entry.order is not last_order:
                    last_order = entry.order
                    order_id = order_ids[last_order]
                    lines_of = known.lines[last_order]
                entry_order_id = order_id
                line_id = lines_of[entry.line_no] if entry.line_no is not None else None
            minor = entry.amount.minor
            line_rows.append(
                {
                    "id": next(line_ids),
                    "journal_id": journal_id,
                    "account": entry.account,
                    "debit_minor": minor if entry.side is Side.DEBIT else 0,
                    "credit_minor": minor if entry.side is Side.CREDIT else 0,
                    "order_id": entry_order_id,
                    "line_id": line_id,
                }
            )
    bulk_insert(session, JOURNALS, journal_rows)
    bulk_insert(session, JOURNAL_LINES, line_rows)
    _write_balances(session, orders)
    return seal_commit(session, commit_id, commit_digest(journal_rows, line_rows, write_off_rows))


def _write_off_row(write_off: WriteOff, write_off_id: int, known: RowIds) -> dict[str, Any]:
    key = write_off.key
    return {
        "id": write_off_id,
        "order_id": known.orders[key.order],
        "line_id": known.lines[key.order][key.line_no],
        "amount_minor": write_off.amount.minor,
        "kind": write_off.kind.value,
        "advanced": write_off.advanced,
        "reason": write_off.reason.value,
        "comment": write_off.comment,
        "debit_account": write_off.debit_account,
        "credit_account": write_off.credit_account,
        "posting_date": write_off.posting_date,
    }


def _journal_row(
    journal: Journal, journal_id: int, commit_id: int, known: RowIds
) -> dict[str, Any]:
    return {
        "id": journal_id,
        "commit_id": commit_id,
        "type": journal.type.value,
        "code": journal.type.code,
        "currency": journal.currency,
        "amount_minor": journal.amount.minor,
        "posting_date": journal.posting_date,
        "original_date": journal.original_date,
        "order_id": known.orders[journal.order] if journal.order is not None else None,
        "receipt_id": journal.receipt_id,
        "write_off_id": known.write_offs[journal.write_off]
        if journal.write_off is not None
        else None,
        "reverses_id": journal.reverses,
        "memo": journal.memo,
    }


def _loaded_balances(session: Session) -> dict[int, Money]:
    """The balance of every line as this session loaded (or last wrote) it: the snapshot
    ``_write_balances`` compares with, so the model keeps no change tracking of its own."""
    loaded: dict[int, Money] = session.info.setdefault("loaded_balances", {})
    return loaded


def _write_balances(session: Session, orders: Iterable[Order]) -> None:
    """Write the balance of every line that changed since it was loaded.

    Money is immutable and a posting replaces a line's balance, so an identity test finds the
    changed lines at no cost; a line whose balance came back to the same value is written again,
    harmlessly. A line this session did not load is written.
    """
    loaded = _loaded_balances(session)
    line_ids = row_ids(session).lines
    changes = []
    for order in orders:
        ids = line_ids[order.number]
        for line in order.lines:
            line_id = ids[line.line_no]
            if loaded.get(line_id) is not line.balance:
                changes.append({"id": line_id, "balance_minor": line.balance.minor})
                loaded[line_id] = line.balance
    bulk_update(session, LINES, changes)


def seal_commit(session: Session, commit_id: int, digest: str) -> int:
    """Number the commit and extend the audit chain: the last statement before COMMIT.

    The clock row stays locked until the transaction ends, so no other transaction can take the
    next number before this one is committed: numbers are handed out in commit order.
    """
    read_clock, stamp_clock, stamp_commit, stamp_both = _seal_statements()
    clock = session.execute(read_clock).one()
    seq = clock.last_seq + 1
    values = {"seq": seq, "chain_hash": chain(clock.chain_hash, digest), "commit_id": commit_id}
    if is_postgres(session):
        session.execute(stamp_both, values)
    else:
        session.execute(stamp_clock, values)
        session.execute(stamp_commit, values)
    return int(seq)


@cache
def _seal_statements() -> tuple[Any, Any, Any, Any]:
    """``seal_commit``'s statements, built once per process (it runs once per posting). On
    PostgreSQL the clock and the commit are stamped in one statement."""
    read_clock = (
        select(CLOCK.c.last_seq, CLOCK.c.chain_hash).where(CLOCK.c.id == 1).with_for_update()
    )
    stamp_clock = (
        update(CLOCK)
        .where(CLOCK.c.id == 1)
        .values(last_seq=bindparam("seq"), chain_hash=bindparam("chain_hash"))
    )
    stamp_commit = (
        update(COMMITS)
        .where(COMMITS.c.id == bindparam("commit_id"))
        .values(seq=bindparam("seq"), chain_hash=bindparam("chain_hash"))
    )
    stamp_both = text(
        f"WITH clock AS (UPDATE {CLOCK.name} SET last_seq = :seq, chain_hash = :chain_hash "
        f"WHERE id = 1) UPDATE {COMMITS.name} SET seq = :seq, chain_hash = :chain_hash "
        "WHERE id = :commit_id"
    )
    return read_clock, stamp_clock, stamp_commit, stamp_both
