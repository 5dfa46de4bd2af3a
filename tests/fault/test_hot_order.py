"""Fault 5: fifty receipts for one order, submitted at once through a pool of `arledger worker`
processes, end exactly as the same receipts distributed one after another — the same line
balances and the same write-off reversals — with no deadlock.

tests/integration/test_concurrency.py races twelve processes calling the service directly; here
the receipts go the production way, one task message each, to two worker processes of two pool
children each, so four distributions on the one order contend for its row lock at any moment.
The order carries standard write-offs (reversed by the overpayment) and an advanced adjustment
(never reversed by a receipt). The expectation is the pure domain model run serially.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from config.settings import Settings
from ledger.domain.money import Money
from ledger.domain.order import Reason
from ledger.intake.commands import ReceiptRequest
from ledger.intake.inputs import validate_load_file
from ledger.persistence.db import dispose_engines, unit_of_work
from ledger.queries.views import order_view
from ledger.services.receipts import WriteOffRequest, create_write_off, load_file, submit_receipt
from tasks import dispatch
from tests.support import figures
from tests.support.factories import line, order
from tests.support.fault import (
    cents_audit,
    net_cash_by_key,
    poison_messages,
    violations,
    wait_until_processed,
    worker_env,
)
from tests.support.hot_order import NOV, ORDER, WRITE_OFFS

RECEIPTS = figures.scaled(50, 300)
ADVANCED = (1, "7.00")  # line 1 (COURSE): an advanced adjustment a receipt must never reverse


def serial_expectation(amounts: list[int]) -> tuple[list[str], list[str]]:
    """The same write-offs and receipts one after another on the pure domain model (priorities
    of the sample products: COURSE 102, DUES 101, DONATION 300, JOURNAL 200)."""
    o = order(
        line(1, "150.00", priority=102),
        line(2, "90.00", priority=101),
        line(3, "60.00", priority=300),
        line(4, "40.00", priority=200),
    )
    o.write_off(
        ADVANCED[0], Money.parse(ADVANCED[1], "USD"), Reason.GOODWILL, posting_date=NOV,
        advanced=True,
    )  # fmt: skip
    for number, amount in WRITE_OFFS:
        o.write_off(number, Money.parse(amount, "USD"), Reason.BAD_DEBT, posting_date=NOV)
    for cents in amounts:
        o.distribute(
            Money.from_minor(cents, "USD"), debit_account="1000", posting_date=NOV, receipt_id=1
        )
    return [str(x.balance) for x in o.lines], [
        str(w.reversed_amount) for x in o.lines for w in x.write_offs
    ]


def test_fifty_receipts_on_one_order_through_the_worker_pool_equal_the_serial_result(
    faulty: Settings, start_worker
):
    settings = faulty
    load_file(settings, validate_load_file(json.dumps(ORDER)))
    create_write_off(
        settings,
        WriteOffRequest(
            "HOT-1", ADVANCED[0], ADVANCED[1], "GOODWILL", posting_date=NOV, advanced=True
        ),
    )
    for number, amount in WRITE_OFFS:
        create_write_off(
            settings, WriteOffRequest("HOT-1", number, amount, "BAD_DEBT", posting_date=NOV)
        )
    seed_value = random.randrange(1_000_000)
    rng = random.Random(seed_value)
    # About 285.00 is owed after the write-offs: the receipts overpay by a little, so the last
    # ones reverse some write-offs and the rest becomes a credit on line 1.
    amounts = [rng.randint(100, 1_200) for _ in range(RECEIPTS)]
    ids, expected = [], {}
    for i, cents in enumerate(amounts):
        amount = Money.from_minor(cents, "USD")
        request = ReceiptRequest(
            "operator", f"HOT-{i}", amount, NOV, allocations=(("HOT-1", amount),)
        )
        ids.append(submit_receipt(settings, request).receipt_id)
        expected[request.external_key] = cents
    dispose_engines()

    env = worker_env(settings)
    workers = [start_worker(env, "worker", "--concurrency", "2") for _ in range(2)]
    for receipt_id in ids:  # all at once: one message per receipt
        dispatch.send(settings, "arledger.distribute_receipts", [[receipt_id]])
    url = settings.database_url
    wait_until_processed(url, timeout=120, what="all fifty receipts")

    with unit_of_work(url) as session:
        view = order_view(session, "HOT-1")
    balances = [entry["balance"] for entry in view["lines"]]
    reversed_ = [w["reversed"] for entry in view["lines"] for w in entry["write_offs"]]
    cash = {k: v for k, v in net_cash_by_key(url).items() if k.startswith("operator:HOT-")}
    lost, doubled = cents_audit(expected, cash)
    figures.record(
        faults_injected=1,
        messages_sent=len(ids),
        items_audited=len(expected),
        cents_lost=lost,
        cents_doubled=doubled,
    )
    assert (lost, doubled) == (0, 0)
    assert violations(url) == []
    assert (balances, reversed_) == serial_expectation(amounts), f"seed {seed_value}"
    assert poison_messages(url) == []
    logs = "".join(Path(w.log).read_text(errors="replace") for w in workers)
    assert "deadlock detected" not in logs
