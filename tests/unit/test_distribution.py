"""docs/rules.md section 4: receipt distribution — priority, overpayment reversing write-offs, credit rest."""

import pytest

from ledger.domain.errors import CurrencyMismatch
from ledger.domain.journal import Side, TxnType
from ledger.domain.money import Money
from ledger.domain.order import Reason, line_priority
from tests.support.factories import DAY, balances, line, order, usd, worked_example_order


def distribute(o, amount, **options):
    return o.distribute(
        usd(amount), debit_account="1000", posting_date=DAY, receipt_id=7, **options
    )


def test_line_priority_is_subsystem_priority_times_100_plus_product_priority():
    assert line_priority(1, 2) == 102
    assert line_priority(0, 99) == 99
    assert line_priority(99, 0) == 9900


def test_worked_example_of_spec_section_5():
    o = worked_example_order()
    o.write_off(2, usd("30.00"), Reason.BAD_DEBT, posting_date=DAY)
    o.write_off(3, usd("10.00"), Reason.OTHER, posting_date=DAY, advanced=True)
    assert balances(o) == ["200.00", "20.00", "90.00"]

    result = distribute(o, "400.00")

    assert [(a.line.line_no, str(a.amount), a.step) for a in result.applications] == [
        (3, "90.00", "priority"),
        (1, "200.00", "priority"),
        (2, "20.00", "priority"),
        (2, "30.00", "write_off"),
        (1, "60.00", "credit"),
    ]
    assert balances(o) == ["-60.00", "0.00", "0.00"]
    receipt, reversal = result.journals
    assert receipt.type is TxnType.RECEIPT
    assert [(e.account, e.side, str(e.amount)) for e in receipt.entries] == [
        ("1000", Side.DEBIT, "400.00"),
        ("1100", Side.CREDIT, "90.00"),
        ("1100", Side.CREDIT, "200.00"),
        ("1100", Side.CREDIT, "20.00"),
        ("1100", Side.CREDIT, "30.00"),
        ("1100", Side.CREDIT, "60.00"),
    ]
    assert reversal.type is TxnType.WRITE_OFF_REVERSAL
    assert [(e.account, e.side, str(e.amount)) for e in reversal.entries] == [
        ("1100", Side.DEBIT, "30.00"),
        ("6100", Side.CREDIT, "30.00"),
    ]
    standard, advanced = o.lines[1].write_offs[0], o.lines[2].write_offs[0]
    assert str(standard.reversed_amount) == "30.00"
    assert str(advanced.reversed_amount) == "0.00"


def test_lines_are_paid_in_ascending_priority_each_up_to_its_balance():
    o = order(
        line(1, "50.00", priority=300),
        line(2, "40.00", priority=200),
        line(3, "120.00", priority=102),
    )
    distribute(o, "150.00")
    assert balances(o) == ["50.00", "10.00", "0.00"]


def test_priority_ties_are_paid_by_ascending_line_number():
    o = order(
        line(1, "30.00", priority=5),
        line(2, "30.00", priority=5),
        line(3, "30.00", priority=5),
    )
    distribute(o, "45.00")
    assert balances(o) == ["0.00", "15.00", "30.00"]


def test_lines_without_a_positive_balance_are_skipped_in_step_one():
    o = order(
        line(1, "30.00", priority=1, balance="-5.00"),
        line(2, "30.00", priority=2, balance="0.00"),
        line(3, "30.00", priority=3),
    )
    result = distribute(o, "10.00")
    assert [(a.line.line_no, a.step) for a in result.applications] == [(3, "priority")]


def test_an_exact_payment_leaves_every_line_at_zero_and_reverses_nothing():
    o = order(line(1, "10.00"), line(2, "20.00"))
    o.write_off(1, usd("5.00"), Reason.GOODWILL, posting_date=DAY)
    result = distribute(o, "25.00")
    assert balances(o) == ["0.00", "0.00"]
    assert [j.type for j in result.journals] == [TxnType.RECEIPT]


def test_overpayment_reverses_write_offs_by_line_number_not_priority():
    o = order(line(1, "100.00", priority=900), line(2, "100.00", priority=1))
    o.write_off(2, usd("20.00"), Reason.BAD_DEBT, posting_date=DAY)
    o.write_off(1, usd("20.00"), Reason.BAD_DEBT, posting_date=DAY)
    result = distribute(o, "180.00")  # pays both balances (160), 20 left
    reversed_ = [
        (j.write_off.line_no, str(j.amount))
        for j in result.journals
        if j.type is TxnType.WRITE_OFF_REVERSAL
    ]
    assert reversed_ == [(1, "20.00")]  # line 1 first, although line 2 has the higher priority


