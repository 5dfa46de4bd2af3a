"""docs/rules.md section 5: every write-off rule, and the journal each kind of write-off posts."""

import pytest

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
from ledger.domain.journal import Side, TxnType, WriteOffKey
from ledger.domain.money import Money
from ledger.domain.order import Reason, WriteOffKind
from tests.support.factories import DAY, balances, line, order, usd


def entries(journal):
    return [(e.account, e.side, str(e.amount)) for e in journal.entries]


def test_a_partial_write_off_of_a_debit_balance_is_allowed():
    o = order(line(1, "100.00"))
    write_off, journal = o.write_off(1, usd("40.00"), Reason.BAD_DEBT, posting_date=DAY)
    assert write_off.kind is WriteOffKind.DEBIT
    assert balances(o) == ["60.00"]
    assert journal.type is TxnType.WRITE_OFF and journal.type.code == 5
    assert entries(journal) == [("6100", Side.DEBIT, "40.00"), ("1100", Side.CREDIT, "40.00")]


def test_a_debit_balance_write_off_may_equal_the_balance():
    o = order(line(1, "100.00", balance="30.00"))
    o.write_off(1, usd("30.00"), Reason.SMALL_BALANCE, posting_date=DAY)
    assert balances(o) == ["0.00"]


def test_a_write_off_above_the_debit_balance_is_refused_with_the_numbers():
    o = order(line(1, "100.00", balance="30.00"))
    with pytest.raises(WriteOffExceedsBalance, match=r"30.01 exceeds the line balance 30.00"):
        o.write_off(1, usd("30.01"), Reason.BAD_DEBT, posting_date=DAY)
    assert balances(o) == ["30.00"] and o.lines[0].write_offs == []


def test_a_zero_balance_write_off_leaves_a_credit_balance():
    o = order(line(1, "100.00", balance="0.00"))
    write_off, journal = o.write_off(1, usd("50.00"), Reason.GOODWILL, posting_date=DAY)
    assert write_off.kind is WriteOffKind.ZERO
    assert balances(o) == ["-50.00"]
    assert entries(journal) == [("6100", Side.DEBIT, "50.00"), ("1100", Side.CREDIT, "50.00")]


def test_a_zero_balance_write_off_may_not_exceed_the_line_amount():
    o = order(line(1, "100.00", balance="0.00"))
    with pytest.raises(WriteOffExceedsLineAmount, match="100.01.*line amount 100.00"):
        o.write_off(1, usd("100.01"), Reason.GOODWILL, posting_date=DAY)


def test_a_credit_balance_write_off_posts_to_the_org_units_unearned_income_account():
    o = order(line(1, "100.00", balance="-25.00"))
    write_off, journal = o.write_off(1, usd("25.00"), Reason.SMALL_BALANCE, posting_date=DAY)
    assert write_off.kind is WriteOffKind.CREDIT
    assert entries(journal) == [("1100", Side.DEBIT, "25.00"), ("2200", Side.CREDIT, "25.00")]
    assert balances(o) == ["0.00"]


def test_a_credit_balance_write_off_may_not_exceed_the_credit():
    o = order(line(1, "100.00", balance="-25.00"))
    with pytest.raises(WriteOffExceedsCreditBalance, match="25.01.*credit balance 25.00"):
        o.write_off(1, usd("25.01"), Reason.SMALL_BALANCE, posting_date=DAY)


def test_an_inventoried_product_that_has_not_shipped_cannot_be_written_off():
    o = order(line(1, "50.00", product="BOOK", inventoried=True, shipped=False))
    with pytest.raises(ProductNotShipped, match="BOOK.*not been shipped"):
        o.write_off(1, usd("10.00"), Reason.BAD_DEBT, posting_date=DAY)


def test_an_inventoried_product_that_has_shipped_can_be_written_off():
    o = order(line(1, "50.00", inventoried=True, shipped=True))
    o.write_off(1, usd("10.00"), Reason.BAD_DEBT, posting_date=DAY)
    assert balances(o) == ["40.00"]


def test_a_child_billed_to_a_parent_writes_off_only_the_full_line_balance():
    o = order(line(1, "60.00"), bills_to_parent=True)
    with pytest.raises(ChildWriteOffMustBeFullBalance, match="full line balance 60.00.*not 20.00"):
        o.write_off(1, usd("20.00"), Reason.BAD_DEBT, posting_date=DAY)
    o.write_off(1, usd("60.00"), Reason.BAD_DEBT, posting_date=DAY)
    assert balances(o) == ["0.00"]


def test_a_child_order_with_anything_paid_cannot_be_written_off():
    o = order(
        line(1, "60.00", balance="60.00"),
        line(2, "40.00", balance="0.00"),
        bills_to_parent=True,
        paid="40.00",
    )
    with pytest.raises(ChildOrderAlreadyPaid, match="40.00 has been paid on order O-100"):
        o.write_off(1, usd("60.00"), Reason.BAD_DEBT, posting_date=DAY)


def test_paying_a_child_order_blocks_its_later_write_off():
    o = order(line(1, "60.00"), line(2, "10.00"), bills_to_parent=True)
    o.distribute(usd("10.00"), debit_account="1000", posting_date=DAY, receipt_id=1)
    with pytest.raises(ChildOrderAlreadyPaid):
        o.write_off(2, usd("10.00"), Reason.BAD_DEBT, posting_date=DAY)


@pytest.mark.parametrize("reason", [r.value for r in Reason])
def test_every_reason_of_the_fixed_list_is_accepted(reason):
    assert Reason.parse(reason).value == reason


