"""Journals: whatever a rule produced — write-offs, journals, journal lines, the lines' new
balances — stored in bulk, and the commit sealed.

:func:`write_journals` allocates every id up front and inserts each table with one bulk
statement, then stamps the commit (:func:`seal_commit`): the last step of every posting
transaction takes the outbox clock's row lock, numbers the commit and extends the audit chain.
Commit numbers therefore follow commit order, which is the order the publisher delivers journals
in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from ledger.domain.journal import Journal, Side, TxnType
from ledger.domain.order import Order, WriteOff
from ledger.persistence.audit import chain, commit_digest
from ledger.persistence.bulk import bulk_insert, open_commit
from ledger.persistence.db import is_postgres
from ledger.persistence.orders import _write_balances
from ledger.persistence.row_ids import RowIds, row_ids
from ledger.persistence.schema import CLOCK, COMMITS, JOURNAL_LINES, JOURNALS, WRITE_OFFS

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
        "automatic": write_off.automatic,
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


class JournalRepository:
    """Posted journals in one unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def write(self, journals: Sequence[Journal], orders: Iterable[Order] = ()) -> int | None:
        """``write_journals``: store the journals and the changed balances of ``orders``' lines
        and seal the commit; its sequence number, or None when there were no journals."""
        return write_journals(self._session, journals, orders)

    def journal_id(self, journal: Journal) -> int | None:
        """The id a journal was stored under in this unit of work (or read back with)."""
        return row_ids(self._session).journal_id(journal)
