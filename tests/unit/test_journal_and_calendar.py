"""docs/rules.md sections 2 and 3: balanced journals, transaction codes, and posting dates in periods."""

from datetime import date

import pytest

from ledger.domain.calendar import Calendar, Period
from ledger.domain.errors import CurrencyMismatch, PeriodClosed, UnbalancedJournal
from ledger.domain.journal import Journal, Side, TxnType, credit, debit
from ledger.domain.money import Money
from tests.support.factories import DAY, usd


def test_transaction_codes_are_those_of_spec_section_4():
    assert {t.value: t.code for t in TxnType} == {
        "SALE": 4,
        "RECEIPT": 1,
        "UNAPPLIED": 1,
        "TRANSFER": 3,
        "WRITE_OFF": 5,
        "WRITE_OFF_REVERSAL": 5,
        "RECEIPT_REVERSAL": 1,
    }


def test_a_journal_whose_debits_and_credits_differ_cannot_be_built():
    with pytest.raises(UnbalancedJournal, match="debits 10.00 != credits 9.99"):
        Journal(
            TxnType.RECEIPT, DAY, (debit("1000", usd("10.00")), credit("1100", usd("9.99"))), "USD"
        )


def test_a_journal_needs_two_entries():
    with pytest.raises(UnbalancedJournal):
        Journal(TxnType.RECEIPT, DAY, (debit("1000", usd("10.00")),), "USD")


@pytest.mark.parametrize("amount", ["0.00", "-1.00"])
def test_every_entry_is_a_positive_debit_or_credit(amount):
    with pytest.raises(UnbalancedJournal):
        Journal(
            TxnType.RECEIPT, DAY, (debit("1000", usd(amount)), credit("1100", usd(amount))), "USD"
        )


def test_a_journal_is_in_one_currency():
    with pytest.raises(CurrencyMismatch):
        Journal(
            TxnType.RECEIPT,
            DAY,
            (debit("1000", Money.parse("1", "EUR")), credit("1100", Money.parse("1", "EUR"))),
            "USD",
        )


def test_a_receipt_reversal_mirrors_each_entry():
    original = Journal(
        TxnType.RECEIPT,
        DAY,
        (
            debit("1000", usd("30.00")),
            credit("1100", usd("20.00"), "O-1", 2),
            credit("1100", usd("10.00"), "O-1", 3),
        ),
        "USD",
        order="O-1",
        receipt_id=9,
        id=40,
    )
    mirror = original.mirror(posting_date=DAY, receipt_id=9, memo="returned check")
    assert mirror.type is TxnType.RECEIPT_REVERSAL and mirror.reverses == 40
    assert mirror.order == "O-1" and mirror.id is None
    assert [(e.account, e.side, str(e.amount), e.order, e.line_no) for e in mirror.entries] == [
        ("1000", Side.CREDIT, "30.00", None, None),
        ("1100", Side.DEBIT, "20.00", "O-1", 2),
        ("1100", Side.DEBIT, "10.00", "O-1", 3),
    ]


CALENDAR = Calendar(
    [
        Period("2026-09", date(2026, 9, 1), date(2026, 9, 30), False),
        Period("2026-10", date(2026, 10, 1), date(2026, 10, 31), False),
        Period("2026-11", date(2026, 11, 1), date(2026, 11, 30), True),
    ]
)


def test_an_operator_posting_dated_in_a_closed_period_is_refused():
    with pytest.raises(PeriodClosed, match="2026-10-15 falls in closed period 2026-10"):
        CALENDAR.operator_date(date(2026, 10, 15))


def test_an_operator_posting_in_an_open_period_or_outside_any_period_keeps_its_date():
    assert CALENDAR.operator_date(date(2026, 11, 2)) == date(2026, 11, 2)
    assert CALENDAR.operator_date(date(2027, 1, 2)) == date(2027, 1, 2)


def test_an_automated_receipt_in_a_closed_period_posts_on_the_first_day_of_the_next_open_period():
    assert CALENDAR.automated_date(date(2026, 9, 20)) == date(
        2026, 11, 1
    )  # skips closed 2026-10 too
    assert CALENDAR.automated_date(date(2026, 10, 31)) == date(2026, 11, 1)
    assert CALENDAR.automated_date(date(2026, 11, 5)) == date(2026, 11, 5)


def test_no_periods_means_every_date_is_open():
    assert Calendar([]).operator_date(date(2000, 1, 1)) == date(2000, 1, 1)
