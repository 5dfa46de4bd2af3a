"""Fault 2: the broker loses its queues — Redis FLUSHDB of the broker's own database number — while
tasks are queued and while a worker is in the middle of one. The sweep recovers every persisted
intake: operator receipts, gateway payments and refunds, and a bank file's credits — a lockbox
file's checks, a BAI2 statement's or a camt.054 notification's credits (one scenario, three files).

tests/integration/test_pipeline.py::test_tasks_lost_from_the_broker_are_recovered_by_the_sweep
covers a flush before any worker runs; this one flushes under a running worker too (its
acknowledgement and its queue bindings vanish with the flush) and audits every cent. The GL sink
is a file here: on the broker's Redis database the stream would be flushed with the queues, which
is the test's doing, not a journal the product lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from config.settings import Settings
from tasks import dispatch
from tests.support import figures
from tests.support.fault import (
    ORDERS,
    BankFile,
    bai2_file,
    camt_file,
    cents_audit,
    file_cash,
    file_sink_audit,
    import_lockbox_no_wait,
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


def lockbox(path: Path) -> BankFile:
    """A BAI lockbox file, its checks keyed by the file's content hash."""
    file = lockbox_file(path / "bank.txt", ITEMS, ORDERS, bank_file_id="FLUSH1")
    sha256 = hashlib.sha256(file.path.read_bytes()).hexdigest()
    return BankFile(file.path, {f"lockbox:{sha256}:{k}": v for k, v in file.amounts.items()})


# The file imported while the broker is flushed, and its format as the import names it.
FILES: dict[str, Callable[[Path], BankFile]] = {
    "bai": lockbox,
    "bai2": lambda path: bai2_file(path / "bank.bai2", ITEMS, ORDERS, file_id="FLUSHBAI2"),
    "camt054": lambda path: camt_file(path / "bank.xml", ITEMS, ORDERS, message_id="FLUSHCAMT"),
}


@pytest.mark.parametrize("file_format", FILES)
def test_the_sweep_recovers_every_intake_after_the_broker_loses_its_queues(
    faulty: Settings, start_worker, tmp_path: Path, file_format: str
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

    # Running and lost: a bank file's import under way when the broker is flushed again.
    env = worker_env(settings, ARLEDGER_BATCH_SIZE="10")
    worker = start_worker(env, "worker", "--concurrency", "1")
    file = FILES[file_format](tmp_path)
    summary = import_lockbox_no_wait(env, file.path)
    assert (summary["format"], summary["items"]) == (file_format, ITEMS)
    wait_until(
        lambda: received_messages(worker.log, "arledger.distribute_lockbox_batch") >= 1,
        what="the worker to take a batch of the file",
    )
    broker.flushdb()
    left = unprocessed(url)
    figures.record(
        faults_injected=2,
        messages_sent=len(intake.messages()) + -(-ITEMS // 10),
    )
    # The database remembers what the broker forgot: intake from before the worker started,
    # and the file's receipts the flush took from the queue.
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

    money = file_cash(url, file.amounts)
    cash = {
        k: v for k, v in net_cash_by_key(url).items() if not k.startswith(("lockbox:", "bank:"))
    }
    lost, doubled = cents_audit(intake.expected_cash, cash)
    figures.record(items_audited=len(intake.expected_cash), cents_lost=lost, cents_doubled=doubled)
    assert money == {"lost": 0, "doubled": 0}
    assert (lost, doubled) == (0, 0)
    assert poison_messages(url) == []
    assert violations(url) == []
    published = file_sink_audit(sink, url)
    figures.record(sink_repeats=int(published["repeats"]))  # type: ignore[call-overload]
    assert published["first_seen"] == published["committed"]
