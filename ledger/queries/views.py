"""Read models: the JSON shapes of docs/rules.md section 10, built from the database.

``order show --json``, ``gl journals --json``, a receipt, the exception queue. The GL publisher
sends exactly :func:`journal_dicts` output, so what an operator sees and what the general ledger
receives are the same object. Amounts are strings with the currency's decimals.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, Select, bindparam, select

from ledger.domain.errors import UnknownCustomer, UnknownOrder, UnknownReceipt
from ledger.domain.journal import Entry, Journal, Side, TxnType
from ledger.domain.money import Money, format_minor
from ledger.domain.order import Order, WriteOff, line_priority
from ledger.domain.receipt import EventStatus, ReceiptSplit, ReceiptStatus
from ledger.persistence.db import among_param, is_postgres, plain_rows
from ledger.persistence.derived import receipt_splits, reversed_of, write_offs_with_reversed
from ledger.persistence.row_ids import RowIds, row_ids
from ledger.persistence.tables import (
    COMMITS,
    CUSTOMERS,
    INTAKE_EVENTS,
    JOURNAL_LINES,
    JOURNALS,
    LINES,
    ORDERS,
    POISON_MESSAGES,
    PRODUCTS,
    RECEIPTS,
    SUBSYSTEMS,
    WRITE_OFFS,
)

if TYPE_CHECKING:
    # The reads take a Core connection (the CLI's read commands, which never import the ORM) or
    # a session (services and tests): both execute Core statements the same way.
    from sqlalchemy.orm import Session

_CHUNK = 2000


def _money(minor: int, currency: str) -> str:
    return format_minor(minor, currency)


# --- journals ----------------------------------------------------------------------------------


def journal_dicts(
    session: Session | Connection, journal_ids: Sequence[int]
) -> list[dict[str, Any]]:
    """Journals as `gl journals --json` prints them, in the order of ``journal_ids``."""
    heads = _journal_statements(is_postgres(session)).heads_by_id
    result: list[dict[str, Any]] = []
    for start in range(0, len(journal_ids), _CHUNK):
        chunk = list(journal_ids[start : start + _CHUNK])
        journals, _ = _assemble(session, heads, {"ids": chunk})
        by_id = {journal["id"]: journal for journal in journals}
        result.extend(by_id[journal_id] for journal_id in chunk)
    return result


def journals_after(
    session: Session | Connection, cursor: int, max_commits: int
) -> tuple[list[dict[str, Any]], int | None, int]:
    """The journals of the first ``max_commits`` ledger commits after sequence ``cursor``, in
    commit order: what the publisher sends. Also the last of those commits' sequence (None when
    there are none) and how many commits they were. One read of the heads, not one of the
    commits and another of their journals: every sealed commit holds journals."""
    heads_query = _journal_statements(is_postgres(session)).heads_after
    journals, heads = _assemble(session, heads_query, {"cursor": cursor, "limit": max_commits})
    if not heads:
        return [], None, 0
    return journals, int(heads[-1].commit_seq), len({head.commit_seq for head in heads})


class _JournalStatements(NamedTuple):
    heads_by_id: Any
    heads_after: Any
    lines: Any
    order_numbers: Any
    line_numbers: Any


@cache
def _journal_statements(postgres: bool) -> _JournalStatements:
    """The reads that assemble journals, each taking its id list as the parameter ``ids``. Built
    once per process: the publisher runs them for every gateway batch, and building and
    fingerprinting them each time cost more than running them."""
    heads = select(JOURNALS)
    return _JournalStatements(
        heads_by_id=heads.where(among_param(JOURNALS.c.id, "ids", postgres=postgres)),
        # The journals of the first ``limit`` commits after sequence ``cursor``.
        heads_after=select(JOURNALS, COMMITS.c.seq.label("commit_seq"))
        .join(COMMITS, COMMITS.c.id == JOURNALS.c.commit_id)
        .where(
            JOURNALS.c.commit_id.in_(
                select(COMMITS.c.id)
                .where(COMMITS.c.seq > bindparam("cursor"))
                .order_by(COMMITS.c.seq)
                .limit(bindparam("limit"))
            )
        )
        .order_by(COMMITS.c.seq, JOURNALS.c.id),
        # Lines by the journal ids in hand: always the journal_id index, never a scan of all.
        lines=select(
            JOURNAL_LINES.c.journal_id,
            JOURNAL_LINES.c.account,
            JOURNAL_LINES.c.debit_minor,
            JOURNAL_LINES.c.credit_minor,
            JOURNAL_LINES.c.order_id,
            JOURNAL_LINES.c.line_id,
        )
        .where(among_param(JOURNAL_LINES.c.journal_id, "ids", postgres=postgres))
        .order_by(JOURNAL_LINES.c.id),
        order_numbers=select(ORDERS.c.id, ORDERS.c.number).where(
            among_param(ORDERS.c.id, "ids", postgres=postgres)
        ),
        line_numbers=select(LINES.c.id, LINES.c.line_no).where(
            among_param(LINES.c.id, "ids", postgres=postgres)
        ),
    )


def _assemble(
    session: Session | Connection, heads_query: Any, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], Sequence[Any]]:
    """The journals ``heads_query`` selects, as JSON objects in its order, and its head rows."""
    # Order numbers and line numbers are looked up by id for just the orders and lines these
    # journals touch: joining the orders tables instead would scan them whole as they grow.
    statements = _journal_statements(is_postgres(session))
    heads = plain_rows(session.execute(heads_query, params))
    journal_ids = [head.id for head in heads]
    line_rows: list[Any] = []
    for start in range(0, len(journal_ids), _CHUNK):
        line_rows += session.execute(
            statements.lines, {"ids": journal_ids[start : start + _CHUNK]}
        ).all()
    # By position (the columns of ``statements.lines``): a Row's attribute costs ten indexes.
    order_ids = {row[4] for row in line_rows if row[4] is not None}
    order_ids |= {head.order_id for head in heads if head.order_id is not None}
    numbers = _lookup(session, statements.order_numbers, order_ids)
    line_nos = _lookup(
        session, statements.line_numbers, {row[5] for row in line_rows if row[5] is not None}
    )
    lines: dict[int, list[dict[str, Any]]] = defaultdict(list)
    currency_of = {head.id: head.currency for head in heads}
    for journal_id, account, debit_minor, credit_minor, order_id, line_id in line_rows:
        lines[journal_id].append(
            _line_json(
                account,
                debit_minor,
                credit_minor,
                currency_of[journal_id],
                numbers.get(order_id) if order_id is not None else None,
                line_nos.get(line_id) if line_id is not None else None,
            )
        )
    journals = [
        _journal_json(
            head, numbers.get(head.order_id) if head.order_id is not None else None, lines[head.id]
        )
        for head in heads
    ]
    return journals, heads


def _lookup(session: Session | Connection, statement: Any, ids: set[int]) -> dict[int, Any]:
    """``statement`` (an id and a value, for the ids in ``ids``) as a dict, in chunks."""
    found: dict[int, Any] = {}
    wanted = sorted(ids)
    for start in range(0, len(wanted), _CHUNK):
        found.update(session.execute(statement, {"ids": wanted[start : start + _CHUNK]}).all())
    return found


def _journal_json(
    head: Any, order_number: str | None, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    currency = head.currency
    return {
        "id": head.id,
        "type": head.type,
        "code": head.code,
        "date": head.posting_date.isoformat(),
        "original_date": head.original_date.isoformat() if head.original_date else None,
        "currency": currency,
        "amount": _money(head.amount_minor, currency),
        "order": order_number,
        "receipt": head.receipt_id,
        "write_off": head.write_off_id,
        "reverses": head.reverses_id,
        "memo": head.memo,
        "lines": lines,
    }


def _line_json(
    account: str,
    debit_minor: int,
    credit_minor: int,
    currency: str,
    order_number: str | None,
    line_no: int | None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "account": account,
        "debit": _money(debit_minor, currency),
        "credit": _money(credit_minor, currency),
    }
    if order_number is not None:
        entry["order"] = order_number
    if line_no is not None:
        entry["line"] = line_no
    return entry


def journal_dict(session: Session, journal: Journal) -> dict[str, Any]:
    """A journal this session wrote, or one not stored at all — a dry-run preview, whose ids
    are None — in the same shape. Its keys are already the numbers the JSON shows."""
    return _written_json(journal, row_ids(session))


def written_journals(
    session: Session, journals: Sequence[Journal]
) -> Callable[[], list[dict[str, Any]]]:
    """The journals this session has just written, as :func:`journals_after` would read them
    back once committed, built when called (after the session has closed, by the publisher):
    the worker that made a commit publishes it without reading it again."""
    known = row_ids(session)
    return lambda: [_written_json(journal, known) for journal in journals]


def _written_json(journal: Journal, known: RowIds) -> dict[str, Any]:
    currency = journal.currency
    lines = []
    for e in journal.entries:
        # One conversion per entry: ``Entry.debit`` and ``credit`` each build Money, one a zero.
        minor = e.amount.minor
        debit, credit = (minor, 0) if e.side is Side.DEBIT else (0, minor)
        lines.append(_line_json(e.account, debit, credit, currency, e.order, e.line_no))
    return _journal_json(_Head(journal, known), journal.order, lines)


class _Head:
    """Adapts a domain Journal to the attribute names of a journals row."""

    def __init__(self, journal: Journal, known: RowIds) -> None:
        self.id = known.journal_id(journal)
        self.type = journal.type.value
        self.code = journal.type.code
        self.posting_date = journal.posting_date
        self.original_date = journal.original_date
        self.currency = journal.currency
        self.amount_minor = journal.amount.minor
        self.receipt_id = journal.receipt_id
        self.write_off_id = (
            known.write_off_id(journal.write_off) if journal.write_off is not None else None
        )
        self.reverses_id = journal.reverses
        self.memo = journal.memo


def journal_ids(
    session: Session | Connection, *, order: str | None = None, journal_type: str | None = None
) -> list[int]:
    """Ids of every journal in posting (commit) order, optionally of one order and/or one type."""
    query: Select[Any] = (
        select(JOURNALS.c.id)
        .join(COMMITS, COMMITS.c.id == JOURNALS.c.commit_id)
        .order_by(COMMITS.c.seq, JOURNALS.c.id)
    )
    if order is not None:
        order_id = session.execute(
            select(ORDERS.c.id).where(ORDERS.c.number == order)
        ).scalar_one_or_none()
        if order_id is None:
            raise UnknownOrder(order)
        query = query.where(JOURNALS.c.order_id == order_id)
    if journal_type is not None:
        query = query.where(JOURNALS.c.type == journal_type)
    return list(session.execute(query).scalars())


def stored_journals(session: Session, ids: Sequence[int]) -> list[Journal]:
    """Stored journals as domain objects (to be mirrored), with their row ids. Their write-offs
    are named by key, so the orders they concern must have been loaded in this session."""
    if not ids:
        return []
    entries: dict[int, list[Entry]] = defaultdict(list)
    heads = session.execute(
        select(JOURNALS, ORDERS.c.number)
        .outerjoin(ORDERS, ORDERS.c.id == JOURNALS.c.order_id)
        .where(JOURNALS.c.id.in_(ids))
        .order_by(JOURNALS.c.id)
    ).all()
    currency = {head.id: head.currency for head in heads}
    line_order = ORDERS.alias("line_order")
    for row in session.execute(
        select(JOURNAL_LINES, line_order.c.number, LINES.c.line_no)
        .outerjoin(line_order, line_order.c.id == JOURNAL_LINES.c.order_id)
        .outerjoin(LINES, LINES.c.id == JOURNAL_LINES.c.line_id)
        .where(JOURNAL_LINES.c.journal_id.in_(ids))
        .order_by(JOURNAL_LINES.c.id)
    ):
        side = Side.DEBIT if row.debit_minor else Side.CREDIT
        minor = row.debit_minor or row.credit_minor
        entries[row.journal_id].append(
            Entry(
                row.account,
                side,
                Money.from_minor(minor, currency[row.journal_id]),
                row.number,
                row.line_no,
            )
        )
    write_off_keys = row_ids(session).write_off_keys
    return [
        Journal(
            type=TxnType(head.type),
            posting_date=head.posting_date,
            entries=tuple(entries[head.id]),
            currency=head.currency,
            order=head.number,
            receipt_id=head.receipt_id,
            write_off=write_off_keys[head.write_off_id] if head.write_off_id is not None else None,
            reverses=head.reverses_id,
            original_date=head.original_date,
            memo=head.memo,
            id=head.id,
        )
        for head in heads
    ]


# --- receipts ----------------------------------------------------------------------------------


def receipt_amounts(
    session: Session | Connection, receipt_ids: Sequence[int]
) -> dict[int, ReceiptSplit]:
    """Applied, unapplied and reversed amounts of each receipt (docs/rules.md section 9.3)."""
    return receipt_splits(session, receipt_ids)


def receipt_view(session: Session | Connection, receipt_id: int) -> dict[str, Any]:
    # Rows, not ORM objects: a session's identity map could hold a receipt older than the Core
    # UPDATEs the services move its status with.
    receipt = session.execute(select(RECEIPTS).where(RECEIPTS.c.id == receipt_id)).one_or_none()
    if receipt is None:
        raise UnknownReceipt(receipt_id)
    return receipt_views(session, [receipt])[0]


def receipt_views(session: Session | Connection, receipts: Sequence[Any]) -> list[dict[str, Any]]:
    amounts = receipt_amounts(session, [r.id for r in receipts])
    journal_rows = session.execute(
        select(JOURNALS.c.receipt_id, JOURNALS.c.id, ORDERS.c.number)
        .outerjoin(ORDERS, ORDERS.c.id == JOURNALS.c.order_id)
        .where(JOURNALS.c.receipt_id.in_([r.id for r in receipts]))
        .order_by(JOURNALS.c.id)
    ).all()
    journals: dict[int, list[int]] = defaultdict(list)
    orders: dict[int, list[str]] = defaultdict(list)
    for receipt_id, journal_id, number in journal_rows:
        journals[receipt_id].append(journal_id)
        if number is not None and number not in orders[receipt_id]:
            orders[receipt_id].append(number)
    views = []
    for receipt in receipts:
        currency = receipt.currency
        amount = amounts[receipt.id]
        request = json.loads(receipt.request)
        views.append(
            {
                "id": receipt.id,
                "status": receipt.status,
                "source": receipt.source,
                "external_key": receipt.external_key,
                "amount": _money(receipt.amount_minor, currency),
                "currency": currency,
                "customer": receipt.customer_id,
                "org_unit": receipt.org_unit,
                "date": receipt.received_date.isoformat(),
                "requested_orders": [a["order"] for a in request["orders"]],
                "remittance": request.get("remittance"),
                "payer_account": request.get("payer_account"),
                "payer_name": receipt.payer_name,
                "orders": orders[receipt.id],
                "applied": _money(amount.applied, currency),
                "unapplied": _money(amount.unapplied, currency),
                "reversed": _money(amount.reversed, currency),
                "reason": receipt.status_reason,
                "match": (
                    None
                    if receipt.match_rule is None
                    else {
                        "rule": receipt.match_rule,
                        "references": json.loads(receipt.match_references or "[]"),
                    }
                ),
                "suggestions": json.loads(receipt.suggestions or "[]"),
                "journals": journals[receipt.id],
            }
        )
    return views


# The exception queue's three parts, each the rows `exceptions list` shows. The metrics' counts
# and ages (ledger.queries.monitoring) wrap these same statements, so the two never disagree.


def exception_receipts() -> Select[Any]:
    """Receipts waiting for an operator: unapplied, unidentified or failed."""
    return select(RECEIPTS).where(
        RECEIPTS.c.status.in_(
            (ReceiptStatus.UNAPPLIED, ReceiptStatus.UNIDENTIFIED, ReceiptStatus.FAILED)
        )
    )


def exception_events() -> Select[Any]:
    """Gateway events waiting (for their payment) or failed."""
    return select(INTAKE_EVENTS).where(
        INTAKE_EVENTS.c.status.in_((EventStatus.WAITING, EventStatus.FAILED))
    )


def exception_messages() -> Select[Any]:
    """Poison messages not yet taken by `exceptions retry`."""
    return select(POISON_MESSAGES).where(POISON_MESSAGES.c.status == "open")


def exceptions_view(session: Session | Connection) -> list[dict[str, Any]]:
    """What waits for an operator, each with its reason and a ``ref`` that `exceptions retry`
    takes: receipts unapplied, unidentified or failed; gateway events waiting or failed; poison
    messages."""
    receipts = session.execute(exception_receipts().order_by(RECEIPTS.c.id)).all()
    items = [
        {"kind": "receipt", "ref": f"receipt:{view['id']}", **view}
        for view in receipt_views(session, receipts)
    ]
    for event in session.execute(exception_events().order_by(INTAKE_EVENTS.c.id)):
        # A native event (or one a gateway's was translated into) carries its amount; a real
        # gateway's own event, kept as received (a conflicting re-announcement), is in the
        # gateway's format, and its reason names the amounts.
        payload = json.loads(event.payload) if event.source == "gateway" else {}
        items.append(
            {
                "kind": "event",
                "ref": f"event:{event.id}",
                "id": event.id,
                "status": event.status,
                "event": event.external_key,
                "type": event.kind,
                "payment": event.reference,
                **(
                    {"amount": payload["amount"], "currency": payload["currency"]}
                    if payload
                    else {}
                ),
                "receipt": event.receipt_id,
                "reason": event.status_reason,
            }
        )
    for message in session.execute(exception_messages().order_by(POISON_MESSAGES.c.id)):
        items.append(
            {
                "kind": "message",
                "ref": f"message:{message.id}",
                "id": message.id,
                "status": message.status,
                "task": message.task,
                "body": message.body,
                "reason": message.reason,
            }
        )
    return items


# --- orders ------------------------------------------------------------------------------------


def order_view(session: Session | Connection, number: str) -> dict[str, Any]:
    """`order show --json`: the order, its balance, and each line with its write-offs."""
    head = session.execute(select(ORDERS).where(ORDERS.c.number == number)).one_or_none()
    if head is None:
        raise UnknownOrder(number)
    currency = head.currency
    lines = session.execute(
        select(
            LINES,
            PRODUCTS.c.priority.label("product_priority"),
            SUBSYSTEMS.c.priority.label("subsystem_priority"),
        )
        .join(PRODUCTS, PRODUCTS.c.code == LINES.c.product)
        .join(SUBSYSTEMS, SUBSYSTEMS.c.code == PRODUCTS.c.subsystem)
        .where(LINES.c.order_id == head.id)
        .order_by(LINES.c.line_no)
    ).all()
    write_offs: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in session.execute(
        write_offs_with_reversed().where(WRITE_OFFS.c.order_id == head.id).order_by(WRITE_OFFS.c.id)
    ):
        write_offs[row.line_id].append(
            {
                "id": row.id,
                "amount": _money(row.amount_minor, currency),
                "reversed": _money(reversed_of(row), currency),
                "advanced": row.advanced,
                "automatic": row.automatic,
                "reason": row.reason,
                "kind": row.kind,
                "date": row.posting_date.isoformat(),
                "comment": row.comment,
            }
        )
    balance = sum(line.balance_minor for line in lines)
    return {
        "order": head.number,
        "customer": head.customer_id,
        "org_unit": head.org_unit,
        "date": head.order_date.isoformat(),
        "currency": currency,
        "balance": _money(balance, currency),
        "lines": [
            {
                "line": line.line_no,
                "product": line.product,
                "priority": line_priority(line.subsystem_priority, line.product_priority),
                "amount": _money(line.amount_minor, currency),
                "balance": _money(line.balance_minor, currency),
                "shipped": line.shipped,
                "write_offs": write_offs[line.id],
            }
            for line in lines
        ],
    }


def write_off_result(
    session: Session, order: Order, write_off: WriteOff, journal: Journal
) -> dict[str, Any]:
    """A created (or previewed) write-off: the write-off, the line's new balance, the journal."""
    line = order.line(write_off.key.line_no)
    return {
        "id": row_ids(session).write_off_id(write_off.key),
        "order": order.number,
        "line": line.line_no,
        "amount": str(write_off.amount),
        "kind": write_off.kind.value,
        "reason": write_off.reason.value,
        "advanced": write_off.advanced,
        "comment": write_off.comment,
        "account": write_off.debit_account
        if write_off.kind.value != "credit"
        else write_off.credit_account,
        "date": write_off.posting_date.isoformat(),
        "new_balance": str(line.balance),
        "journal": journal_dict(session, journal),
    }


