"""Hypothesis state machine over the domain alone: Order and Receipt, no database.

Random receipts over several orders (some to unknown orders, some overpaying), line write-offs
(debit, zero and credit balances, standard and advanced), operator write-off reversals,
applications of parked money, receipt reversals, and gateway refunds and disputes (full and
partial). "Storing" a journal reads it back with a row id, as the database would; the domain itself
never sees an id. After every step the invariants of docs/rules.md
section 9 must hold on the domain objects: every journal balances; every line's balance is its
amount plus the AR entries the journals posted to it; each receipt's applied + unapplied +
reversed equals its amount with no part negative; a write-off's reversed amount stays within
[0, amount] and a receipt never reverses an advanced or credit-balance write-off; and a
distribution pays balances first, then reverses write-offs, and only then leaves a credit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import date

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ledger.domain.calendar import Calendar, Period
from ledger.domain.errors import InputRefused
from ledger.domain.journal import Journal, Side, TxnType
from ledger.domain.money import Money
from ledger.domain.order import Line, Order, Reason, WriteOffKind
from ledger.domain.order_book import OrderBook
from ledger.domain.receipt import Receipt, ReceiptSplit, ReceiptStatus
from tests.support.factories import split_of

DAY = date(2026, 11, 5)
CALENDAR = Calendar([Period("2026-11", date(2026, 11, 1), date(2026, 11, 30), True)])
NUMBERS = ["O-1", "O-2", "O-3"]
CENTS = st.integers(min_value=1, max_value=40_000)


@dataclass(frozen=True)
class Unit:
    code: str
    cash_account: str
    unapplied_account: str


UNITS = {"ASSN": Unit("ASSN", "1000", "2100")}


def usd(minor: int) -> Money:
    return Money.from_minor(minor, "USD")


class DomainMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ids = itertools.count(1)
        self.orders: dict[str, Order] = {}
        for index, number in enumerate(NUMBERS, start=1):
            self.orders[number] = Order(
                number=number,
                customer_id=f"C-{index}",
                currency="USD",
                org_unit="ASSN",
                credit_writeoff_account="2200",
                lines=[
                    Line(
                        line_no=n,
                        product="P",
                        priority=100 + (n * 7 + index) % 4,
                        amount=usd(5_000 * n + 1_000 * index),
                        balance=usd(5_000 * n + 1_000 * index),
                        ar_account="1100",
                        revenue_account="4000",
                        writeoff_account="6100",
                        inventoried=False,
                        shipped=True,
                    )
                    for n in range(1, 4)
                ],
            )
        self.receipts: list[Receipt] = []
        self.journals: list[Journal] = []

    # --- helpers -------------------------------------------------------------------------------

    def store(self, journals: list[Journal]) -> None:
        self.journals.extend(replace(journal, id=next(self.ids)) for journal in journals)

    def of_receipt(self, receipt: Receipt) -> list[Journal]:
        return [j for j in self.journals if j.receipt_id == receipt.id]

    def split(self, receipt: Receipt) -> ReceiptSplit:
        return split_of(self.of_receipt(receipt))

    def receive(self, minor: int, requested: tuple[tuple[str, Money], ...]) -> Receipt:
        receipt = Receipt(
            id=next(self.ids),
            amount=usd(minor),
            status=ReceiptStatus.QUEUED,
            received_date=DAY,
            automated=True,
            requested=requested,
        )
        before = {n: self._overpay_state(o) for n, o in self.orders.items()}
        # A split check pays one customer's orders, the first found order's (docs/rules.md
        # section 14): the others take nothing; a single order found takes its share.
        found = [n for n, _ in requested if n in self.orders]
        owner = self.orders[found[0]].customer_id if found else None
        shares = {
            n: s for n, s in requested if n in self.orders and self.orders[n].customer_id == owner
        }
        self.store(
            receipt.distribute(OrderBook(self.orders.values(), {}, ()), UNITS, None, CALENDAR, {})
        )
        self.receipts.append(receipt)
        for number, share in shares.items():
            self._check_overpay_rule(self.orders[number], before[number], share.minor)
        for number in set(self.orders) - set(shares):
            assert self._overpay_state(self.orders[number]) == before[number]
        assert receipt.customer_id == owner
        return receipt

    @staticmethod
    def _overpay_state(order: Order) -> tuple[int, int, int]:
        owed = sum(line.balance.minor for line in order.lines if line.balance.is_positive)
        reversible = sum(
            w.unreversed.minor for line in order.lines for w in line.reversible_write_offs()
        )
        return owed, reversible, order.balance.minor

    def _check_overpay_rule(self, order: Order, before: tuple[int, int, int], share: int) -> None:
        """Balances first, then write-offs reversed, then a credit on the first line."""
        owed, reversible, balance = before
        paid = min(share, owed)
        reversed_ = min(share - paid, reversible)
        credit = share - paid - reversed_
        owed_after, reversible_after, balance_after = self._overpay_state(order)
        assert reversible_after == reversible - reversed_
        assert balance_after == balance - share + reversed_
        if share >= owed:
            assert owed_after == 0
        if credit > 0:
            assert reversible_after == 0

    # --- rules ---------------------------------------------------------------------------------

    @rule(
        minor=CENTS,
        shares=st.lists(
            st.tuples(st.sampled_from([*NUMBERS, "O-404"]), CENTS), min_size=0, max_size=3
        ),
    )
    def receipt_over_orders(self, minor: int, shares: list[tuple[str, int]]) -> None:
        requested: list[tuple[str, Money]] = []
        left = minor
        for number, share in shares:
            if any(number == n for n, _ in requested) or left == 0:
                continue
            take = min(share, left)
            requested.append((number, usd(take)))
            left -= take
        self.receive(minor, tuple(requested))

    @rule(
        number=st.sampled_from(NUMBERS),
        line_no=st.integers(1, 3),
        minor=CENTS,
        advanced=st.booleans(),
    )
    def write_off(self, number: str, line_no: int, minor: int, advanced: bool) -> None:
        order = self.orders[number]
        try:
            _, journal = order.write_off(
                line_no, usd(minor), Reason.OTHER, posting_date=DAY, advanced=advanced
            )
        except InputRefused:
            return
        self.store([journal])

    @rule(number=st.sampled_from(NUMBERS), pick=st.integers(0, 50), minor=CENTS | st.none())
    def reverse_write_off(self, number: str, pick: int, minor: int | None) -> None:
        order = self.orders[number]
        write_offs = [w for line in order.lines for w in line.write_offs]
        if not write_offs:
            return
        write_off = write_offs[pick % len(write_offs)]
        try:
            journal = order.reverse_write_off(
                write_off.key, None if minor is None else usd(minor), posting_date=DAY
            )
        except InputRefused:
            return
        self.store([journal])

    @precondition(lambda self: bool(self.receipts))
    @rule(pick=st.integers(0, 50), number=st.sampled_from(NUMBERS), minor=CENTS | st.none())
    def apply(self, pick: int, number: str, minor: int | None) -> None:
        receipt = self.receipts[pick % len(self.receipts)]
        unapplied = usd(self.split(receipt).unapplied)
        try:
            journals = receipt.apply(
                self.orders[number],
                None if minor is None else usd(minor),
                unapplied,
                unapplied_account="2100",
                posting_date=DAY,
            )
        except InputRefused:
            return
        self.store(journals)

    @precondition(lambda self: bool(self.receipts))
    @rule(pick=st.integers(0, 50))
    def reverse_receipt(self, pick: int) -> None:
        receipt = self.receipts[pick % len(self.receipts)]
        caused = [j for j in self.of_receipt(receipt) if j.type is not TxnType.RECEIPT_REVERSAL]
        try:
            mirrors = receipt.reverse(caused, self.orders, "returned check", DAY)
        except InputRefused:
            return
        self.store(mirrors)

    @precondition(lambda self: bool(self.receipts))
    @rule(pick=st.integers(0, 50), minor=CENTS, refund=st.booleans())
    def refund_or_dispute(self, pick: int, minor: int, refund: bool) -> None:
        receipt = self.receipts[pick % len(self.receipts)]
        kind = "payment.refunded" if refund else "payment.disputed"
        settlement = receipt.settle(kind, f"evt_{pick}", "pay", usd(minor))
        if not settlement.reverse:
            return
        assert settlement.reversal_reason is not None
        caused = [j for j in self.of_receipt(receipt) if j.type is not TxnType.RECEIPT_REVERSAL]
        self.store(receipt.reverse(caused, self.orders, settlement.reversal_reason, DAY))
        if settlement.rest is not None:
            # As the service receives it: the rest, all of it meant for the first order asked for.
            rest = settlement.rest
            self.receive(rest.minor, tuple((number, rest) for number, _ in receipt.requested[:1]))

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def journals_balance(self) -> None:
        for journal in self.journals:
            debits = sum(e.amount.minor for e in journal.entries if e.side is Side.DEBIT)
            credits = sum(e.amount.minor for e in journal.entries if e.side is Side.CREDIT)
            assert debits == credits > 0

    @invariant()
    def line_balances_are_what_the_journals_say(self) -> None:
        posted: dict[tuple[str | None, int], int] = {}
        for journal in self.journals:
            for entry in journal.entries:
                if entry.line_no is not None and entry.account == "1100":
                    sign = 1 if entry.side is Side.DEBIT else -1
                    key = (entry.order, entry.line_no)
                    posted[key] = posted.get(key, 0) + sign * entry.amount.minor
        for order in self.orders.values():
            for line in order.lines:
                moved = posted.get((order.number, line.line_no), 0)
                assert line.balance.minor == line.amount.minor + moved

    @invariant()
    def receipts_add_up(self) -> None:
        for receipt in self.receipts:
            split = self.split(receipt)
            assert receipt.status is not ReceiptStatus.QUEUED
            assert split.applied + split.unapplied + split.reversed == receipt.amount.minor
            assert min(split.applied, split.unapplied, split.reversed) >= 0
            assert split.cash_in == receipt.amount.minor
            if receipt.status is ReceiptStatus.REVERSED:
                assert split.reversed == receipt.amount.minor
            elif receipt.status is ReceiptStatus.APPLIED:
                assert split.unapplied == 0
            else:
                assert split.unapplied > 0

    @invariant()
    def write_offs_within_bounds(self) -> None:
        for order in self.orders.values():
            for line in order.lines:
                for write_off in line.write_offs:
                    assert 0 <= write_off.reversed_amount.minor <= write_off.amount.minor
        for journal in self.journals:
            if journal.type is TxnType.WRITE_OFF_REVERSAL and journal.receipt_id is not None:
                assert journal.write_off is not None and journal.order is not None
                _, write_off = self.orders[journal.order].write_off_at(journal.write_off)
                assert not write_off.advanced
                assert write_off.kind is not WriteOffKind.CREDIT

    @invariant()
    def paid_is_receipt_money_not_reversed(self) -> None:
        for order in self.orders.values():
            applied = 0
            for journal in self.journals:
                if journal.order == order.number and journal.receipt_id is not None:
                    receipt = next(r for r in self.receipts if r.id == journal.receipt_id)
                    if (
                        journal.type in (TxnType.RECEIPT, TxnType.TRANSFER)
                        and receipt.status is not ReceiptStatus.REVERSED
                    ):
                        applied += journal.amount.minor
            assert order.paid is not None and order.paid.minor == applied


DomainMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestDomainStateMachine = DomainMachine.TestCase