def test_overpayment_reverses_a_lines_write_offs_oldest_first_and_partially():
    o = order(line(1, "100.00"))
    o.write_off(1, usd("10.00"), Reason.BAD_DEBT, posting_date=DAY)
    o.write_off(1, usd("15.00"), Reason.SMALL_BALANCE, posting_date=DAY)
    older, newer = o.lines[0].write_offs
    distribute(o, "75.00")  # pays the 75.00 balance exactly
    distribute(o, "18.00")
    assert (str(older.reversed_amount), str(newer.reversed_amount)) == ("10.00", "8.00")
    assert balances(o) == ["0.00"]


def test_overpayment_continues_to_the_next_line_when_one_lines_write_offs_run_out():
    o = order(line(1, "50.00"), line(2, "50.00"))
    o.write_off(1, usd("5.00"), Reason.BAD_DEBT, posting_date=DAY)
    o.write_off(2, usd("7.00"), Reason.BAD_DEBT, posting_date=DAY)
    distribute(o, "98.00")  # 88 pays the balances; 5 reverses line 1; 5 of line 2's 7
    assert [str(w.reversed_amount) for x in o.lines for w in x.write_offs] == ["5.00", "5.00"]
    assert balances(o) == ["0.00", "0.00"]


def test_overpayment_skips_advanced_adjustment_write_offs():
    o = order(line(1, "50.00"))
    o.write_off(1, usd("10.00"), Reason.OTHER, posting_date=DAY, advanced=True)
    result = distribute(o, "60.00")
    assert [j.type for j in result.journals] == [TxnType.RECEIPT]
    assert balances(o) == ["-20.00"]


def test_overpayment_never_reverses_a_credit_balance_write_off():
    o = order(line(1, "50.00", balance="-10.00"))
    o.write_off(1, usd("10.00"), Reason.SMALL_BALANCE, posting_date=DAY)
    assert balances(o) == ["0.00"]
    result = distribute(o, "5.00")
    assert [j.type for j in result.journals] == [TxnType.RECEIPT]
    assert balances(o) == ["-5.00"]


def test_overpayment_reverses_a_zero_balance_write_off_like_a_debit_one():
    o = order(line(1, "100.00", balance="0.00"))
    o.write_off(1, usd("50.00"), Reason.GOODWILL, posting_date=DAY)  # leaves a 50.00 credit
    result = distribute(o, "20.00")
    assert [j.type for j in result.journals] == [TxnType.RECEIPT, TxnType.WRITE_OFF_REVERSAL]
    assert balances(o) == ["-50.00"]


def test_the_remainder_is_a_credit_on_the_first_line():
    o = order(line(2, "10.00", priority=1), line(1, "10.00", priority=2))
    distribute(o, "25.00")
    assert [x.line_no for x in o.lines] == [1, 2]
    assert balances(o) == ["-5.00", "0.00"]


def test_a_receipt_in_another_currency_is_refused():
    o = order(line(1, "10.00"))
    with pytest.raises(CurrencyMismatch):
        o.distribute(Money.parse("5", "EUR"), debit_account="1000", posting_date=DAY, receipt_id=1)


def test_a_transfer_distributes_with_the_same_rules_from_the_unapplied_account():
    o = worked_example_order()
    result = o.distribute(
        usd("100.00"),
        debit_account="2100",
        posting_date=DAY,
        receipt_id=3,
        journal_type=TxnType.TRANSFER,
    )
    journal = result.journals[0]
    assert journal.type is TxnType.TRANSFER and journal.type.code == 3
    assert journal.entries[0].account == "2100"
    assert balances(o) == ["200.00", "50.00", "0.00"]  # DUES (101) takes it all


def test_every_distribution_conserves_the_money():
    o = worked_example_order()
    for amount in ("0.01", "99.99", "123.45", "500.00"):
        before = o.balance
        result = distribute(o, amount)
        assert sum(a.amount.amount for a in result.applications) == usd(amount).amount
        reversed_ = sum(
            (j.amount.amount for j in result.journals if j.type is TxnType.WRITE_OFF_REVERSAL),
            start=0,
        )
        assert (before - o.balance).amount == usd(amount).amount - reversed_