def statement_view(session: Session | Connection, customer_id: str) -> dict[str, Any]:
    """A customer statement: what is addressed to the customer, so it never carries a write-off's
    internal comment (docs/rules.md section 5) — only the amount and the reason. A parent's statement
    includes the orders of its children billed to it."""
    customer = session.execute(
        select(CUSTOMERS.c.id, CUSTOMERS.c.name).where(CUSTOMERS.c.id == customer_id)
    ).one_or_none()
    if customer is None:
        raise UnknownCustomer(customer_id)
    children = session.execute(
        select(CUSTOMERS.c.id).where(
            CUSTOMERS.c.parent_id == customer_id, CUSTOMERS.c.bills_to_parent.is_(True)
        )
    ).scalars()
    billed = [customer_id, *children]
    numbers = session.execute(
        select(ORDERS.c.number).where(ORDERS.c.customer_id.in_(billed)).order_by(ORDERS.c.number)
    ).scalars()
    orders = []
    for number in numbers:
        order = order_view(session, number)
        orders.append(
            {
                "order": order["order"],
                "customer": order["customer"],
                "date": order["date"],
                "currency": order["currency"],
                "balance": order["balance"],
                "lines": [
                    {
                        "line": line["line"],
                        "product": line["product"],
                        "amount": line["amount"],
                        "balance": line["balance"],
                        # Deliberately an allow-list: a new internal field added to order_view
                        # must not reach the customer by default.
                        "adjustments": [
                            {
                                "amount": w["amount"],
                                "reversed": w["reversed"],
                                "reason": w["reason"],
                            }
                            for w in line["write_offs"]
                        ],
                    }
                    for line in order["lines"]
                ],
            }
        )
    return {"customer": customer.id, "name": customer.name, "orders": orders}
