"""Fault 2: the broker loses its queues — Redis FLUSHDB of the broker's own database number — while
tasks are queued and while a worker is in the middle of one. The sweep recovers every persisted
intake: operator receipts, gateway payments and refunds, and a lockbox file's checks.

tests/integration/test_pipeline.py::test_tasks_lost_from_the_broker_are_recovered_by_the_sweep
covers a flush before any worker runs; this one flushes under a running worker too (its
acknowledgement and its queue bindings vanish with the flush) and audits every cent. The GL sink
is a file here: on the broker's Redis database the stream would be flushed with the queues, which
is the test's doing, not a journal the product lost.
"""

from __future__ import annotations

from pathlib import Path

import redis

from config.settings import Settings
from tasks import dispatch
from tests.support import figures
from tests.support.fault import (
    ORDERS,
    cents_audit,
    file_sink_audit,
    import_lockbox_no_wait,
    lockbox_cash,
    lockbox_file,
    net_cash_by_key,
    poison_messages,
    received_messages,
    redis_broker_idle,
    run_sweep,
    submit_intake,
    unprocessed,
    violations,
    wait_until,
    wait_until_processed,
    worker_env,
)

ITEMS = figures.scaled(300, 3000)
RECEIPTS = figures.scaled(20, 200)
PAYMENTS = figures.scaled(12, 120)


def test_the_sweep_recovers_every_intake_after_the_broker_loses_its_queues(
    faulty: Settings, start_worker, tmp_path: Path
):
    sink = tmp_path / "gl.jsonl"
    settings = faulty.model_copy(update={"gl_sink": str(sink)})
    broker = redis.Redis.from_url(faulty.broker_url or "")
    url = settings.database_url

    # Queued and lost: intake dispatched while no worker runs, then the broker is flushed.
    intake = submit_intake(settings, ORDERS, RECEIPTS, PAYMENTS, prefix="LOST", seed_value=2)
    dispatch.distribute(settings, intake.receipts)
    dispatch.process_events(settings, intake.events)
    assert sum(int(broker.llen(q)) for q in ("receipts",)) > 0  # the messages did reach Redis
    broker.flushdb()

    # Running and lost: a lockbox import under way when the broker is flushed again.
    env = worker_env(settings, ARLEDGER_BATCH_SIZE="10")
    worker = start_worker(env, "worker", "--concurrency", "1")
    file = lockbox_file(tmp_path / "bank.txt", ITEMS, ORDERS, bank_file_id="FLUSH1")
    summary = import_lockbox_no_wait(env, file.path)
    wait_until(
        lambda: received_messages(worker.log, "arledger.distribute_lockbox_batch") >= 1,
        what="the worker to take a lockbox batch",
    )
    broker.flushdb()
    left = unprocessed(url)
    figures.record(
        faults_injected=2,
        messages_sent=len(intake.messages()) + -(-ITEMS // 10),
    )
    # The database remembers what the broker forgot: intake from before the worker started,
    # and the file's checks the flush took from the queue.
    assert left > len(intake.receipts) // 2, left
    wait_until(lambda: redis_broker_idle(faulty.broker_url or ""), what="the worker to go idle")
    assert unprocessed(url) > 0  # nothing on the broker will ever deliver these

    swept = run_sweep(env)
    assert swept["receipts"] + swept["events"] > 0
    wait_until_processed(url, what="the sweep's redelivery")
    wait_until(
        lambda: (
            set(file_sink_audit(sink, url)["first_seen"])  # type: ignore[arg-type]
            >= set(file_sink_audit(sink, url)["committed"])
        ),  # type: ignore[arg-type]
        what="every journal in the file sink",
    )

    money = lockbox_cash(url, file, summary["sha256"])
    cash = {k: v for k, v in net_cash_by_key(url).items() if not k.startswith("lockbox:")}
    lost, doubled = cents_audit(intake.expected_cash, cash)
    figures.record(items_audited=len(intake.expected_cash), cents_lost=lost, cents_doubled=doubled)
    assert money == {"lost": 0, "doubled": 0}
    assert (lost, doubled) == (0, 0)
    assert poison_messages(url) == []
    assert violations(url) == []
    published = file_sink_audit(sink, url)
    figures.record(sink_repeats=int(published["repeats"]))  # type: ignore[call-overload]
    assert published["first_seen"] == published["committed"]
