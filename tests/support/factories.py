"""Builders of domain objects for the pure tests: orders laid out like the examples of docs/rules.md."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from ledger.domain.journal import Journal, TxnType
from ledger.domain.money import Money
from ledger.domain.order import Line, Order
from ledger.domain.order_book import OrderBook, OrderSummary
from ledger.domain.receipt import ReceiptSplit

DAY = date(2026, 11, 5)


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def line(
    line_no: int,
    amount: str,
    *,
    priority: int = 100,
    product: str = "P",
    inventoried: bool = False,
    shipped: bool = True,
    balance: str | None = None,
    currency: str = "USD",
) -> Line:
    return Line(
        line_no=line_no,
        product=product,
        priority=priority,
        amount=Money.parse(amount, currency),
        balance=Money.parse(balance if balance is not None else amount, currency),
        ar_account="1100",
        revenue_account="4000",
        writeoff_account="6100",
        inventoried=inventoried,
        shipped=shipped,
    )


def order(
    *lines: Line, bills_to_parent: bool = False, paid: str = "0.00", currency: str = "USD"
) -> Order:
    return Order(
        number="O-100",
        customer_id="C-1",
        currency=currency,
        org_unit="ASSN",
        credit_writeoff_account="2200",
        lines=list(lines),
        bills_to_parent=bills_to_parent,
        paid=Money.parse(paid, currency),
    )


def worked_example_order() -> Order:
    """docs/rules.md section 4: O-100 with COURSE 200 (102), BOOK 50 (105, inventoried, shipped), DUES 100 (101)."""
    return order(
        line(1, "200.00", priority=102, product="COURSE"),
        line(2, "50.00", priority=105, product="BOOK", inventoried=True),
        line(3, "100.00", priority=101, product="DUES"),
    )


def book_of(
    *orders: Order, payers: dict[str, str] | None = None, customers: Iterable[str] = ()
) -> OrderBook:
    """The orders a receipt may be matched against, as persistence would load them."""
    return OrderBook(orders, payers or {}, frozenset(customers))


def summary_of(o: Order) -> OrderSummary:
    """An order as a batch reads it when it is not read whole (persistence's load_summaries)."""
    return OrderSummary(
        o.number,
        o.customer_id,
        o.currency,
        o.org_unit,
        o.order_date,
        o.parent_id,
        o.bills_to_parent,
        o.balance,
    )


def balances(o: Order) -> list[str]:
    return [str(x.balance) for x in o.lines]


def split_of(journals: Iterable[Journal]) -> ReceiptSplit:
    """The split from the journals' per-type totals, as the persistence side sums them
    (the journals carry the ids they were stored under)."""
    journals = list(journals)
    undone_ids = {j.reverses for j in journals if j.type is TxnType.RECEIPT_REVERSAL}
    caused: dict[str, int] = {}
    undone: dict[str, int] = {}
    for journal in journals:
        if journal.type in (TxnType.RECEIPT, TxnType.UNAPPLIED, TxnType.TRANSFER):
            caused[journal.type] = caused.get(journal.type, 0) + journal.amount.minor
            if journal.id in undone_ids:
                undone[journal.type] = undone.get(journal.type, 0) + journal.amount.minor
    return ReceiptSplit.from_totals(caused, undone)
