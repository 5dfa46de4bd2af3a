"""Lockbox benchmark: a bank file of N checks through the real pipeline, against the COPY floor.

    python benchmarks/lockbox.py --items 100000 [--scale 10] [--json]
    python benchmarks/lockbox.py --items 1000000 --parse-only [--json]

Generates N open orders of three lines (mixed priorities; every fifth with a standard and an
advanced write-off) and an N-item BAI lockbox file whose checks pay, partly pay, overpay, split
across two orders, or name an order that does not exist. Then, timed end to end: `arledger
lockbox import` (validate, receive, fan out) with a Celery worker at concurrency 2 as a separate
process, until every check is distributed and every journal is published to the Redis stream.

In the same run it measures the floor: the time PostgreSQL takes to COPY exactly the rows the run
wrote — receipts, the lockbox file, ledger commits, journals, journal lines, and the order lines
whose balance moved — into an empty copy of the same schema, indexes, foreign keys and the
deferred balance trigger live (``floor_*``, the headline), and again with triggers and
foreign-key checks off (``raw_floor_*``). It prints items/s, floor items/s and their ratio, and the peak memory of the
importer and of the worker; then the same run at ``--scale`` times N (orders and items), to show
memory and cost per item stay flat as the file and the database grow.

Uses ARLEDGER_DATABASE_URL and ARLEDGER_BROKER_URL when set; otherwise a throwaway database on
the local PostgreSQL (dropped after) and the local Redis (database 12, flushed).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import func, select

from benchmarks.support import (
    ARLEDGER,
    Environment,
    cpu_seconds,
    create_database,
    drop_database,
    environment,
    generate_orders,
    machine,
    order_lines,
    postgres_pids,
    start_worker,
)
from ledger.domain.money import Money
from ledger.intake.lockbox import LockboxItem, write_bai
from ledger.intake.lockbox.camt_writer import camt_entries, write_camt
from ledger.outbox.publisher import publish_pending, unpublished_count
from ledger.persistence.db import dispose_engines, normalise_url, unit_of_work
from ledger.persistence.migrate import upgrade
from ledger.persistence.schema import COMMITS, JOURNAL_LINES, JOURNALS, RECEIPTS
from ledger.services.lockbox import progress
from tests.support.processes import hwm_kb

DEPOSIT = date(2026, 11, 6)


def usd(minor: int) -> Money:
    return Money.from_minor(minor, "USD")


def checks(first: int, count: int, orders_total: int):
    """The checks of the file, streamed: one in ten of each kind below."""
    for n in range(count):
        i = first + n
        owed = sum(order_lines(i))
        kind = n % 10
        if kind in (0, 1, 2, 3):
            allocations = ((f"B-{i}", usd(owed)),)  # pays in full (reverses write-offs it overpays)
        elif kind in (4, 5):
            allocations = ((f"B-{i}", usd(owed // 2)),)  # partly pays
        elif kind == 6:
            allocations = ((f"B-{i}", usd(owed + 2_000)),)  # overpays
        elif kind == 7:
            other = first + (n + 1) % count
            allocations = ((f"B-{i}", usd(owed // 3)), (f"B-{other}", usd(1_500)))  # split
        elif kind == 8:
            allocations = ((f"B-{i}", usd(owed)),)
        else:
            allocations = ((f"NOPE-{i}", usd(4_200)),)  # unknown order: unapplied
        amount = sum((a for _, a in allocations), start=usd(0))
        if kind == 8:
            amount = amount + usd(999)  # the rest stays unapplied for the customer
        yield LockboxItem(
            batch=f"{1 + n // 500}",
            item=f"{n % 500 + 1}",
            deposit_date=DEPOSIT,
            check_number=f"{100000 + n}",
            amount=amount,
            customer=f"C-{i % 100}",
            allocations=allocations,
            line=0,
        )


def write_file(
    path: Path, file_format: str, first: int, count: int, orders: int, bank_file_id: str
):
    """The benchmark's file of ``count`` checks, streamed, as BAI or camt.054."""
    if file_format == "camt054":
        # TxsSummry precedes the entries: a first pass over the same checks counts and adds them.
        total = sum((item.amount.amount for item in checks(first, count, orders)), start=Decimal(0))
        with path.open("wb") as stream:
            entries = camt_entries(checks(first, count, orders), salt=bank_file_id)
            write_camt(
                stream, entries, message_id=bank_file_id, account="BENCH-ACCOUNT",
                currency="USD", totals=(count, total),
            )  # fmt: skip
        return
    with path.open("w") as handle:
        write_bai(checks(first, count, orders), handle, bank_file_id=bank_file_id, created=DEPOSIT)


