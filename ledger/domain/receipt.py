"""The receipt aggregate: where a receipt's money goes, and the states it passes through.

A :class:`Receipt` is persisted at intake (status ``queued``) and then distributed exactly once
(docs/rules.md section 4): matching (:mod:`ledger.domain.matching`) decides which orders take
what — the orders it names, or those its remittance, payer account or amount single out — each
takes its share by :meth:`ledger.domain.order.Order.distribute`, a short payment within
tolerance is written off, what no order takes is parked on the org unit's unapplied-receipts
account (an UNAPPLIED journal), and the receipt ends ``applied``, ``unapplied`` or
``unidentified`` with how it was placed (``match_rule``, ``match_references``). Later an operator applies parked money (a TRANSFER), retries
an exception, or reverses the receipt; a gateway refund or dispute settles against it. Each of
these is a method here that raises the domain's error for an illegal transition, and like the
order aggregate this module does no I/O.

:class:`ReceiptSplit` is the one definition of docs/rules.md section 9.3's split of a receipt's amount
into applied + unapplied + reversed, from the totals of the journals it caused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol, TypeVar

from ledger.domain.calendar import Calendar
from ledger.domain.errors import (
    AmountNotPositive,
    ApplyExceedsUnapplied,
    CurrencyMismatch,
    InputRefused,
    NoOrgUnit,
    NothingUnapplied,
    ReceiptAlreadyReversed,
    ReceiptNotProcessed,
    UnknownOrgUnit,
)
from ledger.domain.journal import Journal, TxnType, credit, debit
from ledger.domain.matching import Placement, Suggestion, match
from ledger.domain.matching_config import MatchConfig
from ledger.domain.money import Money
from ledger.domain.order import Order
from ledger.domain.order_book import OrderBook, OrdersNeeded


class ReceiptStatus(StrEnum):
    """A receipt's status; the value is what the receipts table stores."""

    QUEUED = "queued"  # persisted, not yet distributed
    APPLIED = "applied"  # all of its money is on orders
    UNAPPLIED = "unapplied"  # some money is parked, the customer is known
    UNIDENTIFIED = "unidentified"  # some money is parked, no customer is known
    FAILED = "failed"  # the rules refused it; waits in the exception queue for a retry
    REVERSED = "reversed"  # everything it caused was mirrored


class EventStatus(StrEnum):
    """A refund's or dispute's status in the event inbox."""

    QUEUED = "queued"
    WAITING = "waiting"  # its payment is not distributed yet; the sweep retries it
    DONE = "done"
    FAILED = "failed"


# The journals a receipt causes, and so the ones its reversal undoes: mirrored, except a
# short-payment WRITE_OFF (matching's tolerance), which is reversed as a write-off.
CAUSED_BY_RECEIPT: frozenset[TxnType] = frozenset(
    {
        TxnType.RECEIPT,
        TxnType.UNAPPLIED,
        TxnType.TRANSFER,
        TxnType.WRITE_OFF_REVERSAL,
        TxnType.WRITE_OFF,
    }
)

# A receipt that was never distributed has caused nothing: nothing to apply, nothing to reverse.
_UNPROCESSED = (ReceiptStatus.QUEUED, ReceiptStatus.FAILED)


@dataclass(frozen=True, slots=True)
class ReceiptSplit:
    """Where a receipt's money is, in minor units: applied + unapplied + reversed = amount.

    A RECEIPT applies money; an UNAPPLIED parks it; a TRANSFER moves parked money onto lines. A
    journal mirrored by a RECEIPT_REVERSAL is undone: its money counts as reversed (a mirrored
    TRANSFER moves nothing, because the UNAPPLIED journal it drew on is mirrored too).
    """

    applied: int = 0
    unapplied: int = 0
    reversed: int = 0
    cash_in: int = 0  # debits to cash by its RECEIPT and UNAPPLIED journals

    @classmethod
    def from_totals(cls, caused: Mapping[str, int], undone: Mapping[str, int]) -> ReceiptSplit:
        """The split from per-type journal totals: ``caused`` every journal of each type,
        ``undone`` those of them a RECEIPT_REVERSAL mirrors (keys are journal type values)."""
        receipt, unapplied = caused.get("RECEIPT", 0), caused.get("UNAPPLIED", 0)
        transferred = caused.get("TRANSFER", 0) - undone.get("TRANSFER", 0)
        undone_receipt, undone_unapplied = undone.get("RECEIPT", 0), undone.get("UNAPPLIED", 0)
        return cls(
            applied=receipt - undone_receipt + transferred,
            unapplied=unapplied - undone_unapplied - transferred,
            reversed=undone_receipt + undone_unapplied,
            cash_in=receipt + unapplied,
        )


