"""The order aggregate: lines, balances, write-offs, and the rules that move money between them.

This module is the product's heart and has no I/O. An :class:`Order` is loaded (locked) by the
persistence layer, a rule runs on it — :meth:`Order.distribute` (docs/rules.md section 4),
:meth:`Order.write_off` and :meth:`Order.reverse_write_off` (section 6) — and the rule returns
balanced journals. Every balance change goes through :meth:`Order.post`, so a line's balance is
always the running sum of the AR entries posted to it, exactly as the database will see them.

The aggregate knows nothing of the database: an order is known by its number, a line by its
number within the order, a write-off by its :class:`~ledger.domain.journal.WriteOffKey`; the
persistence layer keeps the row ids behind those keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from ledger.domain.errors import (
    AmountNotPositive,
    ChildOrderAlreadyPaid,
    ChildWriteOffMustBeFullBalance,
    CurrencyMismatch,
    NothingToWriteOff,
    ProductNotShipped,
    UnknownLine,
    UnknownReason,
    UnknownWriteOff,
    WriteOffAccountIsArAccount,
    WriteOffExceedsBalance,
    WriteOffExceedsCreditBalance,
    WriteOffExceedsLineAmount,
    WriteOffReversalExceedsUnreversed,
)
from ledger.domain.journal import Entry, Journal, Side, TxnType, WriteOffKey, credit, debit
from ledger.domain.money import Money


class Reason(StrEnum):
    """Write-off reasons: a fixed list, deliberately not configurable (docs/rules.md section 5)."""

    BAD_DEBT = "BAD_DEBT"
    GOODWILL = "GOODWILL"
    BILLING_ERROR = "BILLING_ERROR"
    SALES_RETURN = "SALES_RETURN"
    PROMOTIONAL_DISCOUNT = "PROMOTIONAL_DISCOUNT"
    SMALL_BALANCE = "SMALL_BALANCE"
    OTHER = "OTHER"

    @classmethod
    def parse(cls, text: str) -> Reason:
        try:
            return cls(text)
        except ValueError:
            raise UnknownReason(text, [reason.value for reason in cls]) from None


class WriteOffKind(StrEnum):
    """Which balance a write-off eliminated; it decides the accounts and whether it is reversible."""

    DEBIT = "debit"  # balance > 0: Dr write-off account, Cr AR
    ZERO = "zero"  # balance == 0: posted like a debit write-off, leaves a credit balance
    CREDIT = "credit"  # balance < 0: Dr AR, Cr the org unit's credit-balance write-off account


# How a journal tied to a write-off moves the write-off's reversed amount, by journal type: a
# reversal (an operator's, or a receipt's overpayment) adds to it; the mirror of such a reversal
# (a receipt reversal) takes it back. The one definition, for posting and for what is loaded.
REVERSAL_SIGNS: Mapping[TxnType, int] = {
    TxnType.WRITE_OFF_REVERSAL: 1,
    TxnType.RECEIPT_REVERSAL: -1,
}


def reversed_minor(totals: Mapping[str, int]) -> int:
    """A write-off's reversed amount, in minor units, from the totals by journal type (the type's
    value) of the journals tied to it."""
    return sum(sign * totals.get(kind.value, 0) for kind, sign in REVERSAL_SIGNS.items())


def line_priority(subsystem_priority: int, product_priority: int) -> int:
    """Payment priority of a line: subsystem priority x 100 + product priority (lower pays first)."""
    return subsystem_priority * 100 + product_priority


@dataclass(eq=False, slots=True)
class WriteOff:
    """A line-level write-off as the order aggregate sees it, known by its key."""

    key: WriteOffKey
    amount: Money
    kind: WriteOffKind
    advanced: bool
    reason: Reason
    debit_account: str
    credit_account: str
    posting_date: date
    comment: str | None = None
    reversed: Money | None = None
    automatic: bool = False  # written off by matching's tolerance for a short payment

    def __post_init__(self) -> None:
        if self.reversed is None:
            self.reversed = Money.zero(self.amount.currency)

    @property
    def reversed_amount(self) -> Money:
        assert self.reversed is not None
        return self.reversed

    @property
    def unreversed(self) -> Money:
        return self.amount - self.reversed_amount

    @property
    def reversible_by_receipt(self) -> bool:
        """Step 2 of distribution may reverse it: Dr write-off/Cr AR, not advanced, not used up.

        A zero-balance write-off posts exactly like a debit-balance one (Dr write-off account,
        Cr AR), so an overpayment reverses it the same way; a credit-balance write-off goes the
        other way and is never touched by a receipt.
        """
        return (
            self.kind is not WriteOffKind.CREDIT
            and not self.advanced
            and self.unreversed.is_positive
        )


@dataclass(eq=False, slots=True)
class Line:
    """An order line with what the rules need to know about it; known by its number."""

    line_no: int
    product: str
    priority: int
    amount: Money
    balance: Money
    ar_account: str
    revenue_account: str
    writeoff_account: str
    inventoried: bool
    shipped: bool
    write_offs: list[WriteOff] = field(default_factory=list)  # oldest first

    def reversible_write_offs(self) -> list[WriteOff]:
        return [write_off for write_off in self.write_offs if write_off.reversible_by_receipt]


@dataclass(frozen=True, slots=True)
class Application:
    """Money of a receipt put on one line, and the distribution step that put it there."""

    line: Line
    amount: Money
    step: str  # "priority", "write_off" or "credit"


@dataclass(frozen=True, slots=True)
class Distribution:
    """What one receipt did to an order: the applications, in order, and the journals."""

    amount: Money
    applications: tuple[Application, ...]
    journals: tuple[Journal, ...]


@dataclass(eq=False, slots=True)
class Order:
    """The aggregate: an order and its lines, loaded under a lock and changed only through rules."""

    number: str
    customer_id: str
    currency: str
    org_unit: str
    credit_writeoff_account: str
    lines: list[Line]  # ascending line number
    bills_to_parent: bool = False
    paid: Money | None = None  # receipt money applied and not reversed (the child-account rule)
    order_date: date | None = None  # "oldest" for matching: by order date, then number
    parent_id: str | None = None  # the customer's parent, whose order this is too when billed to it
    _by_no: dict[int, Line] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.lines.sort(key=lambda line: line.line_no)
        if self.paid is None:
            self.paid = Money.zero(self.currency)
        self._by_no = {line.line_no: line for line in self.lines}

    # --- lookup --------------------------------------------------------------------------------

    def line(self, line_no: int) -> Line:
        line = self._by_no.get(line_no)
        if line is None:
            raise UnknownLine(self.number, line_no)
        return line

    def write_off_at(self, key: WriteOffKey) -> tuple[Line, WriteOff]:
        """The write-off with this key, and its line; UnknownWriteOff if this order has none."""
        line = self._by_no.get(key.line_no) if key.order == self.number else None
        if line is None or not 1 <= key.n <= len(line.write_offs):
            raise UnknownWriteOff(key)
        return line, line.write_offs[key.n - 1]

    @property
    def balance(self) -> Money:
        total = Money.zero(self.currency)
        for line in self.lines:
            total += line.balance
        return total

    # --- the single place balances change ------------------------------------------------------

    def post(self, journal: Journal) -> None:
        """Apply a journal's effects to this order: AR entries move line balances; write-off
        reversals (and their mirrors) move the write-off's reversed amount; receipt money on the
        order's lines moves ``paid``."""
        number = self.number
        for entry in journal.entries:
            if entry.line_no is None or entry.order != number:
                continue
            line = self._by_no.get(entry.line_no)
            if line is None or entry.account != line.ar_account:
                continue
            line.balance = (
                line.balance + entry.amount
                if entry.side is Side.DEBIT
                else line.balance - entry.amount
            )
        if journal.write_off is not None and journal.type in REVERSAL_SIGNS:
            amount = journal.amount
            _, write_off = self.write_off_at(journal.write_off)
            write_off.reversed = (
                write_off.reversed_amount + amount
                if REVERSAL_SIGNS[journal.type] > 0
                else write_off.reversed_amount - amount
            )
        if journal.receipt_id is not None and journal.type in (TxnType.RECEIPT, TxnType.TRANSFER):
            self.paid = self._paid + self._ar_credits(journal)
        elif journal.type is TxnType.RECEIPT_REVERSAL and journal.write_off is None:
            self.paid = self._paid - self._ar_debits(journal)

    @property
    def _paid(self) -> Money:
        assert self.paid is not None
        return self.paid

    def _ar_credits(self, journal: Journal) -> Money:
        return self._ar_sum(journal, Side.CREDIT)

    def _ar_debits(self, journal: Journal) -> Money:
        return self._ar_sum(journal, Side.DEBIT)

    def _ar_sum(self, journal: Journal, side: Side) -> Money:
        total = Money.zero(self.currency)
        number = self.number
        for entry in journal.entries:
            if entry.line_no is None or entry.order != number or entry.side is not side:
                continue
            line = self._by_no.get(entry.line_no)
            if line is not None and entry.account == line.ar_account:
                total += entry.amount
        return total

    # --- invoicing -----------------------------------------------------------------------------

    def invoice(
        self, lines: Sequence[Line], *, posting_date: date, order_date: date
    ) -> Journal | None:
        """Add newly invoiced lines, their balance zero, and post the SALE journal that gives
        them their amount: Dr each line's AR account, Cr its revenue account.

        A line of zero amount posts nothing; when every new line is zero there is no journal.
        """
        taken = {known.line_no for known in self.lines}
        for line in lines:
            if not line.balance.is_zero:
                raise ValueError(f"line {line.line_no} is invoiced with a balance already")
            if line.line_no in taken:
                raise ValueError(f"order {self.number} has a line {line.line_no} already")
            taken.add(line.line_no)
        entries: list[Entry] = []
        for line in lines:
            self.lines.append(line)
            self._by_no[line.line_no] = line
            if not line.amount.is_zero:
                entries.append(debit(line.ar_account, line.amount, self.number, line.line_no))
                entries.append(credit(line.revenue_account, line.amount, self.number, line.line_no))
        self.lines.sort(key=lambda known: known.line_no)
        if not entries:
            return None
        journal = Journal(
            type=TxnType.SALE,
            posting_date=posting_date,
            entries=tuple(entries),
            currency=self.currency,
            order=self.number,
            original_date=order_date if posting_date != order_date else None,
        )
        self.post(journal)
        return journal

    # --- docs/rules.md section 4: receipt distribution --------------------------------------------------

    def by_payment_priority(self) -> list[Line]:
        """Lines in the order step 1 pays them: ascending priority, ties by line number."""
        return sorted(self.lines, key=lambda line: (line.priority, line.line_no))

    def distribute(
        self,
        amount: Money,
        *,
        debit_account: str,
        posting_date: date,
        receipt_id: int | None,
        journal_type: TxnType = TxnType.RECEIPT,
        original_date: date | None = None,
        debit_line: Line | None = None,
        memo: str | None = None,
    ) -> Distribution:
        """Distribute ``amount`` over this order's lines and post the journals.

        1. pay lines with a positive balance by payment priority, each up to its balance;
        2. with money left, walk the lines by line number and reverse their reversible
           write-offs oldest first, each up to min(money left, unreversed), applying the same
           amount to the line;
        3. put whatever is left on the first line as a credit.

        The money comes from ``debit_account`` (the receipt's cash account for a RECEIPT, the
        unapplied-receipts account or a line's AR account for a TRANSFER). Returns the
        applications and journals: the RECEIPT/TRANSFER first, then one WRITE_OFF_REVERSAL per
        write-off reversed.
        """
        if amount.currency != self.currency:
            raise CurrencyMismatch(self.currency, amount.currency, what="receipt")
        remaining = amount
        applications: list[Application] = []
        reversals: list[tuple[Line, WriteOff, Money]] = []

        for line in self.by_payment_priority():
            if remaining.is_zero:
                break
            if line.balance.is_positive:
                share = remaining.min(line.balance)
                applications.append(Application(line, share, "priority"))
                remaining -= share

        for line in self.lines:
            if remaining.is_zero:
                break
            for write_off in line.reversible_write_offs():
                if remaining.is_zero:
                    break
                share = remaining.min(write_off.unreversed)
                reversals.append((line, write_off, share))
                applications.append(Application(line, share, "write_off"))
                remaining -= share

        if remaining.is_positive:
            applications.append(Application(self.lines[0], remaining, "credit"))

        number = self.number
        entries: list[Entry] = [
            debit(
                debit_account,
                amount,
                number,
                debit_line.line_no if debit_line is not None else None,
            )
        ]
        entries += [
            credit(app.line.ar_account, app.amount, number, app.line.line_no)
            for app in applications
        ]
        journals = [
            Journal(
                type=journal_type,
                posting_date=posting_date,
                entries=tuple(entries),
                currency=self.currency,
                order=self.number,
                receipt_id=receipt_id,
                original_date=original_date,
                memo=memo,
            )
        ]
        for line, write_off, share in reversals:
            journals.append(
                self._write_off_reversal(write_off, line, share, posting_date, receipt_id, None)
            )
        for journal in journals:
            self.post(journal)
        return Distribution(amount, tuple(applications), tuple(journals))

    def _write_off_reversal(
        self,
        write_off: WriteOff,
        line: Line,
        amount: Money,
        posting_date: date,
        receipt_id: int | None,
        memo: str | None,
    ) -> Journal:
        # The reversal swaps the original write-off's accounts: Dr its credit account, Cr its
        # debit account.
        return Journal(
            type=TxnType.WRITE_OFF_REVERSAL,
            posting_date=posting_date,
            entries=(
                debit(write_off.credit_account, amount, self.number, line.line_no),
                credit(write_off.debit_account, amount, self.number, line.line_no),
            ),
            currency=self.currency,
            order=self.number,
            receipt_id=receipt_id,
            write_off=write_off.key,
            memo=memo,
        )

    # --- docs/rules.md section 5: write-offs ------------------------------------------------------------

    def write_off(
        self,
        line_no: int,
        amount: Money,
        reason: Reason,
        *,
        posting_date: date,
        customer_id: str | None = None,
        advanced: bool = False,
        account: str | None = None,
        comment: str | None = None,
        automatic: bool = False,
        receipt_id: int | None = None,
    ) -> tuple[WriteOff, Journal]:
        """Write off ``amount`` on one line, by the rules of docs/rules.md section 5.

        ``account`` overrides the write-off side's account (the product's write-off account for
        a debit or zero balance, the org unit's credit-balance account for a credit balance);
        the caller has already checked it exists and is active. Raises one error per rule.
        """
        line = self.line(line_no)
        if amount.currency != self.currency:
            raise CurrencyMismatch(self.currency, amount.currency, what="write-off")
        if not amount.is_positive:
            raise AmountNotPositive("amount", amount)
        if line.inventoried and not line.shipped:
            raise ProductNotShipped(self.number, line.line_no, line.product)
        if self.bills_to_parent:
            if self._paid.is_positive:
                raise ChildOrderAlreadyPaid(
                    customer_id or self.customer_id, self.number, self._paid
                )
            if amount != line.balance:
                raise ChildWriteOffMustBeFullBalance(
                    customer_id or self.customer_id, amount, line.balance
                )
        if account is not None and account == line.ar_account:
            raise WriteOffAccountIsArAccount(account)

        if line.balance.is_positive:
            if amount > line.balance:
                raise WriteOffExceedsBalance(amount, line.balance)
            kind = WriteOffKind.DEBIT
        elif line.balance.is_zero:
            if amount > line.amount:
                raise WriteOffExceedsLineAmount(amount, line.amount)
            kind = WriteOffKind.ZERO
        else:
            if amount > abs(line.balance):
                raise WriteOffExceedsCreditBalance(amount, abs(line.balance))
            kind = WriteOffKind.CREDIT

        if kind is WriteOffKind.CREDIT:
            debit_account, credit_account = line.ar_account, account or self.credit_writeoff_account
        else:
            debit_account, credit_account = account or line.writeoff_account, line.ar_account
        write_off = WriteOff(
            key=WriteOffKey(self.number, line.line_no, len(line.write_offs) + 1),
            amount=amount,
            kind=kind,
            advanced=advanced,
            reason=reason,
            debit_account=debit_account,
            credit_account=credit_account,
            posting_date=posting_date,
            comment=comment,
            automatic=automatic,
        )
        journal = Journal(
            type=TxnType.WRITE_OFF,
            posting_date=posting_date,
            entries=(
                debit(debit_account, amount, self.number, line.line_no),
                credit(credit_account, amount, self.number, line.line_no),
            ),
            currency=self.currency,
            order=self.number,
            receipt_id=receipt_id,  # a receipt's short payment: its reversal undoes this too
            write_off=write_off.key,
            memo=reason.value,
        )
        line.write_offs.append(write_off)
        self.post(journal)
        return write_off, journal

    def write_off_order(
        self,
        reason: Reason,
        *,
        posting_date: date,
        advanced: bool = False,
        account: str | None = None,
        comment: str | None = None,
    ) -> list[tuple[WriteOff, Journal]]:
        """Write off a whole order: one write-off of the full balance per line that is owed money.

        All or nothing: if any line refuses (an unshipped inventoried product, say), the caller's
        transaction rolls back and nothing is written off.
        """
        owed = [line for line in self.lines if line.balance.is_positive]
        if not owed:
            raise NothingToWriteOff(self.number)
        return [
            self.write_off(
                line.line_no,
                line.balance,
                reason,
                posting_date=posting_date,
                advanced=advanced,
                account=account,
                comment=comment,
            )
            for line in owed
        ]

    def small_balance_plan(self, shortfall: Money) -> list[tuple[Line, Money]] | None:
        """Where a tolerance shortfall would be written off: on the lines still owing, last in
        payment priority first, each up to its balance; None when docs/rules.md section 5 would
        refuse any part of it (an unshipped inventoried line; a child's order billed to its
        parent, which takes only whole line balances and only while nothing is paid) or the
        lines owe less than the shortfall."""
        if shortfall.currency != self.currency or not shortfall.is_positive:
            return None
        plan: list[tuple[Line, Money]] = []
        remaining = shortfall
        for line in reversed(self.by_payment_priority()):
            if remaining.is_zero:
                break
            if not line.balance.is_positive:
                continue
            share = remaining.min(line.balance)
            if line.inventoried and not line.shipped:
                return None
            if self.bills_to_parent and (self._paid.is_positive or share != line.balance):
                return None
            plan.append((line, share))
            remaining -= share
        return plan if remaining.is_zero else None

    def write_off_small_balance(
        self,
        shortfall: Money,
        *,
        posting_date: date,
        comment: str | None = None,
        receipt_id: int | None = None,
    ) -> list[tuple[WriteOff, Journal]]:
        """Write off a short payment's ``shortfall`` within tolerance, automatically, as
        SMALL_BALANCE (:meth:`small_balance_plan`); nothing at all when any part would be
        refused, the shortfall then staying owed."""
        plan = self.small_balance_plan(shortfall)
        if plan is None:
            return []
        return [
            self.write_off(
                line.line_no,
                share,
                Reason.SMALL_BALANCE,
                posting_date=posting_date,
                comment=comment,
                automatic=True,
                receipt_id=receipt_id,
            )
            for line, share in plan
        ]

    def reverse_write_off(
        self,
        key: WriteOffKey,
        amount: Money | None,
        *,
        posting_date: date,
        memo: str | None = None,
        receipt_id: int | None = None,
    ) -> Journal:
        """An operator's reversal of (part of) a write-off, up to its unreversed amount; with
        ``receipt_id``, the reversal of a receipt undoing the short-payment write-off it made."""
        line, write_off = self.write_off_at(key)
        amount = write_off.unreversed if amount is None else amount
        if not amount.is_positive:
            if amount.is_zero and write_off.unreversed.is_zero:
                raise WriteOffReversalExceedsUnreversed(key, write_off.amount, write_off.unreversed)
            raise AmountNotPositive("amount", amount)
        if amount > write_off.unreversed:
            raise WriteOffReversalExceedsUnreversed(key, amount, write_off.unreversed)
        journal = self._write_off_reversal(write_off, line, amount, posting_date, receipt_id, memo)
        self.post(journal)
        return journal