class PeakWatcher(threading.Thread):
    """Samples a process's VmHWM until it exits (the importer's peak memory)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0

    def run(self) -> None:
        while (reading := hwm_kb(self.pid)) > 0:  # 0: the process has exited
            self.peak_kb = max(self.peak_kb, reading)
            time.sleep(0.05)


def analyze(env: Environment) -> None:
    with psycopg.connect(
        normalise_url(env.database_url).replace("+psycopg", ""), autocommit=True
    ) as connection:
        connection.execute("ANALYZE")


def high_water(env: Environment) -> dict[str, int]:
    with unit_of_work(env.database_url) as session:
        return {
            "journals": int(
                session.execute(select(func.coalesce(func.max(JOURNALS.c.id), 0))).scalar_one()
            ),
            "lines": int(
                session.execute(select(func.coalesce(func.max(JOURNAL_LINES.c.id), 0))).scalar_one()
            ),
            "commits": int(
                session.execute(select(func.coalesce(func.max(COMMITS.c.id), 0))).scalar_one()
            ),
            "receipts": int(
                session.execute(select(func.coalesce(func.max(RECEIPTS.c.id), 0))).scalar_one()
            ),
        }


def run_phase(
    env: Environment,
    orders: int,
    items: int,
    first_order: int,
    workdir: Path,
    *,
    bank_file_id: str,
    file_format: str = "bai",
) -> dict:
    started = time.monotonic()
    generate_orders(env, orders, start=first_order)
    publish_pending(env.settings)  # the set-up's own journals are not the run's work
    analyze(env)  # a production database has statistics; a freshly loaded one has none yet
    generation = time.monotonic() - started
    path = workdir / f"{bank_file_id}.{'xml' if file_format == 'camt054' else 'txt'}"
    write_file(path, file_format, first_order, items, orders, bank_file_id)
    dispose_engines()
    worker = start_worker(env, workdir)
    before = high_water(env)
    pg_before = cpu_seconds(postgres_pids())
    worker_before = cpu_seconds(worker.tree())
    try:
        t0 = time.monotonic()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        children_cpu_before = usage.ru_utime + usage.ru_stime
        importer = subprocess.Popen(
            [ARLEDGER, "lockbox", "import", str(path), "--json", "--no-wait"],
            env=env.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        watcher = PeakWatcher(importer.pid)
        watcher.start()
        out, err = importer.communicate(timeout=7200)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        importer_cpu = usage.ru_utime + usage.ru_stime - children_cpu_before
        if importer.returncode != 0:
            raise RuntimeError(f"import failed: {err}")
        import_seconds = time.monotonic() - t0
        file_id = json.loads(out)["id"]
        settings = env.settings
        while True:
            done, total = progress(settings, file_id)
            if done >= total and unpublished_count(settings) == 0:
                break
            time.sleep(0.25)
        seconds = time.monotonic() - t0
        worker_peak = worker.tree_peak_mb()
        worker_cpu = cpu_seconds(worker.tree()) - worker_before
        pg_cpu = cpu_seconds(postgres_pids()) - pg_before
    finally:
        worker.stop()
    watcher.join(timeout=1)
    floor_seconds, raw_floor_seconds, rows = copy_floor(env, before)
    return {
        "orders": orders,
        "items": items,
        "seconds": round(seconds, 3),
        "import_seconds": round(import_seconds, 3),
        "items_per_s": round(items / seconds, 1),
        "floor_seconds": round(floor_seconds, 3),
        "floor_items_per_s": round(items / floor_seconds, 1),
        "ratio": round((items / seconds) / (items / floor_seconds), 3),
        "raw_floor_items_per_s": round(items / raw_floor_seconds, 1),
        "raw_ratio": round(raw_floor_seconds / seconds, 3),
        "rows_written": rows,
        "importer_peak_mb": round(watcher.peak_kb / 1024, 1),
        "worker_peak_mb": round(worker_peak, 1),
        "generation_seconds": round(generation, 1),
        "seconds_per_1000_items": round(1000 * seconds / items, 3),
        "cpu_seconds": {
            "worker": round(worker_cpu, 2),
            "postgres": round(pg_cpu, 2),
            "importer": round(importer_cpu, 2),
        },
    }


def copy_floor(env: Environment, before: dict[str, int]) -> tuple[float, float, dict[str, int]]:
    """Seconds for PostgreSQL to write exactly the rows this run wrote, by COPY, into an empty copy
    of the schema: (same schema — indexes, foreign keys and the deferred balance trigger live;
    raw — constraints and triggers off), and the row counts.

    Untimed, the empty copy first receives the rows the written rows point at but the run did
    not write: reference data, the orders and order lines it touched, the write-offs it reversed.
    Timed, in one transaction: COPY of the lockbox file, receipts, ledger commits, journals and
    journal lines; the lines' balance changes as a COPY into a staging table and one UPDATE; the
    COMMIT (where the deferred balance trigger runs).
    """
    run = {
        "lockbox_files": f"SELECT * FROM lockbox_files WHERE id IN (SELECT DISTINCT lockbox_file_id FROM receipts WHERE id > {before['receipts']})",
        "receipts": f"SELECT * FROM receipts WHERE id > {before['receipts']}",
        "ledger_commits": f"SELECT * FROM ledger_commits WHERE id > {before['commits']}",
        "journals": f"SELECT * FROM journals WHERE id > {before['journals']}",
        "journal_lines": f"SELECT * FROM journal_lines WHERE id > {before['lines']}",
    }
    touched_orders = f"SELECT DISTINCT order_id FROM journals WHERE id > {before['journals']} AND order_id IS NOT NULL"
    balances = f"SELECT id, balance_minor FROM order_lines WHERE id IN (SELECT DISTINCT line_id FROM journal_lines WHERE id > {before['lines']} AND line_id IS NOT NULL)"
    referenced = {
        "gl_accounts": "SELECT * FROM gl_accounts",
        "org_units": "SELECT * FROM org_units",
        "subsystems": "SELECT * FROM subsystems",
        "products": "SELECT * FROM products",
        "customers": "SELECT * FROM customers ORDER BY parent_id NULLS FIRST",
        "periods": "SELECT * FROM periods",
        "orders": f"SELECT * FROM orders WHERE id IN ({touched_orders})",
        "order_lines": f"SELECT * FROM order_lines WHERE order_id IN ({touched_orders})",
        "write_offs": f"SELECT * FROM write_offs WHERE id IN (SELECT write_off_id FROM journals WHERE id > {before['journals']})",
    }
    source = normalise_url(env.database_url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(source) as connection:
        dumps = {table: _dump(connection, query) for table, query in {**referenced, **run}.items()}
        balance_rows = _dump(connection, balances)
        rows = {
            table: int(connection.execute(f"SELECT count(*) FROM ({query}) q").fetchone()[0])
            for table, query in run.items()
        }
        rows["order_line_balances"] = int(
            connection.execute(f"SELECT count(*) FROM ({balances}) q").fetchone()[0]
        )
    timings = []
    for raw in (False, True):
        name, url = create_database("arledger_floor")
        try:
            upgrade(url)
            dispose_engines()
            with psycopg.connect(url) as target:
                if raw:
                    target.execute("SET session_replication_role = replica")
                for table in referenced:
                    _load(target, table, dumps[table])
                target.commit()
                started = time.monotonic()
                for table in run:
                    _load(target, table, dumps[table])
                target.execute(
                    "CREATE TEMP TABLE balance_changes (id bigint, balance_minor bigint) ON COMMIT DROP"
                )
                _load(target, "balance_changes", balance_rows)
                target.execute(
                    "UPDATE order_lines SET balance_minor = b.balance_minor FROM balance_changes b WHERE order_lines.id = b.id"
                )
                target.commit()
                timings.append(time.monotonic() - started)
        finally:
            drop_database(name)
    return timings[0], timings[1], rows


def _dump(connection: psycopg.Connection, query: str) -> bytes:
    buffer = io.BytesIO()
    with connection.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
        for data in copy:
            buffer.write(data)
    return buffer.getvalue()


def _load(connection: psycopg.Connection, table: str, data: bytes) -> None:
    with connection.cursor().copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(data)


PARSE = """
import json, os, sys, time
from ledger.intake.lockbox import iter_items, validate_file
from tests.support.processes import hwm_kb
started = time.monotonic()
validate_file(sys.argv[1])
validated = time.monotonic() - started
count = sum(1 for _ in iter_items(sys.argv[1]))
print(json.dumps({
    "items": count,
    "validate_seconds": round(validated, 2),
    "seconds": round(time.monotonic() - started, 2),
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child would report the
    # benchmark's own peak (the file writer's) whenever that is higher.
    "peak_mb": round(hwm_kb(os.getpid()) / 1024, 1),
}))
"""


def parse_only(items: int, workdir: Path, file_format: str = "bai") -> dict:
    """Peak memory to validate and stream an ``items``-check file, in a fresh process (no
    database): the file is written streamed, then parsed by the same two passes the importer
    makes."""
    path = workdir / "parse.txt"
    write_file(path, file_format, 0, items, items, "PARSE")
    result = subprocess.run(
        [sys.executable, "-c", PARSE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    report = json.loads(result.stdout)
    report["file_mb"] = round(path.stat().st_size / 1024 / 1024, 1)
    return {f"parse_{key}": value for key, value in report.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--items", type=int, default=100_000, help="checks in the file (and orders)"
    )
    parser.add_argument(
        "--scale", type=int, default=10, help="the second run's multiple of N (0: no second run)"
    )
    parser.add_argument(
        "--parse-only",
        action="store_true",
        help="only the parse: peak memory to validate and stream an N-check file (no database)",
    )
    parser.add_argument(
        "--format", choices=("bai", "camt054"), default="bai", help="the file's format"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    if args.parse_only:
        with tempfile.TemporaryDirectory(prefix="arledger-parse-") as directory:
            report = {**parse_only(args.items, Path(directory), args.format), "machine": machine()}
        print(
            f"parse of {report['parse_items']} checks ({report['parse_file_mb']} MB):"
            f" peak {report['parse_peak_mb']} MB, {report['parse_seconds']} s",
            file=sys.stderr,
        )
        print(json.dumps(report) if args.json else json.dumps(report, indent=2))
        return
    env = environment()
    try:
        with tempfile.TemporaryDirectory(prefix="arledger-bench-") as directory:
            workdir = Path(directory)
            first = run_phase(
                env, args.items, args.items, 0, workdir, bank_file_id="BENCH-1",
                file_format=args.format,
            )  # fmt: skip
            report = {**first, "machine": machine()}
            print(
                f"N={args.items}: {first['items_per_s']} items/s, floor {first['floor_items_per_s']} items/s, ratio {first['ratio']}; importer {first['importer_peak_mb']} MB, worker {first['worker_peak_mb']} MB",
                file=sys.stderr,
            )
            if args.scale > 1:
                n = args.items * args.scale
                second = run_phase_scaled(env, args, workdir)
                report["scaled"] = second
                report["per_item_cost_ratio"] = round(
                    second["seconds_per_1000_items"] / first["seconds_per_1000_items"], 3
                )
                report["peak_memory_ratio"] = {
                    "importer": round(second["importer_peak_mb"] / first["importer_peak_mb"], 3),
                    "worker": round(second["worker_peak_mb"] / first["worker_peak_mb"], 3),
                }
                print(
                    f"N={n}: {second['items_per_s']} items/s, floor {second['floor_items_per_s']} items/s, ratio {second['ratio']}; importer {second['importer_peak_mb']} MB, worker {second['worker_peak_mb']} MB; cost per item x{report['per_item_cost_ratio']}",
                    file=sys.stderr,
                )
    finally:
        env.close()
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


def run_phase_scaled(env: Environment, args: argparse.Namespace, workdir: Path) -> dict:
    """The second run: the database grows to scale x N orders, and a scale x N-item file pays the
    orders added for it."""
    n = args.items * args.scale
    return run_phase(
        env, n, n, args.items, workdir, bank_file_id="BENCH-2", file_format=args.format
    )


if __name__ == "__main__":
    main()
