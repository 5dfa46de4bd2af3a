"""Matching through the real services, on SQLite and PostgreSQL in turn (docs/rules.md section 14).

Each test submits receipts as an intake channel does (operator, gateway, lockbox file), lets the
distribution batch match them against the sample organisation (C-1: O-100, balance 350.00; C-2:
O-101, 235.00; C-3, billed to its parent C-2: O-102, 85.00), and reads back where the money went,
how the receipt says it was placed, and that every invariant of `arledger check` still holds.
"""

from __future__ import annotations

import json
from datetime import date

from ledger.domain.matching_config import MatchConfig, parse_tolerance
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.intake.gateway import parse_event
from ledger.persistence.db import unit_of_work
from ledger.persistence.unit_of_work import UnitOfWork
from ledger.queries.check import check_invariants
from ledger.queries.views import exceptions_view, order_view
from ledger.services.events import process_event, submit_event
from ledger.services.lockbox import file_summary, import_lockbox
from ledger.services.receipts import (
    apply_receipt,
    distribute_receipt,
    reverse_receipt,
    submit_receipt,
)
from tasks import dispatch

NOV = date(2026, 11, 5)


def receive(settings, external_id, amount, *, automated=True, order=None, **fields):
    money = Money.parse(amount, "USD")
    intake = submit_receipt(
        settings,
        ReceiptRequest(
            source="lockbox" if automated else "operator",
            external_id=external_id,
            amount=money,
            received_date=NOV,
            allocations=((order, money),) if order else (),
            automated=automated,
            **fields,
        ),
    )
    return distribute_receipt(settings, intake.receipt_id)


def order(settings, number):
    with unit_of_work(settings.database_url) as session:
        return order_view(session, number)


def assert_sound(settings):
    with unit_of_work(settings.database_url) as session:
        assert [str(v) for v in check_invariants(session)] == []


def test_remittance_text_places_a_receipt_on_the_order_it_names(loaded):
    view = receive(loaded, "r1", "350.00", remittance="Payment for INV#o-0100, thank you")

    assert view["status"] == "applied"
    assert view["orders"] == ["O-100"]
    assert view["match"]["rule"] == "reference"
    assert "O-100" in view["match"]["references"]
    assert order(loaded, "O-100")["balance"] == "0.00"
    assert_sound(loaded)


def test_a_named_order_that_does_not_exist_is_read_as_remittance(loaded):
    view = receive(loaded, "r1", "100.00", order="o 0100", automated=False)

    assert (view["status"], view["orders"], view["match"]["rule"]) == (
        "applied",
        ["O-100"],
        "reference",
    )


def test_another_customers_order_in_the_remittance_is_never_paid(loaded):
    view = receive(loaded, "r1", "10.00", customer="C-1", remittance="for O-101")

    assert view["status"] == "unapplied"
    assert view["orders"] == []
    assert view["match"] is None
    assert order(loaded, "O-101")["balance"] == "235.00"
    assert_sound(loaded)


def test_a_payer_account_learnt_from_an_operator_identifies_the_next_receipt(loaded):
    first = receive(loaded, "r1", "100.00", payer_account="021000021 12345")
    assert first["status"] == "unidentified"

    applied = apply_receipt(loaded, first["id"], "O-100")
    assert applied["match"] == {"rule": "operator", "references": ["O-100"]}

    # Written differently, the same account; 250.00 is O-100's balance now.
    second = receive(loaded, "r2", "250.00", payer_account="021000021-12345")
    assert second["status"] == "applied"
    assert second["customer"] == "C-1"
    assert second["match"]["rule"] == "payer_account+exact_amount"
    assert order(loaded, "O-100")["balance"] == "0.00"
    assert_sound(loaded)


def test_an_operator_never_moves_a_payer_account_another_customer_holds(loaded):
    first = receive(loaded, "r1", "10.00", payer_account="ACCT-9")
    apply_receipt(loaded, first["id"], "O-100")  # ACCT-9 is C-1's now
    second = receive(loaded, "r2", "10.00", payer_account="ACCT-9", customer="C-2")
    apply_receipt(loaded, second["id"], "O-101")

    with UnitOfWork(loaded.database_url) as uow:
        assert uow.matching.payer_customers(["ACCT9"]) == {"ACCT9": "C-1"}


