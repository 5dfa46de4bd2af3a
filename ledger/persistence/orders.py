"""Orders: the order aggregate read in one query per kind of row, and its line balances written.

:func:`load_orders` turns locked order rows, their lines and their write-offs into
:class:`ledger.domain.order.Order` aggregates with one query per kind of row, however many orders
a batch touches. Orders are locked in ascending id, the one fixed order every writer uses, so two
batches never deadlock on each other. :class:`OrderRepository` is the unit of work's door to them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from functools import cache
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy import func, insert, or_, select, union_all, update
from sqlalchemy.orm import Session

from ledger.domain.journal import TxnType, WriteOffKey
from ledger.domain.money import Money
from ledger.domain.order import (
    Line,
    Order,
    Reason,
    WriteOff,
    WriteOffKind,
    line_priority,
)
from ledger.domain.order_book import OpenOrders, OrderSummary
from ledger.domain.receipt import ReceiptSplit
from ledger.domain.remittance import order_key
from ledger.persistence import schema
from ledger.persistence.bulk import allocate_ids, bulk_update
from ledger.persistence.db import among, among_param, is_postgres, plain_rows
from ledger.persistence.derived import reversed_of, split_columns, write_offs_with_reversed
from ledger.persistence.row_ids import row_ids
from ledger.persistence.schema import (
    CUSTOMERS,
    LINES,
    ORDERS,
    ORG_UNITS,
    PRODUCTS,
    SUBSYSTEMS,
    WRITE_OFFS,
)

# Keys per SELECT … IN: far below every database's limit on parameters.
_CHUNK = 5000

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


def load_candidates(
    session: Session, keys: Collection[str], loaded: Collection[int]
) -> list[Order]:
    """The orders whose number key is among ``keys``, whatever their state, beyond the
    ``loaded`` ones: whole and locked in ascending id. One statement for the heads, whatever the
    number of receipts asking."""
    if not keys:
        return []
    postgres = is_postgres(session)
    statements = _order_statements(postgres)
    heads = session.execute(
        statements.candidates_head.where(
            among_param(ORDERS.c.number_key, "keys", postgres=postgres),
            ~among_param(ORDERS.c.id, "loaded", postgres=postgres),
        ),
        {"keys": sorted(keys), "loaded": sorted(loaded)},
    ).all()
    return _aggregates(session, heads, statements)


class SummaryRead(NamedTuple):
    """What :func:`load_summaries` read: the summaries and, per (customer, currency), what it
    did not read of the open orders."""

    summaries: list[OrderSummary]
    groups: dict[tuple[str, str], OpenOrders]


def load_summaries(
    session: Session,
    customers: Collection[str],
    *,
    ranges: Collection[tuple[int, int]],
    numbers: Collection[str],
    complete: Collection[str],
    oldest: int,
) -> SummaryRead:
    """Open orders of ``customers`` (their own and their children's billed to them) as matching
    needs them, in one statement, unlocked and without lines: the ``oldest`` oldest of each
    customer and currency, those whose balance is within one of the ``ranges`` (minor units,
    inclusive), those with the ``numbers`` (the orders the batch holds whole), and every one of
    the ``complete`` customers; with the count and open total of each customer and currency,
    so matching knows what it was not given."""
    if not customers:
        return SummaryRead([], {})
    postgres = is_postgres(session)
    balance = func.sum(LINES.c.balance_minor)
    heads = (
        select(
            ORDERS.c.number,
            ORDERS.c.customer_id,
            CUSTOMERS.c.parent_id,
            CUSTOMERS.c.bills_to_parent,
            ORDERS.c.currency,
            ORDERS.c.org_unit,
            ORDERS.c.order_date,
            balance.label("balance"),
        )
        .join(CUSTOMERS, CUSTOMERS.c.id == ORDERS.c.customer_id)
        .join(LINES, LINES.c.order_id == ORDERS.c.id)
        .group_by(ORDERS.c.id, CUSTOMERS.c.id)
        .having(balance > 0)
    )
    own = heads.add_columns(ORDERS.c.customer_id.label("owner")).where(
        among_param(ORDERS.c.customer_id, "customers", postgres=postgres)
    )
    billed = heads.add_columns(CUSTOMERS.c.parent_id.label("owner")).where(
        CUSTOMERS.c.bills_to_parent.is_(True),
        among_param(CUSTOMERS.c.parent_id, "customers", postgres=postgres),
        CUSTOMERS.c.parent_id != ORDERS.c.customer_id,
    )
    owned = union_all(own, billed).subquery()
    group = (owned.c.owner, owned.c.currency)
    ranked = select(
        owned,
        func.row_number()
        .over(
            partition_by=group,
            # Byte order, as Python compares the numbers (oldest_key), not the locale's.
            order_by=(
                owned.c.order_date.is_(None),
                owned.c.order_date,
                owned.c.number.collate("C") if postgres else owned.c.number,
            ),
        )
        .label("age"),
        func.count().over(partition_by=group).label("open_count"),
        func.sum(owned.c.balance).over(partition_by=group).label("open_total"),
    ).subquery()
    wanted = [
        ranked.c.age <= oldest,
        among_param(ranked.c.number, "numbers", postgres=postgres),
        among_param(ranked.c.owner, "complete", postgres=postgres),
    ]
    wanted += [ranked.c.balance.between(low, high) for low, high in sorted(set(ranges))]
    rows = plain_rows(
        session.execute(
            select(ranked).where(or_(*wanted)),
            {
                "customers": sorted(customers),
                "numbers": sorted(numbers),
                "complete": sorted(complete),
            },
        )
    )
    summaries: dict[str, OrderSummary] = {}
    stats: dict[tuple[str, str], tuple[int, int]] = {}
    read: dict[tuple[str, str], list[OrderSummary]] = defaultdict(list)
    last_by_age: dict[tuple[str, str], OrderSummary] = {}
    for row in rows:
        summary = summaries.get(row.number)
        if summary is None:
            summary = summaries[row.number] = OrderSummary(
                number=row.number,
                customer_id=row.customer_id,
                currency=row.currency,
                org_unit=row.org_unit,
                order_date=row.order_date,
                parent_id=row.parent_id,
                bills_to_parent=bool(row.bills_to_parent),
                balance=Money.from_minor(int(row.balance), row.currency),
            )
        key = (row.owner, row.currency)
        stats[key] = (int(row.open_count), int(row.open_total))
        read[key].append(summary)
        if row.age == oldest:
            last_by_age[key] = summary
    groups = {
        key: OpenOrders.unread_of(count, total, key[1], read[key], last_by_age.get(key))
        for key, (count, total) in stats.items()
    }
    return SummaryRead(list(summaries.values()), groups)


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
    currency_of = {row[0]: row[3] for row in heads}  # id and currency (the heads' columns)
    number_of = {row[0]: row[1] for row in heads}  # id and number
    line_ids: dict[int, dict[int, int]] = {order_id: {} for order_id in number_of}
    loaded = _loaded_balances(session)
    # Unpacked by position (the order of ``_order_statements``' lines): a Row's attribute costs
    # ten times its index, and this loop reads every line of every order a batch touches.
    for (
        line_id,
        order_id,
        line_no,
        product,
        amount_minor,
        balance_minor,
        ar_account,
        shipped,
        priority,
        subsystem_priority,
        revenue_account,
        writeoff_account,
        inventoried,
    ) in line_rows:
        currency = currency_of[order_id]
        line = Line(
            line_no=line_no,
            product=product,
            priority=line_priority(subsystem_priority, priority),
            amount=Money.from_minor(amount_minor, currency),
            balance=Money.from_minor(balance_minor, currency),
            ar_account=ar_account,
            revenue_account=revenue_account,
            writeoff_account=writeoff_account,
            inventoried=inventoried,
            shipped=shipped,
        )
        lines_by_order[order_id].append(line)
        lines_by_id[line_id] = line
        line_ids[order_id][line_no] = line_id
        loaded[line_id] = line.balance
    known = row_ids(session)
    for order_id, number in number_of.items():
        known.add_order(number, order_id, line_ids[order_id])

    # In id order, the order each line's write-offs were made in: a write-off's place on its line
    # is its key's ``n``. Sorted here, not by the query: an ORDER BY id lets PostgreSQL walk the
    # whole primary key instead of looking the batch's orders up in the order_id index.
    rows = sorted(plain_rows(session.execute(write_offs, {"ids": ids})), key=attrgetter("id"))
    for row in rows:
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
                automatic=row.automatic,
            )
        )

    paid = order_paid(session, [row.id for row in heads if row.bills_to_parent])
    return [
        Order(
            number=number,
            customer_id=customer_id,
            currency=currency,
            org_unit=org_unit,
            credit_writeoff_account=credit_writeoff_account,
            lines=lines_by_order[order_id],
            bills_to_parent=bills_to_parent,
            paid=Money.from_minor(paid.get(order_id, 0), currency),
            order_date=order_date,
            parent_id=parent_id,
        )
        for (
            order_id,
            number,
            customer_id,
            currency,
            org_unit,
            credit_writeoff_account,
            bills_to_parent,
            order_date,
            parent_id,
        ) in heads
    ]


class _OrderStatements(NamedTuple):
    heads: Any
    locked_heads: Any
    heads_by_number: Any
    locked_heads_by_number: Any
    lines: Any
    write_offs: Any
    ids_by_number: Any
    candidates_head: Any


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
            ORDERS.c.order_date,
            CUSTOMERS.c.parent_id,
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
    write_offs = write_offs_with_reversed().where(
        among_param(WRITE_OFFS.c.order_id, "ids", postgres=postgres)
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
        candidates_head=head.with_for_update(of=ORDERS),
    )


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


def order_paid(session: Session, order_ids: Sequence[int]) -> dict[int, int]:
    """Receipt money applied to each order and not reversed, in minor units: the applied part
    of the split, per order."""
    if not order_ids:
        return {}
    journal, joined, total, undone_total = split_columns()
    caused: dict[int, dict[str, int]] = defaultdict(dict)
    undone: dict[int, dict[str, int]] = defaultdict(dict)
    rows = session.execute(
        select(journal.c.order_id, journal.c.type, total, undone_total)
        .select_from(joined)
        .where(
            among(session, journal.c.order_id, order_ids),
            journal.c.receipt_id.is_not(None),
            journal.c.type.in_((TxnType.RECEIPT.value, TxnType.TRANSFER.value)),
        )
        .group_by(journal.c.order_id, journal.c.type)
    )
    for order_id, journal_type, amount, amount_undone in rows:
        caused[order_id][journal_type] = int(amount)
        undone[order_id][journal_type] = int(amount_undone)
    return {oid: ReceiptSplit.from_totals(caused[oid], undone[oid]).applied for oid in caused}


def order_currency(session: Session, number: str) -> str | None:
    return session.execute(
        select(ORDERS.c.currency).where(ORDERS.c.number == number)
    ).scalar_one_or_none()


def write_off_order_id(session: Session, write_off_id: int) -> int | None:
    return session.execute(
        select(WRITE_OFFS.c.order_id).where(WRITE_OFFS.c.id == write_off_id)
    ).scalar_one_or_none()


class OrderRepository:
    """Order aggregates, and the rows ``arledger load`` writes, in one unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def ids_by_number(self, numbers: Collection[str]) -> dict[str, int]:
        return order_ids_by_number(self._session, numbers)

    def load(self, order_ids: Collection[int], *, lock: bool) -> dict[int, Order]:
        """The aggregates of these orders by id, locked in ascending id when ``lock``."""
        return load_orders(self._session, order_ids, lock=lock)

    def by_number(self, numbers: Collection[str], *, lock: bool) -> dict[str, Order]:
        """The aggregates of the orders with these numbers, by number; unknown ones left out."""
        return load_orders_by_number(self._session, numbers, lock=lock)

    def candidates(self, keys: Collection[str], loaded: Collection[str]) -> list[Order]:
        """``load_candidates``, locked, beside the orders with the numbers ``loaded``."""
        known = row_ids(self._session).orders
        return load_candidates(
            self._session, keys, [known[number] for number in loaded if number in known]
        )

    def summaries(
        self,
        customers: Collection[str],
        *,
        ranges: Collection[tuple[int, int]] = (),
        numbers: Collection[str] = (),
        complete: Collection[str] = (),
        oldest: int,
    ) -> SummaryRead:
        """``load_summaries``: unlocked, no lines."""
        return load_summaries(
            self._session,
            customers,
            ranges=ranges,
            numbers=numbers,
            complete=complete,
            oldest=oldest,
        )

    def currency(self, number: str) -> str | None:
        """The currency of an order, or None when there is no such order."""
        return order_currency(self._session, number)

    def write_off_order_id(self, write_off_id: int) -> int | None:
        """The order a write-off belongs to, or None when there is no such write-off."""
        return write_off_order_id(self._session, write_off_id)

    def stored_lines(self, order_ids: Sequence[int]) -> dict[int, dict[int, schema.OrderLine]]:
        """The stored lines of these orders, by order id and line number."""
        found: dict[int, dict[int, schema.OrderLine]] = {}
        for start in range(0, len(order_ids), _CHUNK):
            for stored_line in self._session.execute(
                select(schema.OrderLine).where(
                    schema.OrderLine.order_id.in_(order_ids[start : start + _CHUNK])
                )
            ).scalars():
                found.setdefault(stored_line.order_id, {})[stored_line.line_no] = stored_line
        return found

    def write_off_key(self, write_off_id: int) -> WriteOffKey | None:
        """The key of a write-off of an order this unit of work loaded (None for any other)."""
        return row_ids(self._session).write_off_key(write_off_id)

    def know(self, number: str, order_id: int, line_ids: dict[int, int]) -> None:
        """Record the ids allocated for a new order's lines (line number -> id), so that the
        journals invoicing them can be stored."""
        row_ids(self._session).add_order(number, order_id, line_ids)

    def reserve_order_ids(self, count: int) -> list[int]:
        return allocate_ids(self._session, ORDERS, count)

    def reserve_line_ids(self, count: int) -> list[int]:
        return allocate_ids(self._session, LINES, count)

    def add(
        self, order_rows: Sequence[dict[str, Any]], line_rows: Sequence[dict[str, Any]]
    ) -> None:
        """Insert new orders and lines (rows with their reserved ids)."""
        if order_rows:
            keyed = [{**row, "number_key": order_key(row["number"])} for row in order_rows]
            self._session.execute(insert(schema.OrderRow), keyed)
        if line_rows:
            self._session.execute(insert(schema.OrderLine), list(line_rows))

    def set_shipped(self, changes: Iterable[tuple[int, bool]]) -> None:
        """Set the ``shipped`` flag of lines, by line id."""
        for line_id, shipped in changes:
            self._session.execute(
                update(schema.OrderLine)
                .where(schema.OrderLine.id == line_id)
                .values(shipped=shipped)
            )
