"""Amounts derived from the journals, in Core only: the reversed amount of a write-off and the
applied / unapplied / reversed split of a receipt (docs/rules.md section 9.3).

The write path (orders, receipts, files) and the read models (``ledger.queries.views``) share
these one definitions; this module imports no ORM, so the read commands stay fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, case, func, select

from ledger.domain.journal import TxnType
from ledger.domain.order import reversed_minor
from ledger.domain.receipt import ReceiptSplit
from ledger.persistence.tables import JOURNALS, WRITE_OFFS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


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
        tied = JOURNALS.alias()
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
        WRITE_OFFS.c.automatic,
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


# --- the split of docs/rules.md section 9.3 ------------------------------------------------------------

_CHUNK = 2000
SPLIT_TYPES = (TxnType.RECEIPT.value, TxnType.UNAPPLIED.value, TxnType.TRANSFER.value)


def split_columns() -> tuple[Any, Any, Any, Any]:
    """The journals (aliased ``j``) and, per row, the amount and the amount undone: a journal
    is undone when a RECEIPT_REVERSAL of the same receipt mirrors it. The mirror is looked up
    per journal through the partial reverses-id index, never joined: a join planned on stale
    statistics may scan every reversal for every journal."""
    journal = JOURNALS.alias("j")
    mirror = JOURNALS.alias("m")
    mirrored = (
        select(mirror.c.id)
        .where(
            mirror.c.reverses_id == journal.c.id,
            mirror.c.receipt_id == journal.c.receipt_id,
            mirror.c.type == TxnType.RECEIPT_REVERSAL.value,
        )
        .exists()
    )
    undone = func.sum(case((mirrored, journal.c.amount_minor), else_=0))
    return journal, journal, func.sum(journal.c.amount_minor), undone


def receipt_splits(
    session: Session | Connection, receipt_ids: Sequence[int]
) -> dict[int, ReceiptSplit]:
    """Each receipt's split, from the totals per journal type of what it caused."""
    caused: dict[int, dict[str, int]] = {rid: {} for rid in receipt_ids}
    undone: dict[int, dict[str, int]] = {rid: {} for rid in receipt_ids}
    journal, joined, total, undone_total = split_columns()
    for start in range(0, len(receipt_ids), _CHUNK):
        chunk = list(receipt_ids[start : start + _CHUNK])
        rows = session.execute(
            select(journal.c.receipt_id, journal.c.type, total, undone_total)
            .select_from(joined)
            .where(journal.c.receipt_id.in_(chunk), journal.c.type.in_(SPLIT_TYPES))
            .group_by(journal.c.receipt_id, journal.c.type)
        )
        for receipt_id, journal_type, amount, amount_undone in rows:
            caused[receipt_id][journal_type] = int(amount)
            undone[receipt_id][journal_type] = int(amount_undone)
    return {rid: ReceiptSplit.from_totals(caused[rid], undone[rid]) for rid in receipt_ids}