class BookingUnit(Protocol):
    """What a receipt needs of an org unit: where its cash and its parked money are booked."""

    @property
    def code(self) -> str: ...

    @property
    def cash_account(self) -> str: ...

    @property
    def unapplied_account(self) -> str: ...


U = TypeVar("U", bound=BookingUnit)


def choose_org_unit(units: Mapping[str, U], code: str | None) -> U:
    """The org unit that takes a receipt no order claims: the one named (explicitly or by the
    default setting), else the only one there is."""
    if code is not None:
        if code not in units:
            raise UnknownOrgUnit(code)
        return units[code]
    if len(units) == 1:
        return next(iter(units.values()))
    raise NoOrgUnit()


def bank_receipt_key(key: str) -> str:
    """The receipt key of a bank statement's credit: ``bank:`` and the key its bank's own
    references give it, the same in every file that reports it (docs/rules.md section 13)."""
    return f"bank:{key}"


def bank_credit_reported_again(key: str, earlier: Money, again: Money, seen: str) -> str | None:
    """docs/rules.md section 13: a credit a bank reports again under its bank key (a camt.054
    credit in the day's camt.053, a BAI2 credit in a later file) is the receipt already received
    when it carries the same amount in the same currency: None, nothing more to receive. With
    another amount or currency the bank contradicts itself and neither figure can be trusted:
    the reason the whole file is refused, naming the key, where it was ``seen`` first
    ("was received as receipt 12", "is reported on line 3") and both amounts."""
    if earlier.currency == again.currency and earlier.amount == again.amount:
        return None
    return (
        f"bank key {key} {seen} with {earlier.display()}, here with {again.display()}: a credit "
        "reported again must keep its amount and currency"
    )


@dataclass(frozen=True, slots=True)
class Settlement:
    """What a refund or dispute does to its payment's receipt.

    ``reverse`` says whether the receipt is reversed (with ``reversal_reason`` as memo); ``rest``
    is the money received again as a new receipt after a partial refund.
    """

    status: EventStatus
    reason: str | None
    reverse: bool = False
    reversal_reason: str | None = None
    rest: Money | None = None


