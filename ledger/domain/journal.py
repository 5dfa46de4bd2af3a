"""Subledger transaction types and the balanced journal each one produces (docs/rules.md section 3).

A :class:`Journal` cannot be built unbalanced: its constructor checks that it has at least two
entries, that every entry is a positive debit or a positive credit in the journal's currency, and
that debits equal credits. The database backs the same rule with a deferred constraint trigger on
PostgreSQL, so even a bug elsewhere cannot commit an unbalanced journal.

Journals and their entries name what they concern by domain keys — an order's number, a line's
number within its order, a :class:`WriteOffKey` — never by database row ids: persistence maps
keys to rows when it stores a journal, and gives a journal its row id only when it reads one back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from ledger.domain.errors import UnbalancedJournal
from ledger.domain.money import Money

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
        """The numeric transaction code of docs/rules.md section 3 (1 receipt, 3 transfer, 4 sale, 5 w/o)."""
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
class WriteOffKey:
    """A write-off's identity in the domain: its order, its line, and ``n``, its place among the
    line's write-offs (1 for the first). Write-offs are never deleted, so ``n`` never changes."""

    order: str
    line_no: int
    n: int

    def __str__(self) -> str:
        return f"#{self.n} on order {self.order} line {self.line_no}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal line: a positive amount on one side of one GL account.

    ``order`` (a number) and ``line_no`` name the order line the entry concerns, where it
    concerns one; an entry changes a line's balance exactly when it posts to that line's AR
    account.
    """

    account: str
    side: Side
    amount: Money
    order: str | None = None
    line_no: int | None = None

    @property
    def debit(self) -> Money:
        return self.amount if self.side is Side.DEBIT else Money.zero(self.amount.currency)

    @property
    def credit(self) -> Money:
        return self.amount if self.side is Side.CREDIT else Money.zero(self.amount.currency)

    def mirrored(self) -> Entry:
        return Entry(self.account, self.side.opposite, self.amount, self.order, self.line_no)


def debit(
    account: str, amount: Money, order: str | None = None, line_no: int | None = None
) -> Entry:
    return Entry(account, Side.DEBIT, amount, order, line_no)


def credit(
    account: str, amount: Money, order: str | None = None, line_no: int | None = None
) -> Entry:
    return Entry(account, Side.CREDIT, amount, order, line_no)


@dataclass(frozen=True, eq=False, slots=True)
class Journal:
    """A subledger transaction and its balanced GL journal (one per transaction); immutable.

    ``order`` is the number of the order it concerns, ``receipt_id`` the receipt that caused it.
    ``write_off`` is the key of the write-off a WRITE_OFF creates, a WRITE_OFF_REVERSAL reverses,
    or the mirror of a WRITE_OFF_REVERSAL takes back. ``id`` is the row id, set only on a journal
    read back from the database; ``reverses`` links a RECEIPT_REVERSAL to the stored journal it
    mirrors. ``amount`` (its debits, which equal its credits) is computed once, when it is built.
    Equality is identity: two postings of the same figures are two journals.
    """

    type: TxnType
    posting_date: date
    entries: tuple[Entry, ...]
    currency: str
    order: str | None = None
    receipt_id: int | None = None
    write_off: WriteOffKey | None = None
    reverses: int | None = None
    original_date: date | None = None
    memo: str | None = None
    id: int | None = None
    amount: Money = field(init=False, repr=False)

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
        # Read many times per journal (posting, storing, summing), so kept, not recomputed.
        object.__setattr__(self, "amount", debits)

    def mirror(self, *, posting_date: date, receipt_id: int | None, memo: str | None) -> Journal:
        """The RECEIPT_REVERSAL that undoes this stored journal, entry by entry."""
        assert self.id is not None, "only a stored journal can be reversed"
        return Journal(
            type=TxnType.RECEIPT_REVERSAL,
            posting_date=posting_date,
            entries=tuple(entry.mirrored() for entry in self.entries),
            currency=self.currency,
            order=self.order,
            receipt_id=receipt_id,
            write_off=self.write_off,
            reverses=self.id,
            memo=memo,
        )
