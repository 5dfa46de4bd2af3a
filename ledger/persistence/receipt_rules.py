"""The SQL behind the receipt rules: reading receipts into :class:`ledger.domain.receipt.Receipt`
aggregates, writing their status back, the journals a receipt caused, and the per-type journal
totals from which :class:`ledger.domain.receipt.ReceiptSplit` derives applied / unapplied /
reversed. Services call these typed functions and never see a statement or a dialect branch.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    and_,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from ledger.domain.errors import UnknownReceipt
from ledger.domain.journal import TxnType
from ledger.domain.money import Money
from ledger.domain.receipt import (
    CAUSED_BY_RECEIPT,
    EventStatus,
    Receipt,
    ReceiptSplit,
    ReceiptStatus,
)
from ledger.persistence.db import among, among_param, is_postgres
from ledger.persistence.schema import (
    INTAKE_EVENTS,
    JOURNALS,
    LOCKBOX_FILES,
    ORDERS,
    ORG_UNITS,
    RECEIPTS,
    WRITE_OFFS,
)

# --- receipts as aggregates --------------------------------------------------------------------


def receipt_of(row: Any) -> Receipt:
    """The aggregate of a receipts row (a Core row or an ORM object: the same attributes)."""
    currency = row.currency
    request = json.loads(row.request)
    return Receipt(
        id=row.id,
        amount=Money.from_minor(row.amount_minor, currency),
        status=ReceiptStatus(row.status),
        received_date=row.received_date,
        automated=row.automated,
        requested=tuple(
            (a["order"], Money.from_minor(a["amount_minor"], currency)) for a in request["orders"]
        ),
        requested_customer=request.get("customer"),
        customer_id=row.customer_id,
        org_unit=row.org_unit,
        status_reason=row.status_reason,
    )


class _DistributionStatements(NamedTuple):
    requested: Any
    queued: Any
    org_units: Any
    waiting: Any


@cache
def _distribution_statements(postgres: bool) -> _DistributionStatements:
    """``distribute_receipts``' own statements, built once per process: on the webhook's path a
    batch holds a few receipts, and building and fingerprinting statements cost more than
    running them. The requested receipts, locked; other queued receipts no one holds (the
    top-up); the org units; the refunds and disputes waiting on named payments."""
    queued_status = ReceiptStatus.QUEUED.value
    requested = (
        select(RECEIPTS)
        .where(
            among_param(RECEIPTS.c.id, "ids", postgres=postgres),
            RECEIPTS.c.status == queued_status,
        )
        .order_by(RECEIPTS.c.id)
        .with_for_update()
    )
    queued = (
        select(RECEIPTS)
        .where(
            RECEIPTS.c.status == queued_status,
            ~among_param(RECEIPTS.c.id, "ids", postgres=postgres),
        )
        .order_by(RECEIPTS.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    waiting = (
        select(INTAKE_EVENTS.c.id)
        .where(
            INTAKE_EVENTS.c.status.in_((EventStatus.QUEUED.value, EventStatus.WAITING.value)),
            among_param(INTAKE_EVENTS.c.reference, "references", postgres=postgres),
        )
        .order_by(INTAKE_EVENTS.c.id)
    )
    return _DistributionStatements(requested, queued, select(ORG_UNITS), waiting)


def lock_queued_receipts(session: Session, receipt_ids: Collection[int], top_up: int) -> list[Any]:
    """The rows of these receipts still queued, locked in id order; with ``top_up``, up to that
    many other queued receipts too, oldest first, that no other transaction holds."""
    statements = _distribution_statements(is_postgres(session))
    receipts = list(session.execute(statements.requested, {"ids": sorted(set(receipt_ids))}))
    if top_up > 0:
        # SKIP LOCKED: never wait for receipts another batch is distributing; whatever it
        # holds it will finish. Only the requested receipts are waited for, so every wait on
        # a receipt still happens before any order is locked.
        receipts += session.execute(
            statements.queued, {"ids": [r.id for r in receipts], "limit": top_up}
        ).all()
        receipts.sort(key=lambda r: r.id)
    return receipts


def org_units(session: Session) -> dict[str, Any]:
    """Every org unit by code (rows with ``code``, ``cash_account``, ``unapplied_account``)."""
    statement = _distribution_statements(is_postgres(session)).org_units
    return {unit.code: unit for unit in session.execute(statement)}


def events_waiting_on(session: Session, references: Sequence[str]) -> list[int]:
    """The refunds and disputes, queued or waiting, that name these gateway payments."""
    if not references:
        return []
    statement = _distribution_statements(is_postgres(session)).waiting
    return [int(i) for i in session.execute(statement, {"references": list(references)}).scalars()]


def receipt_status_row(receipt: Receipt, processed_at: datetime) -> dict[str, Any]:
    """The columns a distribution writes back for one receipt (``bulk_update``'s row)."""
    return {
        "id": receipt.id,
        "customer_id": receipt.customer_id,
        "org_unit": receipt.org_unit,
        "status_reason": receipt.status_reason,
        "processed_at": processed_at,
        "status": receipt.status.value,
    }


def locked_receipt(session: Session, receipt_id: int) -> Receipt:
    """A receipt, its row locked until the transaction ends."""
    row = session.execute(
        select(RECEIPTS).where(RECEIPTS.c.id == receipt_id).with_for_update()
    ).first()
    if row is None:
        raise UnknownReceipt(receipt_id)
    return receipt_of(row)


def receipt_exists(session: Session, receipt_id: int) -> bool:
    return (
        session.execute(select(RECEIPTS.c.id).where(RECEIPTS.c.id == receipt_id)).first()
        is not None
    )


def save_receipt(session: Session, receipt: Receipt) -> None:
    """Write a receipt's status, reason, customer and org unit back."""
    session.execute(
        update(RECEIPTS)
        .where(RECEIPTS.c.id == receipt.id)
        .values(
            status=receipt.status.value,
            status_reason=receipt.status_reason,
            customer_id=receipt.customer_id,
            org_unit=receipt.org_unit,
        )
    )


def caused_journals(session: Session, receipt_id: int) -> list[tuple[int, int | None]]:
    """(journal id, order id) of every journal the receipt caused."""
    rows = session.execute(
        select(JOURNALS.c.id, JOURNALS.c.order_id).where(
            JOURNALS.c.receipt_id == receipt_id,
            JOURNALS.c.type.in_(sorted(t.value for t in CAUSED_BY_RECEIPT)),
        )
    ).all()
    return [(row.id, row.order_id) for row in rows]


def orders_applied_to(session: Session, receipt_id: int) -> set[str]:
    """The numbers of the orders a receipt's journals touched."""
    return set(
        session.execute(
            select(ORDERS.c.number)
            .join(JOURNALS, JOURNALS.c.order_id == ORDERS.c.id)
            .where(JOURNALS.c.receipt_id == receipt_id)
        ).scalars()
    )


def order_currency(session: Session, number: str) -> str | None:
    return session.execute(
        select(ORDERS.c.currency).where(ORDERS.c.number == number)
    ).scalar_one_or_none()


def write_off_order_id(session: Session, write_off_id: int) -> int | None:
    return session.execute(
        select(WRITE_OFFS.c.order_id).where(WRITE_OFFS.c.id == write_off_id)
    ).scalar_one_or_none()


# --- the split of SPEC section 10.3 ------------------------------------------------------------

_CHUNK = 2000
_SPLIT_TYPES = (TxnType.RECEIPT.value, TxnType.UNAPPLIED.value, TxnType.TRANSFER.value)


def _split_columns() -> tuple[Any, Any, Any, Any]:
    """The journals (aliased ``j``) and, per row, the amount and the amount undone: a journal
    is undone when a RECEIPT_REVERSAL of the same receipt mirrors it (the join goes through the
    receipt-id index; a journal is mirrored at most once)."""
    journal = aliased(JOURNALS, name="j")
    mirror = aliased(JOURNALS, name="m")
    joined = journal.outerjoin(
        mirror,
        and_(
            mirror.c.receipt_id == journal.c.receipt_id,
            mirror.c.reverses_id == journal.c.id,
            mirror.c.type == TxnType.RECEIPT_REVERSAL.value,
        ),
    )
    undone = func.sum(case((mirror.c.id.is_not(None), journal.c.amount_minor), else_=0))
    return journal, joined, func.sum(journal.c.amount_minor), undone


def receipt_splits(session: Session, receipt_ids: Sequence[int]) -> dict[int, ReceiptSplit]:
    """Each receipt's split, from the totals per journal type of what it caused."""
    caused: dict[int, dict[str, int]] = {rid: {} for rid in receipt_ids}
    undone: dict[int, dict[str, int]] = {rid: {} for rid in receipt_ids}
    journal, joined, total, undone_total = _split_columns()
    for start in range(0, len(receipt_ids), _CHUNK):
        chunk = list(receipt_ids[start : start + _CHUNK])
        rows = session.execute(
            select(journal.c.receipt_id, journal.c.type, total, undone_total)
            .select_from(joined)
            .where(journal.c.receipt_id.in_(chunk), journal.c.type.in_(_SPLIT_TYPES))
            .group_by(journal.c.receipt_id, journal.c.type)
        )
        for receipt_id, journal_type, amount, amount_undone in rows:
            caused[receipt_id][journal_type] = int(amount)
            undone[receipt_id][journal_type] = int(amount_undone)
    return {rid: ReceiptSplit.from_totals(caused[rid], undone[rid]) for rid in receipt_ids}


def order_paid(session: Session, order_ids: Sequence[int]) -> dict[int, int]:
    """Receipt money applied to each order and not reversed, in minor units: the applied part
    of the split, per order."""
    if not order_ids:
        return {}
    journal, joined, total, undone_total = _split_columns()
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


class FileSummaryRows(NamedTuple):
    """What a lockbox file's summary is made of."""

    head: Any
    statuses: dict[str, int]  # receipts by status
    received: dict[str, int]  # the receipts' amounts by currency
    splits: dict[str, ReceiptSplit]  # where the money went, by currency


def file_summary_rows(session: Session, file_id: int) -> FileSummaryRows:
    head = session.execute(select(LOCKBOX_FILES).where(LOCKBOX_FILES.c.id == file_id)).one()
    statuses = {
        str(status): int(count)
        for status, count in session.execute(
            select(RECEIPTS.c.status, func.count())
            .where(RECEIPTS.c.lockbox_file_id == file_id)
            .group_by(RECEIPTS.c.status)
        )
    }
    received = {
        str(currency): int(total)
        for currency, total in session.execute(
            select(RECEIPTS.c.currency, func.sum(RECEIPTS.c.amount_minor))
            .where(RECEIPTS.c.lockbox_file_id == file_id)
            .group_by(RECEIPTS.c.currency)
        )
    }
    journal, joined, total, undone_total = _split_columns()
    caused: dict[str, dict[str, int]] = defaultdict(dict)
    undone: dict[str, dict[str, int]] = defaultdict(dict)
    for currency, journal_type, amount, amount_undone in session.execute(
        select(RECEIPTS.c.currency, journal.c.type, total, undone_total)
        .select_from(joined.join(RECEIPTS, RECEIPTS.c.id == journal.c.receipt_id))
        .where(RECEIPTS.c.lockbox_file_id == file_id, journal.c.type.in_(_SPLIT_TYPES))
        .group_by(RECEIPTS.c.currency, journal.c.type)
    ):
        caused[currency][journal_type] = int(amount)
        undone[currency][journal_type] = int(amount_undone)
    splits = {c: ReceiptSplit.from_totals(caused[c], undone[c]) for c in received}
    return FileSummaryRows(head, statuses, received, splits)
