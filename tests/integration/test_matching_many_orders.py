"""Matching for a customer with more open orders than a batch reads whole, on SQLite and
PostgreSQL in turn (docs/rules.md section 14, docs/matching.md "Many open orders").

BIG has 40 open orders of one DUES line each (O-200 oldest, 100.00, up to O-239, 139.00) and a
child KID billed to it with two more; a batch reads the oldest 30 and those at a receipt's
amount as summaries and loads whole only what matching picks, or every open order when a rule
must see them all.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.intake.inputs import validate_load_file
from ledger.persistence.db import unit_of_work
from ledger.queries.check import check_invariants
from ledger.queries.views import order_view, receipt_view
from ledger.services.distribution import distribute_receipts
from ledger.services.receipts import load_file, submit_receipt
from tests.support.paths import SAMPLE

NOV = date(2026, 11, 5)
BIG_ORDERS = 40


def big_ledger() -> dict:
    data = json.loads(SAMPLE.read_text())
    data["customers"] += [
        {"id": "BIG", "name": "A distributor", "parent": None, "bills_to_parent": False},
        {"id": "KID", "name": "Its branch", "parent": "BIG", "bills_to_parent": True},
    ]
    start = date(2026, 1, 1)
    for n in range(BIG_ORDERS):
        data["orders"].append(order(f"O-{200 + n}", "BIG", start + timedelta(days=n), 100 + n))
    data["orders"] += [
        order("K-1", "KID", start + timedelta(days=50), 7),
        order("K-2", "KID", start + timedelta(days=51), 8),
    ]
    return data


def order(number: str, customer: str, day: date, amount: int) -> dict:
    return {
        "number": number,
        "customer": customer,
        "org_unit": "ASSN",
        "currency": "USD",
        "date": day.isoformat(),
        "lines": [{"line": 1, "product": "DUES", "amount": f"{amount}.00", "shipped": True}],
    }


@pytest.fixture
def big(settings):
    load_file(settings, validate_load_file(json.dumps(big_ledger()).encode()))
    return settings


def submit(settings, external_id: str, amount: str, **fields) -> int:
    return submit_receipt(
        settings,
        ReceiptRequest(
            source="lockbox",
            external_id=external_id,
            amount=Money.parse(amount, "USD"),
            received_date=NOV,
            automated=True,
            **fields,
        ),
    ).receipt_id


def views(settings, *ids: int) -> list[dict]:
    with unit_of_work(settings.database_url) as session:
        assert [str(v) for v in check_invariants(session)] == []
        return [receipt_view(session, i) for i in ids]


def balance(settings, number: str) -> str:
    with unit_of_work(settings.database_url) as session:
        return order_view(session, number)["balance"]


def test_the_one_order_at_the_amount_is_found_among_orders_never_read_whole(big):
    # O-238 (138.00) is among the youngest: not one of the oldest 30 a batch reads by age.
    receipt = submit(big, "r1", "138.00", customer="BIG")
    distribute_receipts(big, [receipt])
    (view,) = views(big, receipt)
    assert (view["status"], view["orders"], view["match"]["rule"]) == (
        "applied",
        ["O-238"],
        "exact_amount",
    )
    assert balance(big, "O-238") == "0.00"


def test_the_whole_balance_reads_every_open_order_and_pays_them_all(big):
    total = sum(Decimal(100 + n) for n in range(BIG_ORDERS)) + 7 + 8
    receipt = submit(big, "r1", f"{total}.00", customer="BIG")
    distribute_receipts(big, [receipt])
    (view,) = views(big, receipt)
    assert (view["status"], view["match"]["rule"]) == ("applied", "whole_balance")
    assert len(view["orders"]) == BIG_ORDERS + 2
    assert {balance(big, n) for n in ("O-200", "O-239", "K-1", "K-2")} == {"0.00"}


def test_a_second_receipt_of_a_batch_sees_the_first_ones_effect(big):
    # Both for 139.00, O-239's balance: the first takes it; for the second, no order is left
    # at the amount, so it waits with suggestions, never on O-239 a second time.
    first = submit(big, "r1", "139.00", customer="BIG")
    second = submit(big, "r2", "139.00", customer="BIG")
    distribute_receipts(big, [first, second])
    one, two = views(big, first, second)
    assert (one["status"], one["orders"]) == ("applied", ["O-239"])
    assert two["status"] == "unapplied" and two["orders"] == []
    assert balance(big, "O-239") == "0.00"


def test_a_remaining_balance_an_earlier_receipt_leaves_is_matched_live(big):
    # The first pays 30.00 of O-205 (105.00) by name, leaving 75.00, which no order had when
    # the batch read its summaries: the second, for 75.00, finds O-205 by its live balance.
    first = submit(
        big, "r1", "30.00", customer="BIG", allocations=(("O-205", Money.parse("30.00", "USD")),)
    )
    second = submit(big, "r2", "75.00", customer="BIG")
    distribute_receipts(big, [first, second])
    one, two = views(big, first, second)
    assert (one["orders"], two["orders"], two["match"]["rule"]) == (
        ["O-205"],
        ["O-205"],
        "exact_amount",
    )
    assert balance(big, "O-205") == "0.00"
