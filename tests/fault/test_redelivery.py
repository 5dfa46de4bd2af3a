"""Fault 4: every message delivered two to five times, and out of order, ends in the same ledger as
every message delivered once, in order.

The intake — operator receipts (some on orders that do not exist), gateway payments, full refunds
of every third payment — is persisted first, exactly as the ingress and the CLI do; then its task
messages go to a real `arledger worker` through the broker. Once: each message once, receipts
before refunds. Faulty: each message 2–5 times, some receipts also inside overlapping batch
messages, a few sweeps mixed in, the whole lot shuffled — so refunds often arrive before their
payment is distributed and must wait for it. Both runs start from the same seeded database, so
ids line up and ``ledger_fingerprint`` (row counts, every line balance, every receipt status)
must be equal, as must every account's GL balance and every intake key's cash.
"""

from __future__ import annotations

import random

import redis

from config.settings import Settings
from ledger.persistence.db import dispose_engines
from tasks import dispatch
from tests.support import figures
from tests.support.databases import ledger_fingerprint, reset_postgres
from tests.support.fault import (
    ORDERS,
    cents_audit,
    ledger_state,
    net_cash_by_key,
    poison_messages,
    received_messages,
    redis_broker_idle,
    seed,
    submit_intake,
    unprocessed,
    violations,
    wait_until,
    worker_env,
)

RECEIPTS = figures.scaled(40, 400)
PAYMENTS = figures.scaled(15, 150)
TASKS = ("arledger.distribute_receipts", "arledger.process_event", "arledger.sweep")


def fresh_intake(settings: Settings):
    """The same seeded database and the same persisted intake, each time it is called."""
    dispose_engines()
    reset_postgres(settings.database_url)
    redis.Redis.from_url(settings.broker_url or "").flushdb()
    seed(settings, ORDERS, write_offs=False)
    return submit_intake(settings, ORDERS, RECEIPTS, PAYMENTS, prefix="DUP", seed_value=4)


def deliver(settings: Settings, start_worker, messages) -> tuple[object, ...]:
    """Send these messages to a fresh worker, wait until everything is processed and the broker
    is idle, and return the final state with how many messages the worker received."""
    worker = start_worker(worker_env(settings, ARLEDGER_SWEEP_GRACE_SECONDS="0"))
    for name, args in messages:
        dispatch.send(settings, name, args)
    url = settings.database_url
    wait_until(
        lambda: unprocessed(url) == 0 and redis_broker_idle(settings.broker_url or ""),
        what="every message to be processed",
    )
    # The duplicates still on their way are delivered and acknowledged before the state is read.
    wait_until(
        lambda: received_messages(worker.log, *TASKS) >= len(messages),
        what="every message sent to be delivered",
    )
    wait_until(lambda: redis_broker_idle(settings.broker_url or ""), what="the broker to drain")
    worker.stop()
    state = (ledger_fingerprint(url), ledger_state(url), net_cash_by_key(url))
    return state, received_messages(worker.log, *TASKS)


def test_messages_delivered_two_to_five_times_out_of_order_end_as_if_delivered_once(
    faulty: Settings, start_worker
):
    seed_value = random.randrange(1_000_000)
    rng = random.Random(seed_value)

    intake = fresh_intake(faulty)
    once, _ = deliver(faulty, start_worker, intake.messages())

    intake = fresh_intake(faulty)
    messages = [m for m in intake.messages() for _ in range(rng.randint(2, 5))]
    for _ in range(max(3, len(intake.receipts) // 8)):  # overlapping batches of receipts
        messages.append(
            ("arledger.distribute_receipts", [rng.sample(intake.receipts, rng.randint(2, 6))])
        )
    messages += [("arledger.sweep", [])] * 2
    rng.shuffle(messages)
    many, received = deliver(faulty, start_worker, messages)

    url = faulty.database_url
    lost, doubled = cents_audit(once[2], many[2])  # type: ignore[index]
    found = violations(url)
    figures.record(
        faults_injected=1,
        messages_sent=len(messages),
        duplicates_delivered=received - len(intake.messages()),
        items_audited=len(intake.expected_cash),
        cents_lost=lost,
        cents_doubled=doubled,
    )
    assert (lost, doubled) == (0, 0), f"seed {seed_value}"
    assert found == []
    assert poison_messages(url) == []
    assert many[0] == once[0], f"ledger_fingerprint differs (seed {seed_value})"  # type: ignore[index]
    assert many[1] == once[1], f"balances or GL differ (seed {seed_value})"  # type: ignore[index]
    # And the expectation of the intake itself: refunded payments hold nothing, the rest all.
    assert cents_audit(intake.expected_cash, many[2]) == (0, 0)  # type: ignore[index, arg-type]
