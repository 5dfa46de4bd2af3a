"""The receipt aggregate's rules, without a database: distribution, apply, retry, reversal,
settlement of refunds and disputes, and the applied / unapplied / reversed split."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date

import pytest

from ledger.domain.calendar import Calendar, Period
from ledger.domain.errors import (
    AmountNotPositive,
    ApplyExceedsUnapplied,
    CurrencyMismatch,
    InputRefused,
    NoOrgUnit,
    NothingUnapplied,
    PeriodClosed,
    ReceiptAlreadyReversed,
    ReceiptNotProcessed,
    UnknownOrgUnit,
)
from ledger.domain.journal import Journal, Side, TxnType
from ledger.domain.money import Money
from ledger.domain.order import Line, Order, Reason
from ledger.domain.receipt import (
    CAUSED_BY_RECEIPT,
    EventStatus,
    Receipt,
    ReceiptSplit,
    ReceiptStatus,
    bank_credit_reported_again,
    bank_receipt_key,
    choose_org_unit,
    reinstatement,
    settle,
)
from tests.support.factories import DAY, book_of, split_of, usd


@dataclass(frozen=True)
class Unit:
    code: str
    cash_account: str
    unapplied_account: str


UNITS = {"ASSN": Unit("ASSN", "1000", "2100"), "FDN": Unit("FDN", "1010", "2110")}
CALENDAR = Calendar([Period("2026-11", date(2026, 11, 1), date(2026, 11, 30), True)])
_ids = itertools.count(1000)


def make_order(number: str, order_id: int, *amounts: str, currency: str = "USD") -> Order:
    return Order(
        number=number,
        customer_id=f"C-{order_id}",
        currency=currency,
        org_unit="ASSN",
        credit_writeoff_account="2200",
        lines=[
            Line(
                line_no=n,
                product="P",
                priority=100 + n,
                amount=Money.parse(amount, currency),
                balance=Money.parse(amount, currency),
                ar_account="1100",
                revenue_account="4000",
                writeoff_account="6100",
                inventoried=False,
                shipped=True,
            )
            for n, amount in enumerate(amounts, start=1)
        ],
    )


def receipt(
    amount: str,
    *requested: tuple[str, str],
    customer: str | None = None,
    automated: bool = True,
    status: ReceiptStatus = ReceiptStatus.QUEUED,
    received: date = DAY,
) -> Receipt:
    return Receipt(
        id=next(_ids),
        amount=usd(amount),
        status=status,
        received_date=received,
        automated=automated,
        requested=tuple((number, usd(share)) for number, share in requested),
        customer_id=customer,
    )


def stored(journals: Iterable[Journal]) -> list[Journal]:
    """The journals as reading them back would give them: with row ids, so they can be mirrored."""
    return [replace(journal, id=next(_ids)) for journal in journals]


# --- distribution ------------------------------------------------------------------------------


def test_a_receipt_paying_its_orders_exactly_is_applied():
    # Both are C-1's: a split check pays one customer's orders (SPEC section 15, "never").
    a, b = make_order("O-1", 1, "60.00"), make_order("O-2", 1, "30.00", "10.00")
    r = receipt("100.00", ("O-1", "60.00"), ("O-2", "40.00"))
    journals = r.distribute(book_of(a, b), UNITS, None, CALENDAR, {})
    assert [j.type for j in journals] == [TxnType.RECEIPT, TxnType.RECEIPT]
    assert (r.status, r.status_reason, r.customer_id, r.org_unit) == (
        ReceiptStatus.APPLIED,
        None,
        "C-1",
        "ASSN",
    )
    assert a.balance.is_zero and b.balance.is_zero
    assert journals[0].entries[0].account == "1000"  # the org unit's cash account


def test_the_rest_is_parked_unapplied_and_unknown_orders_are_named():
    a = make_order("O-1", 1, "60.00")
    r = receipt("100.00", ("O-1", "60.00"), ("O-9", "20.00"))
    journals = r.distribute(book_of(a), UNITS, None, CALENDAR, {})
    parked = journals[-1]
    assert parked.type is TxnType.UNAPPLIED and parked.amount == usd("40.00")
    assert [(e.account, e.side) for e in parked.entries] == [
        ("1000", Side.DEBIT),
        ("2100", Side.CREDIT),
    ]
    assert r.status is ReceiptStatus.UNAPPLIED
    assert r.status_reason == "order O-9 not found"


def test_an_order_in_another_currency_takes_nothing():
    eur = make_order("O-1", 1, "60.00", currency="EUR")
    r = receipt("60.00", ("O-1", "60.00"), customer="C-1")
    journals = r.distribute(book_of(eur), UNITS, None, CALENDAR, {})
    assert [j.type for j in journals] == [TxnType.UNAPPLIED]
    assert r.status_reason == "order O-1 is in EUR, the receipt in USD"
    assert eur.balance == Money.parse("60.00", "EUR")
    # The order was found, so its org unit books the receipt.
    assert r.org_unit == "ASSN"


def test_no_customer_and_no_order_makes_it_unidentified_on_the_default_unit():
    r = receipt("25.00")
    journals = r.distribute(book_of(), UNITS, "FDN", CALENDAR, {})
    assert r.status is ReceiptStatus.UNIDENTIFIED and r.org_unit == "FDN"
    assert journals[0].entries[0].account == "1010"


def test_a_reason_from_intake_is_kept():
    r = receipt("25.00")
    r.status_reason = "unknown customer C-404"
    r.distribute(book_of(), UNITS, "ASSN", CALENDAR, {})
    assert r.status_reason == "unknown customer C-404"


def test_org_unit_choice():
    assert choose_org_unit(UNITS, "FDN").code == "FDN"
    assert choose_org_unit({"ASSN": UNITS["ASSN"]}, None).code == "ASSN"
    with pytest.raises(UnknownOrgUnit):
        choose_org_unit(UNITS, "NOPE")
    with pytest.raises(NoOrgUnit):
        choose_org_unit(UNITS, None)


def test_a_refused_receipt_touches_no_order_and_fails():
    a = make_order("O-1", 1, "60.00")
    closed = Calendar([Period("2026-11", date(2026, 11, 1), date(2026, 11, 30), False)])
    r = receipt("60.00", ("O-1", "60.00"), automated=False)
    with pytest.raises(PeriodClosed) as refused:
        r.distribute(book_of(a), UNITS, None, closed, {})
    assert a.balance == usd("60.00")
    r.fail(refused.value.message)
    assert r.status is ReceiptStatus.FAILED
    with pytest.raises(InputRefused):
        r.fail("again")


def test_an_automated_receipt_in_a_closed_period_posts_in_the_next_open_one():
    calendar = Calendar(
        [
            Period("2026-10", date(2026, 10, 1), date(2026, 10, 31), False),
            Period("2026-11", date(2026, 11, 1), date(2026, 11, 30), True),
        ]
    )
    r = receipt("10.00", received=date(2026, 10, 20))
    (journal,) = r.distribute(book_of(), UNITS, "ASSN", calendar, {})
    assert journal.posting_date == date(2026, 11, 1)
    assert journal.original_date == date(2026, 10, 20)


def test_only_a_queued_receipt_is_distributed():
    r = receipt("10.00", status=ReceiptStatus.APPLIED)
    with pytest.raises(InputRefused):
        r.distribute(book_of(), UNITS, "ASSN", CALENDAR, {})


# --- apply, retry ------------------------------------------------------------------------------


def test_apply_moves_parked_money_with_a_transfer():
    a = make_order("O-1", 1, "30.00")
    r = receipt("50.00", customer="C-7")
    made = r.distribute(book_of(), UNITS, "ASSN", CALENDAR, {})
    journals = r.apply(a, usd("20.00"), usd("50.00"), unapplied_account="2100", posting_date=DAY)
    assert [j.type for j in journals] == [TxnType.TRANSFER]
    assert journals[0].entries[0].account == "2100"
    assert r.status is ReceiptStatus.UNAPPLIED and a.balance == usd("10.00")
    assert split_of(stored([*made, *journals])) == ReceiptSplit(2000, 3000, 0, 5000)
    r.apply(a, None, usd("30.00"), unapplied_account="2100", posting_date=DAY)
    assert r.status is ReceiptStatus.APPLIED and r.status_reason is None
    assert a.balance == usd("-20.00")  # the overpayment is a credit on the first line


def test_apply_refusals():
    r = receipt("50.00", customer="C-7")
    for status, error in [
        (ReceiptStatus.REVERSED, ReceiptAlreadyReversed),
        (ReceiptStatus.QUEUED, ReceiptNotProcessed),
        (ReceiptStatus.FAILED, ReceiptNotProcessed),
    ]:
        r.status = status
        with pytest.raises(error):
            r.check_apply(None, usd("10.00"))
    r.status = ReceiptStatus.UNAPPLIED
    with pytest.raises(NothingUnapplied):
        r.check_apply(None, usd("0.00"))
    with pytest.raises(AmountNotPositive):
        r.check_apply(usd("0.00"), usd("10.00"))
    with pytest.raises(ApplyExceedsUnapplied):
        r.check_apply(usd("10.01"), usd("10.00"))
    assert r.check_apply(None, usd("10.00")) == usd("10.00")
    with pytest.raises(CurrencyMismatch):
        r.apply(
            make_order("O-1", 1, "5.00", currency="EUR"),
            None,
            usd("10.00"),
            unapplied_account="2100",
            posting_date=DAY,
        )


def test_retry_and_requeue_transitions():
    r = receipt("50.00", status=ReceiptStatus.FAILED)
    r.status_reason = "no org unit"
    r.check_retry()
    r.requeue()
    assert (r.status, r.status_reason) == (ReceiptStatus.QUEUED, None)
    with pytest.raises(InputRefused):
        r.requeue()
    for status in (ReceiptStatus.QUEUED, ReceiptStatus.APPLIED, ReceiptStatus.REVERSED):
        r.status = status
        with pytest.raises(InputRefused, match="nothing to retry"):
            r.check_retry()
    for status in (ReceiptStatus.UNAPPLIED, ReceiptStatus.UNIDENTIFIED):
        r.status = status
        r.check_retry()


# --- reversal ----------------------------------------------------------------------------------


def test_reversal_mirrors_everything_newest_first_and_restores_the_orders():
    a = make_order("O-1", 1, "60.00")
    a.write_off(1, usd("10.00"), Reason.GOODWILL, posting_date=DAY)
    r = receipt("100.00", ("O-1", "80.00"), customer="C-1")
    made = stored(r.distribute(book_of(a), UNITS, None, CALENDAR, {}))
    assert [j.type for j in made] == [
        TxnType.RECEIPT,
        TxnType.WRITE_OFF_REVERSAL,
        TxnType.UNAPPLIED,
    ]
    assert a.lines[0].write_offs[0].unreversed.is_zero
    mirrors = r.reverse(made, {"O-1": a}, "returned check", DAY)
    assert [m.reverses for m in mirrors] == [j.id for j in reversed(made)]
    assert all(m.type is TxnType.RECEIPT_REVERSAL and m.memo == "returned check" for m in mirrors)
    assert a.balance == usd("50.00")  # as before the receipt: 60 less the 10 written off
    assert a.lines[0].write_offs[0].unreversed == usd("10.00")
    assert (r.status, r.status_reason) == (ReceiptStatus.REVERSED, "returned check")
    assert split_of(stored(mirrors) + made) == ReceiptSplit(0, 0, 10000, 10000)
    with pytest.raises(ReceiptAlreadyReversed):
        r.reverse([], {}, "again", DAY)


def test_reversal_needs_a_processed_receipt_and_its_own_journals():
    r = receipt("10.00")
    with pytest.raises(ReceiptNotProcessed):
        r.check_reversible()
    other = receipt("10.00")
    made = stored(other.distribute(book_of(), UNITS, "ASSN", CALENDAR, {}))
    r.status = ReceiptStatus.UNAPPLIED
    with pytest.raises(InputRefused, match="not caused by"):
        r.reverse(made, {}, "x", DAY)


def test_caused_by_receipt_is_what_a_receipt_posts():
    assert {t.value for t in CAUSED_BY_RECEIPT} == {
        "RECEIPT",
        "UNAPPLIED",
        "TRANSFER",
        "WRITE_OFF_REVERSAL",
        "WRITE_OFF",
    }


# --- the split ---------------------------------------------------------------------------------


def test_split_from_per_type_totals():
    assert ReceiptSplit.from_totals({"RECEIPT": 60, "UNAPPLIED": 40}, {}) == ReceiptSplit(
        60, 40, 0, 100
    )
    assert ReceiptSplit.from_totals(
        {"RECEIPT": 60, "UNAPPLIED": 40, "TRANSFER": 15}, {}
    ) == ReceiptSplit(75, 25, 0, 100)
    # Reversed: a mirrored transfer moves nothing; the receipt and the parked money are reversed.
    assert ReceiptSplit.from_totals(
        {"RECEIPT": 60, "UNAPPLIED": 40, "TRANSFER": 15},
        {"RECEIPT": 60, "UNAPPLIED": 40, "TRANSFER": 15},
    ) == ReceiptSplit(0, 0, 100, 100)
    assert ReceiptSplit.from_totals({}, {}) == ReceiptSplit(0, 0, 0, 0)


# --- refunds and disputes ----------------------------------------------------------------------


def test_settlement_waits_fails_or_reverses():
    asked = usd("30.00")
    assert settle(None, "payment.refunded", "evt_1", "pay_1", asked).status is EventStatus.WAITING
    r = receipt("50.00")
    assert r.settle("payment.refunded", "evt_1", "pay_1", asked).status is EventStatus.WAITING
    r.status, r.status_reason = ReceiptStatus.FAILED, "no org unit"
    waiting = r.settle("payment.disputed", "evt_1", "pay_1", asked)
    assert (waiting.status, waiting.reason) == (
        EventStatus.WAITING,
        "payment pay_1 failed to distribute: no org unit",
    )
    r.status = ReceiptStatus.REVERSED
    done = r.settle("payment.refunded", "evt_1", "pay_1", asked)
    assert (done.status, done.reverse) == (EventStatus.DONE, False)
    r.status = ReceiptStatus.APPLIED
    too_much = r.settle("payment.refunded", "evt_1", "pay_1", usd("50.01"))
    assert too_much.status is EventStatus.FAILED and "exceeds" in too_much.reason
    other = r.settle("payment.refunded", "evt_1", "pay_1", Money.parse("5.00", "EUR"))
    assert other.status is EventStatus.FAILED and "EUR" in other.reason
    full = r.settle("payment.disputed", "evt_2", "pay_1", usd("50.00"))
    assert (full.status, full.reverse, full.reversal_reason, full.rest) == (
        EventStatus.DONE,
        True,
        "dispute evt_2",
        None,
    )
    partial = r.settle("payment.refunded", "evt_3", "pay_1", asked)
    assert (partial.reverse, partial.rest, partial.reason) == (
        True,
        usd("20.00"),
        "partial refund",
    )


def test_a_reinstatement_waits_for_its_payment_and_for_the_withdrawal_it_gives_back():
    withdrawal = "dp_1:funds_withdrawn"
    waiting = reinstatement(None, "stripe:pi_1", withdrawal, EventStatus.DONE)
    assert (waiting.status, waiting.reason) == (
        EventStatus.WAITING,
        "payment stripe:pi_1 has not been received yet",
    )
    r = receipt("50.00")
    r.status = ReceiptStatus.APPLIED
    early = reinstatement(r, "stripe:pi_1", withdrawal, None)
    assert (early.status, early.reason) == (
        EventStatus.WAITING,
        "the withdrawal dp_1:funds_withdrawn it gives back has not arrived yet",
    )
    for status in (EventStatus.QUEUED, EventStatus.WAITING, EventStatus.FAILED):
        pending = reinstatement(r, "stripe:pi_1", withdrawal, status)
        assert pending.status is EventStatus.WAITING
        assert pending.reason == f"the withdrawal {withdrawal} it gives back is {status}, not taken"
    taken = reinstatement(r, "stripe:pi_1", withdrawal, EventStatus.DONE)
    assert (taken.status, taken.reverse) == (EventStatus.DONE, False)
    # A reversed receipt (the dispute took all it held) is the money the reinstatement gives back.
    r.status = ReceiptStatus.REVERSED
    assert reinstatement(r, "stripe:pi_1", withdrawal, EventStatus.DONE).status is EventStatus.DONE
    # Recorded before reinstatements named their withdrawal: it waits for its payment only.
    assert reinstatement(r, "stripe:pi_1", None, None).status is EventStatus.DONE


# --- a bank's credit reported again (docs/rules.md section 13) -----------------------------------


def test_a_bank_credit_reported_again_with_the_same_amount_is_the_receipt_already_received():
    assert bank_receipt_key("ACCT:REF:1") == "bank:ACCT:REF:1"
    # 10.0 and 10.00 are the same money: the bank wrote it differently, nothing changed.
    same = bank_credit_reported_again("bank:K", usd("10.00"), usd("10.0"), "was received")
    assert same is None


def test_a_bank_credit_reported_again_with_another_amount_or_currency_is_refused_naming_both():
    reason = bank_credit_reported_again("bank:K", usd("10.00"), usd("10.01"), "was received")
    assert reason == (
        "bank key bank:K was received with 10.00 USD, here with 10.01 USD: a credit reported "
        "again must keep its amount and currency"
    )
    other = bank_credit_reported_again(
        "bank:K", usd("10.00"), Money.parse("10.00", "EUR"), "is reported first on line 4"
    )
    assert other is not None and "10.00 USD" in other and "here with 10.00 EUR" in other
