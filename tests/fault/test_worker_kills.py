"""Fault 1 and 7: `kill -9` of the worker's whole process group in the middle of a lockbox import,
at several random points, then a restart and the sweep — on Redis and on RabbitMQ.

What a killed worker was doing is rolled back by PostgreSQL; the message it held is lost (Redis
keeps it unacknowledged until its visibility timeout, long after the test) or redelivered
(RabbitMQ); the sweep re-dispatches whatever the database still has queued. At the end every
check of the file has brought its cash in exactly once (read from the journal lines, per intake
key, against the file as written), `arledger check` finds nothing, every journal is on the GL
stream in commit order (a repeat only with the same id and body), and the final state equals
the same file imported in-process with no fault at all. The same holds for a BAI2 and a
camt.054 file, whose credits are keyed by the bank's references and placed by their remittance
text.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from config.settings import Settings
from ledger.intake.lockbox import iter_items
from ledger.persistence.db import dispose_engines
from ledger.services.lockbox import import_lockbox
from tasks import dispatch
from tests.support import figures
from tests.support.databases import reset_postgres
from tests.support.fault import (
    ORDERS,
    bai2_file,
    camt_file,
    file_cash,
    import_lockbox_no_wait,
    ledger_state,
    lockbox_cash,
    lockbox_file,
    run_sweep,
    seed,
    stream_audit,
    stream_complete,
    unprocessed,
    violations,
    wait_until,
    wait_until_processed,
    worker_env,
)

ITEMS = figures.scaled(300, 3000)
KILLS = figures.scaled(3, 12)
# Small batches: many messages in flight, so a kill lands in the middle of a transaction.
BATCH = "10"


def kill_during_import(settings: Settings, start_worker, env: dict[str, str], rng) -> int:
    """Kill the worker group ``KILLS`` times while intake is still unprocessed, restarting it
    each time; returns how many kills landed while there was work in progress."""
    worker = start_worker(env)
    landed = 0
    for _ in range(KILLS):
        # A random point: after a random share of what is left has been processed, or a random
        # moment, whichever comes first.
        left = unprocessed(settings.database_url)
        target = int(left * rng.uniform(0.1, 0.7))
        deadline = time.monotonic() + rng.uniform(0.2, 2.5)
        while time.monotonic() < deadline and unprocessed(settings.database_url) > target:
            time.sleep(0.02)
        busy = unprocessed(settings.database_url) > 0
        worker.kill()
        landed += busy
        worker = start_worker(env)
    return landed


def recover(settings: Settings, env: dict[str, str]) -> None:
    """The sweep after the kills, and every journal on the GL stream."""
    run_sweep(env)
    wait_until_processed(settings.database_url, what="the sweep's redelivery")
    wait_until(
        lambda: stream_complete(settings.gl_sink, settings.database_url),
        what="every journal on the GL stream",
    )


def audit_import(settings: Settings, path: Path, money: dict[str, int], tmp_path: Path) -> None:
    """Every assertion of fault 1, after the restart and the sweep; ``money`` is the import's
    audit to the cent (lost and doubled)."""
    url = settings.database_url
    assert money == {"lost": 0, "doubled": 0}
    assert violations(url) == []
    stream = stream_audit(settings.gl_sink, url)
    figures.record(sink_repeats=int(stream["repeats"]))  # type: ignore[call-overload]
    assert stream["first_seen"] == stream["committed"], "journals lost or out of commit order"
    assert stream["conflicts"] == 0, "a repeated journal id carried a different body"

    # The same file, in-process, on the same seed, with no fault: the same final state.
    after_faults = ledger_state(url)
    dispose_engines()
    reset_postgres(url)
    clean = settings.model_copy(update={"broker_url": None, "gl_sink": str(tmp_path / "ref.jsonl")})
    seed(clean, ORDERS)
    import_lockbox(clean, path, on_received=lambda ids: dispatch.distribute(clean, ids))
    assert ledger_state(url) == after_faults


def test_a_worker_killed_during_a_lockbox_import_loses_and_doubles_nothing(
    faulty: Settings, start_worker, tmp_path: Path
):
    rng = random.Random()
    seed_value = rng.randrange(1_000_000)
    rng.seed(seed_value)
    file = lockbox_file(tmp_path / "bank.txt", ITEMS, ORDERS, bank_file_id="KILL1")
    env = worker_env(faulty, ARLEDGER_BATCH_SIZE=BATCH)

    summary = import_lockbox_no_wait(env, file.path)
    assert summary["items"] == ITEMS
    landed = kill_during_import(faulty, start_worker, env, rng)
    figures.record(faults_injected=landed, messages_sent=-(-ITEMS // int(BATCH)))
    assert landed >= 1, f"no kill landed while work was in progress (seed {seed_value})"

    recover(faulty, env)
    money = lockbox_cash(faulty.database_url, file, summary["sha256"])
    audit_import(faulty, file.path, money, tmp_path)


def kill_during_bank_statement_import(
    faulty: Settings, start_worker, tmp_path: Path, path: Path, file_format: str
) -> None:
    """Fault 1 on a bank statement (BAI2, camt): its credits are keyed by the bank's references,
    so the audit to the cent is by those keys; then the same final state as a clean import."""
    rng = random.Random()
    seed_value = rng.randrange(1_000_000)
    rng.seed(seed_value)
    expected = {f"bank:{item.key}": item.amount.minor for item in iter_items(path)}
    assert len(expected) == ITEMS
    env = worker_env(faulty, ARLEDGER_BATCH_SIZE=BATCH)

    summary = import_lockbox_no_wait(env, path)
    assert (summary["format"], summary["items"]) == (file_format, ITEMS)
    landed = kill_during_import(faulty, start_worker, env, rng)
    figures.record(faults_injected=landed, messages_sent=-(-ITEMS // int(BATCH)))
    assert landed >= 1, f"no kill landed while work was in progress (seed {seed_value})"

    recover(faulty, env)
    audit_import(faulty, path, file_cash(faulty.database_url, expected), tmp_path)


def test_a_worker_killed_during_a_bai2_import_loses_and_doubles_nothing(
    faulty: Settings, start_worker, tmp_path: Path
):
    file = bai2_file(tmp_path / "bank.bai2", ITEMS, ORDERS, file_id="KILLBAI2")
    kill_during_bank_statement_import(faulty, start_worker, tmp_path, file.path, "bai2")


def test_a_worker_killed_during_a_camt054_import_loses_and_doubles_nothing(
    faulty: Settings, start_worker, tmp_path: Path
):
    file = camt_file(tmp_path / "bank.xml", ITEMS, ORDERS, message_id="KILLCAMT1")
    kill_during_bank_statement_import(faulty, start_worker, tmp_path, file.path, "camt054")


# --- RabbitMQ --------------------------------------------------------------------------------

RABBITMQ_HOST = "amqp://guest:guest@127.0.0.1:5672"


@pytest.fixture
def rabbitmq_vhost() -> Iterator[str]:
    """A throwaway RabbitMQ virtual host, so this test's queues are its own: the server is shared
    with other test processes (tests/integration/test_pipeline.py purges the default vhost's
    queues). Falls back to the default vhost, purged, where `rabbitmqctl` is not available."""
    ctl = shutil.which("rabbitmqctl")
    name = f"arledger-fault-{uuid.uuid4().hex[:8]}"
    created = False
    if ctl is not None:
        made = subprocess.run(
            [ctl, "add_vhost", name], capture_output=True, text=True, timeout=60, check=False
        )
        allowed = subprocess.run(
            [ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        created = made.returncode == 0 and allowed.returncode == 0
    url = f"{RABBITMQ_HOST}/{name}" if created else f"{RABBITMQ_HOST}//"
    with Connection(url, connect_timeout=5) as connection:
        try:
            connection.ensure_connection(max_retries=3)
        except Exception as exc:
            pytest.fail(
                f"RabbitMQ is required for this test and is not reachable at {url}: {exc}",
                pytrace=False,
            )
        if not created:
            channel = connection.channel()
            for queue in ("receipts", "lockbox", "gl"):
                try:
                    channel.queue_purge(queue)
                except Exception:
                    channel = connection.channel()
    yield url
    if created:
        subprocess.run([ctl, "delete_vhost", name], capture_output=True, timeout=60, check=False)  # type: ignore[list-item]


def test_a_worker_killed_during_a_lockbox_import_on_rabbitmq_loses_and_doubles_nothing(
    faulty: Settings, start_worker, tmp_path: Path, rabbitmq_vhost: str
):
    rng = random.Random()
    seed_value = rng.randrange(1_000_000)
    rng.seed(seed_value)
    rabbit = faulty.model_copy(update={"broker_url": rabbitmq_vhost})
    file = lockbox_file(tmp_path / "rabbit.txt", ITEMS, ORDERS, bank_file_id="KILLRMQ1")
    env = worker_env(rabbit, ARLEDGER_BATCH_SIZE=BATCH)

    summary = import_lockbox_no_wait(env, file.path)
    landed = kill_during_import(rabbit, start_worker, env, rng)
    figures.record(faults_injected=landed, messages_sent=-(-ITEMS // int(BATCH)))
    assert landed >= 1, f"no kill landed while work was in progress (seed {seed_value})"

    recover(rabbit, env)
    money = lockbox_cash(rabbit.database_url, file, summary["sha256"])
    audit_import(rabbit, file.path, money, tmp_path)
