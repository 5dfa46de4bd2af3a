"""Invoicing through the order aggregate: new lines get their balance from the SALE journal."""

from __future__ import annotations

import pytest

from ledger.domain.journal import Side, TxnType
from ledger.domain.money import Money
from tests.support.factories import DAY, line, order, usd


def test_invoice_posts_the_sale_and_sets_the_new_lines_balances():
    o = order(line(1, "20.00"))
    new = [line(2, "30.00", balance="0.00"), line(3, "0.00", balance="0.00")]
    journal = o.invoice(new, posting_date=DAY, order_date=DAY)
    assert journal is not None and journal.type is TxnType.SALE
    assert journal.original_date is None
    assert [(e.account, e.side, e.amount, e.order, e.line_no) for e in journal.entries] == [
        ("1100", Side.DEBIT, usd("30.00"), "O-100", 2),
        ("4000", Side.CREDIT, usd("30.00"), "O-100", 2),
    ]
    assert [str(x.balance) for x in o.lines] == ["20.00", "30.00", "0.00"]
    assert o.balance == usd("50.00")


def test_only_zero_lines_post_nothing_and_a_late_posting_keeps_the_order_date():
    o = order()
    assert o.invoice([line(1, "0.00")], posting_date=DAY, order_date=DAY) is None
    late = o.invoice(
        [line(2, "5.00", balance="0.00")],
        posting_date=DAY,
        order_date=DAY.replace(day=1),
    )
    assert late is not None and late.original_date == DAY.replace(day=1)


def test_invoice_refuses_a_line_with_a_balance_or_a_taken_number():
    o = order(line(1, "20.00"))
    with pytest.raises(ValueError, match="balance"):
        o.invoice([line(2, "5.00")], posting_date=DAY, order_date=DAY)
    with pytest.raises(ValueError, match="line 1"):
        o.invoice([line(1, "5.00", balance="0.00")], posting_date=DAY, order_date=DAY)
    assert o.balance == Money.parse("20.00", "USD")
