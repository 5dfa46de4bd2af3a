"""Fault 3: PostgreSQL kills the worker's connections (`pg_terminate_backend`) again and again
while a lockbox import is being distributed. Tasks meet the lost connection, are retried with
backoff by the worker and finish — no sweep is run, so nothing but the retries can finish them —
and no partial transaction is ever visible: while the faults go on, `check_invariants` runs on
consistent snapshots (REPEATABLE READ) of the ledger and must find nothing, every time.

The worker's connections are told apart by their ``application_name`` (set in the worker's
database URL), so the test's own connections and other test processes on the shared server are
never touched.

The server restart is a test of its own, marked ``exclusive``: it would break the other test
processes' connections, so scripts/test runs it after the parallel run, alone. The local cluster
is restarted with ``pg_ctlcluster`` while a lockbox import is being distributed; without a sweep,
the workers' retries must finish every task, with no cent lost or doubled.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session

from config.settings import Settings
from ledger.persistence.db import dispose_engines, get_engine
from ledger.queries.check import check_invariants
from tests.support import figures
from tests.support.databases import PG_ADMIN_URL
from tests.support.fault import (
    ORDERS,
    import_lockbox_no_wait,
    lockbox_cash,
    lockbox_file,
    poison_messages,
    stream_audit,
    stream_complete,
    unprocessed,
    violations,
    wait_until,
    wait_until_processed,
    worker_env,
)

ITEMS = figures.scaled(300, 3000)
KILL_ROUNDS = figures.scaled(25, 200)
APPLICATION = "arledger-fault-worker"


def snapshot_violations(url: str) -> list[str]:
    """`check_invariants` on one consistent snapshot of the ledger, taken while work is going on."""
    engine = get_engine(url).execution_options(isolation_level="REPEATABLE READ")
    with Session(engine) as session:
        found = [str(v) for v in check_invariants(session)]
        session.rollback()
    return found


def terminate_worker_backends(database: str) -> tuple[int, int]:
    """Terminate every backend of the worker on ``database``, at a moment when at least one of
    them is at work: (terminated, of which busy — in a query or inside a transaction, not idle in
    the pool). (0, 0) when none was busy, and then none is terminated.

    Waiting for a busy moment is what makes the kill land in the middle of work: a batch takes a
    few milliseconds, so backends killed at random times are nearly always idle between tasks.
    """
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid), state FROM pg_stat_activity "
            "WHERE datname = %(db)s AND application_name = %(app)s AND pid <> pg_backend_pid() "
            "AND EXISTS (SELECT 1 FROM pg_stat_activity busy WHERE busy.datname = %(db)s "
            "AND busy.application_name = %(app)s AND busy.state <> 'idle')",
            {"db": database, "app": APPLICATION},
        ).fetchall()
    terminated = [state for ok, state in rows if ok]
    return len(terminated), sum(1 for state in terminated if state != "idle")


def test_killed_database_connections_are_retried_and_no_partial_transaction_is_visible(
    faulty: Settings, start_worker, tmp_path: Path
):
    rng = random.Random()
    url = faulty.database_url
    database = url.rsplit("/", 1)[1]
    worker_url = f"{url}?application_name={APPLICATION}"
    env = worker_env(faulty, ARLEDGER_BATCH_SIZE="10")
    file = lockbox_file(tmp_path / "bank.txt", ITEMS, ORDERS, bank_file_id="PGKILL1")
    summary = import_lockbox_no_wait(env, file.path)
    # The worker starts once every batch is queued: started before the import, it can finish
    # them all while the import command is still running, and there would be nothing to kill.
    worker = start_worker({**env, "ARLEDGER_DATABASE_URL": worker_url})

    killed = busy = snapshots = rounds = 0
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while rounds < KILL_ROUNDS and time.monotonic() < deadline and unprocessed(url) > 0:
        terminated, in_flight = terminate_worker_backends(database)
        if terminated == 0:
            time.sleep(0.002)  # nothing at work this instant: look again
            continue
        rounds += 1
        killed += terminated
        busy += in_flight
        seen += snapshot_violations(url)
        snapshots += 1
        time.sleep(rng.uniform(0.02, 0.25))
    figures.record(
        faults_injected=killed,
        messages_sent=-(-ITEMS // 10),
        invariant_violations=len(seen),
    )
    assert seen == [], f"a snapshot taken during the faults broke an invariant: {seen[:3]}"
    assert busy >= 1, f"no connection was killed in the middle of work ({killed} killed idle)"

    # No sweep: the retries alone must finish every task.
    wait_until_processed(url, timeout=120, what="the retried tasks")
    wait_until(lambda: stream_complete(faulty.gl_sink, url), what="every journal on the stream")
    log = worker.log.read_text(errors="replace")
    assert "Retry in" in log, "no task was retried after its connection was killed"
    assert poison_messages(url) == []
    assert lockbox_cash(url, file, summary["sha256"]) == {"lost": 0, "doubled": 0}
    assert violations(url) == []
    stream = stream_audit(faulty.gl_sink, url)
    figures.record(sink_repeats=int(stream["repeats"]))  # type: ignore[call-overload]
    assert stream["first_seen"] == stream["committed"]
    assert snapshots >= 1


def restart_local_postgres() -> None:
    """Restart the local PostgreSQL cluster the way an operator would, and wait for it."""
    host = PG_ADMIN_URL.split("@")[-1].split("/")[0].split(":")[0]
    versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").is_dir() else []
    if host not in ("127.0.0.1", "localhost") or not shutil.which("pg_ctlcluster") or not versions:
        pytest.fail(
            f"this test restarts the local PostgreSQL with pg_ctlcluster; the test server is {host}"
            " and pg_ctlcluster or /etc/postgresql is missing",
            pytrace=False,
        )
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main", "restart"],
        check=True,
        timeout=120,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(PG_ADMIN_URL, connect_timeout=2) as admin:
                admin.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            time.sleep(0.5)
    pytest.fail("PostgreSQL did not come back within 60 s of its restart", pytrace=False)


@pytest.mark.exclusive
def test_a_postgresql_restart_while_tasks_run_loses_and_doubles_nothing(
    faulty: Settings, start_worker, tmp_path: Path
):
    url = faulty.database_url
    env = worker_env(faulty, ARLEDGER_BATCH_SIZE="10")
    start_worker(env)
    file = lockbox_file(tmp_path / "bank.txt", ITEMS, ORDERS, bank_file_id="PGRESTART1")
    summary = import_lockbox_no_wait(env, file.path)
    # Restart once some batches are done and the rest are queued or running.
    wait_until(lambda: unprocessed(url) < ITEMS, what="the first batch to be distributed")
    pending = unprocessed(url)
    restart_local_postgres()
    dispose_engines()  # this process's pooled connections died with the server
    figures.record(faults_injected=1, messages_sent=-(-ITEMS // 10))
    assert pending > 0, "the import finished before the restart; nothing was in flight"

    # No sweep: the workers' retries alone finish what the restart interrupted.
    wait_until_processed(url, timeout=180, what="the tasks interrupted by the restart")
    wait_until(lambda: stream_complete(faulty.gl_sink, url), what="every journal on the stream")
    assert lockbox_cash(url, file, summary["sha256"]) == {"lost": 0, "doubled": 0}
    found = violations(url)
    figures.record(invariant_violations=len(found))
    assert found == []
    assert poison_messages(url) == []
    stream = stream_audit(faulty.gl_sink, url)
    assert stream["first_seen"] == stream["committed"]