@dataclass(eq=False, slots=True)
class Receipt:
    """A receipt: its amount, the orders it asks for, and its status."""

    id: int
    amount: Money
    status: ReceiptStatus
    received_date: date
    automated: bool
    requested: tuple[tuple[str, Money], ...] = ()  # (order number, amount meant for it)
    customer_id: str | None = None
    org_unit: str | None = None
    status_reason: str | None = None
    requested_customer: str | None = None  # the customer the intake named, if any
    remittance: str | None = None  # free text that came with the money (memo, invoice list)
    # Offsets of the spaces where the remittance joins a BAI2 record to its continuation: a word
    # a bank cut there is also read glued (docs/rules.md section 13).
    remittance_breaks: tuple[int, ...] = ()
    payer_account: str | None = None  # the account the money came from, as the intake gave it
    match_rule: str | None = (
        None  # how its money was placed (docs/rules.md section 14), None: not yet
    )
    match_references: tuple[str, ...] = ()  # order numbers / text / payer account that decided
    suggestions: tuple[Suggestion, ...] = ()  # orders an operator may apply an unplaced rest to

    @property
    def currency(self) -> str:
        return self.amount.currency

    # --- distribution (docs/rules.md section 4) ---------------------------------------------------------

    def posting_date(self, calendar: Calendar) -> date:
        """The date its journals post on: an automated receipt moves into the next open
        period; an operator's is refused in a closed one."""
        if self.automated:
            return calendar.automated_date(self.received_date)
        return calendar.operator_date(self.received_date)

    def placement(
        self,
        book: OrderBook,
        units: Mapping[str, U],
        default_unit: str | None,
        configs: Mapping[str, MatchConfig],
    ) -> tuple[U, Placement]:
        """The org unit this receipt is booked to (the first named order's that the book holds,
        else its own or the default) and what matching decides for it, touching nothing."""
        first_order = next(
            (order for number, _ in self.requested if (order := book.named(number)) is not None),
            None,
        )
        unit = (
            units[first_order.org_unit]
            if first_order is not None
            else choose_org_unit(units, self.org_unit or default_unit)
        )
        return unit, match(self, book, configs.get(unit.code) or MatchConfig(), unit.code)

    def distribute(
        self,
        book: OrderBook,
        units: Mapping[str, U],
        default_unit: str | None,
        calendar: Calendar,
        configs: Mapping[str, MatchConfig],
    ) -> list[Journal]:
        """Distribute a queued receipt; its journals.

        Matching (:func:`ledger.domain.matching.match`, with the configuration of the org unit
        of the first named order found, else the default one; ``configs`` maps org unit codes to
        configurations, a missing one meaning the defaults) decides which orders of ``book``
        take what. Each takes its share by :meth:`Order.distribute`; a short payment within
        tolerance is written off on the orders (automatic SMALL_BALANCE write-offs, after the
        RECEIPT journals); what no order takes is parked (UNAPPLIED) on the org unit. Named
        orders that did not count are named in the reason. Everything that can refuse the
        receipt is checked before the first order is touched, so a refusal (InputRefused)
        leaves the aggregates as they were; so does :class:`OrdersNeeded`, raised when matching
        picks an order the book holds only as a summary.
        """
        if self.status is not ReceiptStatus.QUEUED:
            raise InputRefused(f"receipt {self.id} is {self.status}, not queued", field="receipt")
        unit, placement = self.placement(book, units, default_unit, configs)
        missing = book.missing(n for n, _ in (*placement.shares, *placement.shortfalls))
        if missing:
            raise OrdersNeeded(missing)
        currency = self.currency
        posting_date = self.posting_date(calendar)
        original_date = self.received_date if posting_date != self.received_date else None

        journals: list[Journal] = []
        remaining = self.amount
        for number, share in placement.shares:
            order = book.whole(number)
            assert order is not None  # matching places money only on orders of the book
            distribution = order.distribute(
                share,
                debit_account=unit.cash_account,
                posting_date=posting_date,
                receipt_id=self.id,
                original_date=original_date,
            )
            journals.extend(distribution.journals)
            remaining -= share
        for number, shortfall in placement.shortfalls:
            order = book.whole(number)
            assert order is not None
            journals.extend(
                journal
                for _, journal in order.write_off_small_balance(
                    shortfall,
                    posting_date=posting_date,
                    comment=f"short payment by receipt {self.id}, within tolerance",
                    receipt_id=self.id,
                )
            )
        if remaining.is_positive:
            journals.append(
                Journal(
                    type=TxnType.UNAPPLIED,
                    posting_date=posting_date,
                    entries=(
                        debit(unit.cash_account, remaining),
                        credit(unit.unapplied_account, remaining),
                    ),
                    currency=currency,
                    receipt_id=self.id,
                    original_date=original_date,
                )
            )
        if remaining.is_zero:
            self.status, self.status_reason = ReceiptStatus.APPLIED, None
            self.suggestions = ()
        else:
            self.status = (
                ReceiptStatus.UNAPPLIED if placement.customer else ReceiptStatus.UNIDENTIFIED
            )
            self.status_reason = (
                "; ".join(filter(None, [self.status_reason, *placement.reasons])) or None
            )
            self.suggestions = placement.suggestions
        self.customer_id = placement.customer
        self.org_unit = unit.code
        # Money received again after a refund or a dispute comes with the match of the receipt
        # it replaces (set at intake): it keeps it when it lands on orders again.
        if self.match_rule is None or placement.rule is None:
            self.match_rule = placement.rule
            self.match_references = placement.references
        return journals

    def fail(self, reason: str) -> None:
        """The rules refused a queued receipt: it waits in the exception queue."""
        if self.status is not ReceiptStatus.QUEUED:
            raise InputRefused(f"receipt {self.id} is {self.status}, not queued", field="receipt")
        self.status, self.status_reason = ReceiptStatus.FAILED, reason

    # --- exceptions: retry and apply -----------------------------------------------------------

    def requeue(self) -> None:
        """A failed receipt goes back to the queue, to be distributed again from scratch."""
        if self.status is not ReceiptStatus.FAILED:
            raise InputRefused(
                f"receipt {self.id} is {self.status}: nothing to retry", field="receipt"
            )
        self.status, self.status_reason = ReceiptStatus.QUEUED, None

    def check_retry(self) -> None:
        """Only a failed receipt or one with parked money has anything to retry."""
        if self.status not in (
            ReceiptStatus.FAILED,
            ReceiptStatus.UNAPPLIED,
            ReceiptStatus.UNIDENTIFIED,
        ):
            raise InputRefused(
                f"receipt {self.id} is {self.status}: nothing to retry", field="receipt"
            )

    def check_apply(self, share: Money | None, unapplied: Money) -> Money:
        """How much of its parked money (``unapplied``, from its split) an application of
        ``share`` (default: all of it) moves; raises when it cannot."""
        self._check_processed()
        if unapplied.is_zero:
            raise NothingUnapplied(self.id)
        share = unapplied if share is None else share
        if not share.is_positive:
            raise AmountNotPositive("amount", share)
        if share > unapplied:
            raise ApplyExceedsUnapplied(self.id, share, unapplied)
        return share

    def apply(
        self,
        order: Order,
        share: Money | None,
        unapplied: Money,
        *,
        unapplied_account: str,
        posting_date: date,
    ) -> list[Journal]:
        """Move ``share`` of the parked money onto a (locked) order: a TRANSFER from the
        unapplied-receipts account, distributed by the same rules as a payment. A receipt
        matching left unplaced is then placed by the operator, who is its ``match``."""
        share = self.check_apply(share, unapplied)
        if order.currency != self.currency:
            raise CurrencyMismatch(order.currency, self.currency, what="receipt")
        distribution = order.distribute(
            share,
            debit_account=unapplied_account,
            posting_date=posting_date,
            receipt_id=self.id,
            journal_type=TxnType.TRANSFER,
        )
        if (unapplied - share).is_zero:
            self.status, self.status_reason = ReceiptStatus.APPLIED, None
            self.suggestions = ()
        else:
            self.status = ReceiptStatus.UNAPPLIED
        self.customer_id = self.customer_id or order.customer_id
        if self.match_rule in (None, "operator"):
            self.match_rule = "operator"
            if order.number not in self.match_references:
                self.match_references = (*self.match_references, order.number)
        return list(distribution.journals)

    # --- reversal ------------------------------------------------------------------------------

    def check_reversible(self) -> None:
        self._check_processed()

    def reverse(
        self,
        caused: Sequence[Journal],
        orders: Mapping[str, Order],
        reason: str,
        posting_date: date,
    ) -> list[Journal]:
        """Mirror every stored journal the receipt caused, newest first, posting each mirror to
        the (locked) order it concerns, so the orders end as if the receipt had never been
        distributed, the write-offs it reversed included. A short-payment write-off the receipt
        made (matching's tolerance) is reversed like an operator's reversal would, for what of it
        is still unreversed: the shortfall is owed again. ``orders`` are keyed by number; the
        ``caused`` journals are read back from the database (a mirror names its original by id)."""
        self.check_reversible()
        mirrors: list[Journal] = []
        for journal in sorted(caused, key=lambda j: j.id or 0, reverse=True):
            if journal.type is TxnType.WRITE_OFF and journal.receipt_id == self.id:
                undone = self._undo_short_payment(journal, orders, reason, posting_date)
                mirrors.extend(undone)
                continue
            if journal.type not in CAUSED_BY_RECEIPT or journal.receipt_id != self.id:
                raise InputRefused(
                    f"journal {journal.id} was not caused by receipt {self.id}", field="receipt"
                )
            mirror = journal.mirror(posting_date=posting_date, receipt_id=self.id, memo=reason)
            order = orders.get(journal.order) if journal.order is not None else None
            if order is not None:
                order.post(mirror)
            mirrors.append(mirror)
        self.status, self.status_reason = ReceiptStatus.REVERSED, reason
        return mirrors

    def _undo_short_payment(
        self, journal: Journal, orders: Mapping[str, Order], reason: str, posting_date: date
    ) -> list[Journal]:
        order = orders.get(journal.order) if journal.order is not None else None
        if order is None or journal.write_off is None:
            raise InputRefused(
                f"journal {journal.id}: the write-off receipt {self.id} made is not loaded",
                field="receipt",
            )
        _, write_off = order.write_off_at(journal.write_off)
        if not write_off.unreversed.is_positive:
            return []  # a later overpayment already reversed it
        return [
            order.reverse_write_off(
                journal.write_off,
                None,
                posting_date=posting_date,
                memo=reason,
                receipt_id=self.id,
            )
        ]

    def _check_processed(self) -> None:
        if self.status is ReceiptStatus.REVERSED:
            raise ReceiptAlreadyReversed(self.id)
        if self.status in _UNPROCESSED:
            raise ReceiptNotProcessed(self.id, self.status.value)

    # --- refunds and disputes (docs/rules.md section 6) -------------------------------------------------

    def settle(self, kind: str, event_id: str, reference: str, asked: Money) -> Settlement:
        """What a refund or dispute of ``asked`` does to this receipt of its payment."""
        return settle(self, kind, event_id, reference, asked)