@pytest.mark.parametrize("reason", ["bad_debt", "WRITE_OFF", "", "BAD DEBT"])
def test_reasons_outside_the_fixed_list_are_refused(reason):
    with pytest.raises(UnknownReason, match="must be one of BAD_DEBT"):
        Reason.parse(reason)


def test_the_reason_list_is_exactly_the_spec_list():
    assert [r.value for r in Reason] == [
        "BAD_DEBT",
        "GOODWILL",
        "BILLING_ERROR",
        "SALES_RETURN",
        "PROMOTIONAL_DISCOUNT",
        "SMALL_BALANCE",
        "OTHER",
    ]


def test_the_write_off_account_can_be_overridden():
    o = order(line(1, "100.00"), line(2, "10.00", balance="-10.00"))
    _, debit_journal = o.write_off(
        1, usd("5.00"), Reason.GOODWILL, posting_date=DAY, account="6200"
    )
    _, credit_journal = o.write_off(
        2, usd("10.00"), Reason.SMALL_BALANCE, posting_date=DAY, account="4900"
    )
    assert entries(debit_journal)[0] == ("6200", Side.DEBIT, "5.00")
    assert entries(credit_journal)[1] == ("4900", Side.CREDIT, "10.00")


def test_the_override_may_not_be_the_lines_ar_account():
    o = order(line(1, "100.00"))
    with pytest.raises(WriteOffAccountIsArAccount):
        o.write_off(1, usd("5.00"), Reason.GOODWILL, posting_date=DAY, account="1100")


@pytest.mark.parametrize("amount", ["0.00", "-1.00"])
def test_zero_and_negative_write_offs_are_refused(amount):
    o = order(line(1, "100.00"))
    with pytest.raises(AmountNotPositive):
        o.write_off(1, usd(amount), Reason.BAD_DEBT, posting_date=DAY)


def test_an_unknown_line_is_refused():
    with pytest.raises(UnknownLine, match="has no line 9"):
        order(line(1, "1.00")).write_off(9, usd("1.00"), Reason.BAD_DEBT, posting_date=DAY)


def test_a_write_off_in_another_currency_is_refused():
    with pytest.raises(CurrencyMismatch):
        order(line(1, "1.00")).write_off(
            1, Money.parse("1", "EUR"), Reason.BAD_DEBT, posting_date=DAY
        )


def test_writing_off_a_whole_order_is_one_write_off_per_owed_line():
    o = order(line(1, "10.00"), line(2, "20.00", balance="0.00"), line(3, "30.00"))
    made = o.write_off_order(Reason.BAD_DEBT, posting_date=DAY)
    assert [(w.key.line_no, str(w.amount)) for w, _ in made] == [(1, "10.00"), (3, "30.00")]
    assert balances(o) == ["0.00", "0.00", "0.00"]


def test_a_whole_order_write_off_is_all_or_nothing():
    o = order(line(1, "10.00"), line(2, "20.00", inventoried=True, shipped=False))
    with pytest.raises(ProductNotShipped):
        o.write_off_order(Reason.BAD_DEBT, posting_date=DAY)


def test_a_whole_order_with_nothing_owed_is_refused():
    with pytest.raises(NothingToWriteOff):
        order(line(1, "10.00", balance="0.00")).write_off_order(Reason.BAD_DEBT, posting_date=DAY)


def test_an_operator_can_reverse_a_write_off_fully():
    o = order(line(1, "100.00"))
    write_off, _ = o.write_off(1, usd("40.00"), Reason.BAD_DEBT, posting_date=DAY)
    journal = o.reverse_write_off(write_off.key, None, posting_date=DAY)
    assert journal.type is TxnType.WRITE_OFF_REVERSAL
    assert entries(journal) == [("1100", Side.DEBIT, "40.00"), ("6100", Side.CREDIT, "40.00")]
    assert balances(o) == ["100.00"] and write_off.unreversed.is_zero


def test_an_operator_can_reverse_a_write_off_partly_up_to_its_unreversed_amount():
    o = order(line(1, "100.00"))
    write_off, _ = o.write_off(1, usd("40.00"), Reason.BAD_DEBT, posting_date=DAY)
    o.reverse_write_off(write_off.key, usd("15.00"), posting_date=DAY)
    assert str(write_off.unreversed) == "25.00" and balances(o) == ["75.00"]
    with pytest.raises(
        WriteOffReversalExceedsUnreversed, match="25.01 exceeds the unreversed amount 25.00"
    ):
        o.reverse_write_off(write_off.key, usd("25.01"), posting_date=DAY)
    o.reverse_write_off(write_off.key, None, posting_date=DAY)
    with pytest.raises(WriteOffReversalExceedsUnreversed):
        o.reverse_write_off(write_off.key, None, posting_date=DAY)


def test_reversing_a_credit_balance_write_off_restores_the_credit():
    o = order(line(1, "100.00", balance="-25.00"))
    write_off, _ = o.write_off(1, usd("25.00"), Reason.SMALL_BALANCE, posting_date=DAY)
    journal = o.reverse_write_off(write_off.key, None, posting_date=DAY)
    assert entries(journal) == [("2200", Side.DEBIT, "25.00"), ("1100", Side.CREDIT, "25.00")]
    assert balances(o) == ["-25.00"]


def test_an_operator_may_reverse_an_advanced_adjustment():
    o = order(line(1, "100.00"))
    write_off, _ = o.write_off(1, usd("10.00"), Reason.OTHER, posting_date=DAY, advanced=True)
    o.reverse_write_off(write_off.key, None, posting_date=DAY)
    assert balances(o) == ["100.00"]


def test_reversing_an_unknown_write_off_is_refused():
    with pytest.raises(UnknownWriteOff):
        order(line(1, "1.00")).reverse_write_off(WriteOffKey("O-100", 1, 1), None, posting_date=DAY)