def test_the_whole_balance_of_a_parent_pays_its_childrens_orders_too(loaded):
    view = receive(loaded, "r1", "320.00", customer="C-2")

    assert view["status"] == "applied"
    assert sorted(view["orders"]) == ["O-101", "O-102"]
    assert view["match"]["rule"] == "whole_balance"
    assert_sound(loaded)


def test_a_short_payment_within_tolerance_is_applied_and_the_rest_written_off(loaded):
    with UnitOfWork(loaded.database_url) as uow:
        uow.matching.set_config(
            "ASSN", MatchConfig().with_tolerance("USD", parse_tolerance("USD", "1.00"))
        )
        uow.commit()

    view = receive(loaded, "r1", "349.50", customer="C-1")

    assert (view["status"], view["match"]["rule"]) == ("applied", "exact_amount")
    o100 = order(loaded, "O-100")
    assert o100["balance"] == "0.00"
    written = [w for line in o100["lines"] for w in line["write_offs"]]
    assert [(w["amount"], w["reason"], w["automatic"]) for w in written] == [
        ("0.50", "SMALL_BALANCE", True)
    ]
    assert_sound(loaded)


def test_reversing_a_short_payment_makes_the_shortfall_owed_again(loaded):
    with UnitOfWork(loaded.database_url) as uow:
        uow.matching.set_config(
            "ASSN", MatchConfig().with_tolerance("USD", parse_tolerance("USD", "1.00"))
        )
        uow.commit()
    before = [line["balance"] for line in order(loaded, "O-100")["lines"]]
    view = receive(loaded, "r1", "349.50", customer="C-1")

    reverse_receipt(loaded, view["id"], "returned check")

    o100 = order(loaded, "O-100")
    assert [line["balance"] for line in o100["lines"]] == before
    (written,) = [w for line in o100["lines"] for w in line["write_offs"]]
    assert (written["amount"], written["reversed"]) == ("0.50", "0.50")
    assert_sound(loaded)


def test_a_receipt_left_waiting_suggests_orders_in_the_exception_queue(loaded):
    receive(loaded, "r1", "10.00", customer="C-1", remittance="for O-101")

    with unit_of_work(loaded.database_url) as session:
        (item,) = [i for i in exceptions_view(session) if i["kind"] == "receipt"]
    assert isinstance(item["suggestions"], list)
    assert all(set(s) == {"order", "reason"} for s in item["suggestions"])


def test_a_lockbox_file_with_remittance_columns_counts_receipts_by_rule(loaded, tmp_path):
    path = tmp_path / "bank.csv"
    path.write_text(
        "batch,item,deposit_date,check_number,check_amount,currency,customer,order,"
        "applied_amount,remittance,payer_account\n"
        "1,1,2026-11-05,101,350.00,USD,,,,INV O-100,\n"
        "1,2,2026-11-05,102,235.00,USD,C-2,O-101,235.00,,\n"
        "1,3,2026-11-05,103,5.00,USD,,,,no reference,\n"
    )
    imported = import_lockbox(
        loaded, path, on_received=lambda ids: dispatch.distribute(loaded, ids)
    )

    summary = file_summary(loaded, imported.file_id)
    assert summary["by_rule"] == {"named": 1, "none": 1, "reference": 1}
    assert (summary["applied_items"], summary["unapplied_items"]) == (2, 1)
    assert_sound(loaded)


def gateway_event(event_id, kind, amount, **fields):
    body = {
        "event_id": event_id,
        "type": kind,
        "gateway": "acme",
        "payment_id": "pay-1",
        "currency": "USD",
        "amount": amount,
        "occurred_at": "2026-11-05T10:00:00Z",
        **fields,
    }
    return parse_event(json.dumps(body))


def test_the_rest_of_a_partial_refund_keeps_the_payments_match(loaded):
    paid = submit_event(
        loaded, gateway_event("e1", "payment.succeeded", "350.00", remittance="O-100 membership")
    )
    assert distribute_receipt(loaded, paid.receipt_id)["match"]["rule"] == "reference"

    refund = submit_event(loaded, gateway_event("e2", "payment.refunded", "100.00"))
    outcome = process_event(loaded, refund.event_row)
    assert outcome.new_receipt is not None
    rest = distribute_receipt(loaded, outcome.new_receipt)

    assert (rest["status"], rest["orders"], rest["amount"]) == ("applied", ["O-100"], "250.00")
    assert rest["match"] == distribute_receipt(loaded, paid.receipt_id)["match"]
    assert order(loaded, "O-100")["balance"] == "100.00"
    assert_sound(loaded)