def settle(
    receipt: Receipt | None, kind: str, event_id: str, reference: str, asked: Money
) -> Settlement:
    """A refund (``kind`` "payment.refunded") or dispute of ``asked`` against the receipt that now
    holds the payment ``reference``: wait while it is not distributed, fail when it asks for
    more than the receipt holds or in another currency, else reverse the receipt and receive
    the rest of a partial refund again."""
    what = "refund" if kind == "payment.refunded" else "dispute"
    if receipt is None or receipt.status is ReceiptStatus.QUEUED:
        return Settlement(EventStatus.WAITING, f"payment {reference} has not been received yet")
    if receipt.status is ReceiptStatus.FAILED:
        return Settlement(
            EventStatus.WAITING,
            f"payment {reference} failed to distribute: {receipt.status_reason}",
        )
    if receipt.status is ReceiptStatus.REVERSED:
        return Settlement(EventStatus.DONE, f"payment {reference} was already reversed")
    held = receipt.amount
    if asked.currency != held.currency:
        return Settlement(
            EventStatus.FAILED, f"{what} is in {asked.currency}, the payment in {held.currency}"
        )
    if asked > held:
        return Settlement(
            EventStatus.FAILED, f"{what} of {asked} exceeds the {held} the payment still holds"
        )
    memo = f"{what} {event_id}"
    if asked == held:
        return Settlement(EventStatus.DONE, None, reverse=True, reversal_reason=memo)
    return Settlement(
        EventStatus.DONE,
        f"partial {what}",  # the service names the new receipt once it is recorded
        reverse=True,
        reversal_reason=memo,
        rest=held - asked,
    )


def reinstatement(
    receipt: Receipt | None,
    reference: str,
    withdrawal: str | None,
    withdrawn: EventStatus | None,
) -> Settlement:
    """Disputed money received again (docs/rules.md section 12) against the receipt that now
    holds the payment ``reference``: it waits while the payment is not distributed, and while
    the withdrawal it gives back (the event id ``withdrawal``, whose inbox status is
    ``withdrawn``, None when it has not arrived) has not been taken — received before it, the
    money would be counted twice until the withdrawal came. Otherwise it is received again
    (status done, ``reverse`` False: a new receipt, nothing reversed). A reinstatement that
    names no withdrawal (recorded before they named one) waits for its payment only."""
    if receipt is None or receipt.status in _UNPROCESSED:
        return Settlement(EventStatus.WAITING, f"payment {reference} has not been received yet")
    if withdrawal is not None and withdrawn is not EventStatus.DONE:
        state = "has not arrived yet" if withdrawn is None else f"is {withdrawn.value}, not taken"
        return Settlement(EventStatus.WAITING, f"the withdrawal {withdrawal} it gives back {state}")
    return Settlement(EventStatus.DONE, None)
