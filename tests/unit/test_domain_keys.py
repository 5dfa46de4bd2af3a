"""The domain names things by domain keys, never by database row ids: an order by its number, a
line by its number within the order, a write-off by its WriteOffKey; a journal is immutable and
refers to its write-off by key."""

from __future__ import annotations

import dataclasses

import pytest

from ledger.domain.journal import Journal, TxnType, WriteOffKey
from ledger.domain.order import Line, Order, Reason, WriteOff
from tests.support.factories import DAY, balances, line, order, usd


def test_no_domain_object_has_a_row_id_field():
    for kind in (Order, Line, WriteOff):
        assert "id" not in {f.name for f in dataclasses.fields(kind)}, kind
    # A journal's id is only ever the one it was read back with.
    assert Journal.__dataclass_fields__["id"].default is None


def test_a_write_off_is_keyed_by_order_line_and_its_place_on_the_line():
    o = order(line(1, "100.00"), line(2, "50.00"))
    first, first_journal = o.write_off(1, usd("10.00"), Reason.BAD_DEBT, posting_date=DAY)
    second, _ = o.write_off(1, usd("5.00"), Reason.GOODWILL, posting_date=DAY)
    other, _ = o.write_off(2, usd("5.00"), Reason.GOODWILL, posting_date=DAY)
    assert (first.key, second.key, other.key) == (
        WriteOffKey("O-100", 1, 1),
        WriteOffKey("O-100", 1, 2),
        WriteOffKey("O-100", 2, 1),
    )
    assert first_journal.write_off == first.key
    assert isinstance(first_journal.write_off, WriteOffKey)
    assert o.write_off_at(second.key) == (o.line(1), second)


def test_a_journal_refers_to_its_write_off_by_key_and_cannot_be_changed():
    o = order(line(1, "100.00"))
    write_off, journal = o.write_off(1, usd("40.00"), Reason.BAD_DEBT, posting_date=DAY)
    reversal = o.reverse_write_off(write_off.key, usd("15.00"), posting_date=DAY)
    assert reversal.write_off == journal.write_off == WriteOffKey("O-100", 1, 1)
    assert reversal.order == "O-100" and reversal.id is None
    assert [(e.order, e.line_no) for e in reversal.entries] == [("O-100", 1), ("O-100", 1)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        reversal.id = 7  # type: ignore[misc]
    # The reversal moved the write-off it names, held by the order, not by the journal.
    assert str(write_off.unreversed) == "25.00"


def test_an_order_is_invoiced_paid_written_off_and_reversed_without_any_ids():
    o = Order(
        number="O-7",
        customer_id="C-7",
        currency="USD",
        org_unit="ASSN",
        credit_writeoff_account="2200",
        lines=[],
    )
    sale = o.invoice(
        [line(1, "60.00", balance="0.00"), line(2, "40.00", balance="0.00")],
        posting_date=DAY,
        order_date=DAY,
    )
    assert sale is not None and sale.order == "O-7"
    write_off, _ = o.write_off(2, usd("10.00"), Reason.BAD_DEBT, posting_date=DAY)
    paid = o.distribute(usd("95.00"), debit_account="1000", posting_date=DAY, receipt_id=1)
    # 60 + 30 pays the balances; 5 of the 10 written off is reversed by the overpayment.
    assert [j.type for j in paid.journals] == [TxnType.RECEIPT, TxnType.WRITE_OFF_REVERSAL]
    assert paid.journals[1].write_off == write_off.key
    assert str(write_off.unreversed) == "5.00"
    o.reverse_write_off(write_off.key, None, posting_date=DAY)
    assert balances(o) == ["0.00", "5.00"] and write_off.unreversed.is_zero
    stored = dataclasses.replace(paid.journals[1], id=42)  # as reading it back would give it
    mirror = stored.mirror(posting_date=DAY, receipt_id=1, memo="returned check")
    o.post(mirror)
    # Undoing the receipt's reversal credits the line again and gives the write-off back its 5.
    assert mirror.reverses == 42 and str(write_off.unreversed) == "5.00"
    assert balances(o) == ["0.00", "0.00"]


def test_an_entry_of_another_order_does_not_move_this_orders_lines():
    o = order(line(1, "100.00"))
    other = order(line(1, "100.00"))
    other.number = "O-200"
    _, journal = other.write_off(1, usd("10.00"), Reason.BAD_DEBT, posting_date=DAY)
    o.post(journal)
    assert balances(o) == ["100.00"] and balances(other) == ["90.00"]


def test_a_journals_amount_is_computed_once_when_it_is_built():
    o = order(line(1, "100.00"))
    paid = o.distribute(usd("30.00"), debit_account="1000", posting_date=DAY, receipt_id=1)
    journal = paid.journals[0]
    assert journal.amount == usd("30.00")
    assert "amount" in Journal.__dataclass_fields__ and not isinstance(
        vars(Journal).get("amount"), property
    )
