"""Concurrent receipts on one order (PostgreSQL, separate processes) end as if run one by one.

Twelve processes wait at a barrier, then each submits and distributes a receipt on the same order
at the same moment. The row lock on the order serialises them; the final line balances and
write-off reversals must equal those of the same receipts distributed sequentially by the pure
domain model. Without the lock, two distributions read the same balances and pay the same line
twice — the final state then differs (and `check` may still pass, which is why this test compares
against the sequential result rather than only the invariants).
"""

from __future__ import annotations

import json
import multiprocessing

from sqlalchemy import func, select

from config.settings import Settings
from ledger.domain.money import Money
from ledger.domain.order import Reason
from ledger.intake.commands import ReceiptRequest
from ledger.intake.gateway import parse_event
from ledger.intake.inputs import validate_load_file
from ledger.persistence.db import dispose_engines, unit_of_work
from ledger.persistence.schema import RECEIPTS
from ledger.queries.check import check_invariants
from ledger.queries.views import order_view
from ledger.services.events import submit_event
from ledger.services.receipts import (
    WriteOffRequest,
    create_write_off,
    distribute_receipt,
    load_file,
    submit_receipt,
)
from tests.support.databases import reset_postgres
from tests.support.factories import line, order
from tests.support.hot_order import NOV, ORDER, WRITE_OFFS
from tests.support.paths import SAMPLE

AMOUNTS = [
    "35.00",
    "12.34",
    "80.00",
    "5.00",
    "61.10",
    "0.01",
    "44.44",
    "120.00",
    "9.99",
    "70.00",
    "15.50",
    "33.00",
]


def _submit(url: str, index: int, barrier) -> None:
    dispose_engines()  # never share a pooled connection across a process boundary
    settings = Settings(database_url=url)
    amount = Money.parse(AMOUNTS[index], "USD")
    barrier.wait(timeout=60)
    intake = submit_receipt(
        settings,
        ReceiptRequest(
            source="operator",
            external_id=f"CONC-{index}",
            amount=amount,
            received_date=NOV,
            allocations=(("HOT-1", amount),),
        ),
    )
    distribute_receipt(settings, intake.receipt_id)


def sequential_expectation() -> tuple[list[str], list[str]]:
    """The same write-offs and receipts, one after another, on the pure domain model."""
    o = order(
        line(1, "150.00", priority=102),
        line(2, "90.00", priority=101),
        line(3, "60.00", priority=300),
        line(4, "40.00", priority=200),
    )
    for number, amount in WRITE_OFFS:
        o.write_off(number, Money.parse(amount, "USD"), Reason.BAD_DEBT, posting_date=NOV)
    for amount in AMOUNTS:
        o.distribute(
            Money.parse(amount, "USD"), debit_account="1000", posting_date=NOV, receipt_id=1
        )
    return [str(x.balance) for x in o.lines], [
        str(w.reversed_amount) for x in o.lines for w in x.write_offs
    ]


def test_concurrent_receipts_on_one_order_end_as_if_run_one_after_another(pg_run_database):
    url = pg_run_database
    reset_postgres(url)
    settings = Settings(database_url=url)
    load_file(settings, validate_load_file(SAMPLE.read_bytes()))
    load_file(settings, validate_load_file(json.dumps(ORDER)))
    for number, amount in WRITE_OFFS:
        create_write_off(
            settings, WriteOffRequest("HOT-1", number, amount, "BAD_DEBT", posting_date=NOV)
        )
    dispose_engines()

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(AMOUNTS))
    processes = [
        context.Process(target=_submit, args=(url, i, barrier)) for i in range(len(AMOUNTS))
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * len(AMOUNTS)

    with unit_of_work(url) as session:
        view = order_view(session, "HOT-1")
        violations = [str(v) for v in check_invariants(session)]
    balances = [entry["balance"] for entry in view["lines"]]
    reversed_ = [w["reversed"] for entry in view["lines"] for w in entry["write_offs"]]
    assert (balances, reversed_) == sequential_expectation()
    assert violations == []


EVENT = {
    "type": "payment.succeeded",
    "gateway": "stripe",
    "payment_id": "pi_race",
    "amount": "35.00",
    "currency": "USD",
    "order": "HOT-1",
    "customer": "C-1",
    "occurred_at": "2026-11-05T10:00:00Z",
}


def _deliver(url: str, event_id: str, barrier, results) -> None:
    dispose_engines()
    settings = Settings(database_url=url)
    event = parse_event(json.dumps({**EVENT, "event_id": event_id}).encode())
    barrier.wait(timeout=60)
    intake = submit_event(settings, event)
    results.put((event_id, intake.receipt_id, intake.created))


def test_a_gateway_event_delivered_many_times_at_once_is_recorded_once(pg_run_database):
    """A gateway retrying while its first delivery is still being committed, on several ingress
    processes at once, and announcing the same payment again under a new event id: one receipt,
    one 202, every other delivery answered as a repeat of it."""
    url = pg_run_database
    reset_postgres(url)
    settings = Settings(database_url=url)
    load_file(settings, validate_load_file(SAMPLE.read_bytes()))
    load_file(settings, validate_load_file(json.dumps(ORDER)))
    dispose_engines()

    event_ids = ["evt_race"] * 5 + ["evt_race_again"] * 3
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(event_ids))
    results = context.Queue()
    processes = [
        context.Process(target=_deliver, args=(url, event_id, barrier, results))
        for event_id in event_ids
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * len(event_ids)
    answers = [results.get(timeout=10) for _ in processes]  # small: the pipe held them all

    assert sum(created for _, _, created in answers) == 1
    assert len({receipt_id for _, receipt_id, _ in answers}) == 1
    with unit_of_work(url) as session:
        recorded = session.execute(
            select(func.count()).select_from(RECEIPTS).where(RECEIPTS.c.reference.is_not(None))
        ).scalar_one()
    assert recorded == 1
