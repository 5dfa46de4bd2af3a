"""Subledger transaction types and the balanced journal each one produces (SPEC section 4).

A :class:`Journal` cannot be built unbalanced: its constructor checks that it has at least two
entries, that every entry is a positive debit or a positive credit in the journal's currency, and
that debits equal credits. The database backs the same rule with a deferred constraint trigger on
PostgreSQL, so even a bug elsewhere cannot commit an unbalanced journal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from ledger.domain.errors import UnbalancedJournal
from ledger.domain.money import Money

if TYPE_CHECKING:
    from ledger.domain.order import WriteOff


# The kinds of GL account (the schema's check constraint and the load file's validation).
ACCOUNT_TYPES = ("asset", "liability", "equity", "revenue", "expense")


class TxnType(StrEnum):
    """Subledger transaction types; the value is what journals carry as ``type``."""

    SALE = "SALE"
    RECEIPT = "RECEIPT"
    UNAPPLIED = "UNAPPLIED"
    TRANSFER = "TRANSFER"
    WRITE_OFF = "WRITE_OFF"
    WRITE_OFF_REVERSAL = "WRITE_OFF_REVERSAL"
    RECEIPT_REVERSAL = "RECEIPT_REVERSAL"

    @property
    def code(self) -> int:
        """The numeric transaction code of SPEC section 4 (1 receipt, 3 transfer, 4 sale, 5 w/o)."""
        return _TXN_CODES[self]


_TXN_CODES = {
    TxnType.SALE: 4,
    TxnType.RECEIPT: 1,
    TxnType.UNAPPLIED: 1,
    TxnType.TRANSFER: 3,
    TxnType.WRITE_OFF: 5,
    TxnType.WRITE_OFF_REVERSAL: 5,
    TxnType.RECEIPT_REVERSAL: 1,
}


class Side(StrEnum):
    """Debit or credit."""

    DEBIT = "D"
    CREDIT = "C"

    @property
    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal line: a positive amount on one side of one GL account.

    ``order_id`` and ``line_id`` name the order line the entry concerns, where it concerns one;
    an entry changes a line's balance exactly when it posts to that line's AR account.
    """

    account: str
    side: Side
    amount: Money
    order_id: int | None = None
    line_id: int | None = None

    @property
    def debit(self) -> Money:
        return self.amount if self.side is Side.DEBIT else Money.zero(self.amount.currency)

    @property
    def credit(self) -> Money:
        return self.amount if self.side is Side.CREDIT else Money.zero(self.amount.currency)

    def mirrored(self) -> Entry:
        return Entry(self.account, self.side.opposite, self.amount, self.order_id, self.line_id)


def debit(
    account: str, amount: Money, order_id: int | None = None, line_id: int | None = None
) -> Entry:
    return Entry(account, Side.DEBIT, amount, order_id, line_id)


def credit(
    account: str, amount: Money, order_id: int | None = None, line_id: int | None = None
) -> Entry:
    return Entry(account, Side.CREDIT, amount, order_id, line_id)


@dataclass(eq=False, slots=True)
class Journal:
    """A subledger transaction and its balanced GL journal (one per transaction).

    ``id`` is None until the journal is stored. ``write_off`` links a WRITE_OFF, a
    WRITE_OFF_REVERSAL, or the mirror of a WRITE_OFF_REVERSAL to its write-off; ``reverses``
    links a RECEIPT_REVERSAL entry to the journal it mirrors.
    """

    type: TxnType
    posting_date: date
    entries: tuple[Entry, ...]
    currency: str
    order_id: int | None = None
    receipt_id: int | None = None
    write_off: WriteOff | None = None
    reverses: int | None = None
    original_date: date | None = None
    memo: str | None = None
    id: int | None = field(default=None)

    def __post_init__(self) -> None:
        if len(self.entries) < 2:
            raise UnbalancedJournal(self.type, "fewer than two entries", "")
        debits = Money.zero(self.currency)
        credits = Money.zero(self.currency)
        for entry in self.entries:
            # Money arithmetic raises CurrencyMismatch for an entry in another currency.
            if not entry.amount.is_positive:
                raise UnbalancedJournal(self.type, f"non-positive entry {entry.amount}", "")
            if entry.side is Side.DEBIT:
                debits += entry.amount
            else:
                credits += entry.amount
        if debits != credits:
            raise UnbalancedJournal(self.type, debits, credits)

    @property
    def amount(self) -> Money:
        """The journal's total (its debits, which equal its credits)."""
        total = Money.zero(self.currency)
        for entry in self.entries:
            if entry.side is Side.DEBIT:
                total += entry.amount
        return total

    def mirror(self, *, posting_date: date, receipt_id: int | None, memo: str | None) -> Journal:
        """The RECEIPT_REVERSAL that undoes this stored journal, entry by entry."""
        assert self.id is not None, "only a stored journal can be reversed"
        return Journal(
            type=TxnType.RECEIPT_REVERSAL,
            posting_date=posting_date,
            entries=tuple(entry.mirrored() for entry in self.entries),
            currency=self.currency,
            order_id=self.order_id,
            receipt_id=receipt_id,
            write_off=self.write_off,
            reverses=self.id,
            memo=memo,
        )
