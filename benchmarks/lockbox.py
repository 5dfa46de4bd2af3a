"""Lockbox benchmark: a bank file of N checks through the real pipeline, against the COPY floor.

    python benchmarks/lockbox.py --items 100000 [--scale 10] [--messy 0.3] [--json]
    python benchmarks/lockbox.py --items 1000000 --parse-only [--json]
    python benchmarks/lockbox.py --format bai2 ... (the same, with a BAI2 bank file)

Generates N open orders of three lines (mixed priorities; every fifth with a standard and an
advanced write-off; ten per customer, ``--orders-per-customer`` to change it) and an N-item BAI lockbox file whose checks pay, partly pay, overpay, split
across two orders, or name an order that does not exist. Then, timed end to end: `arledger
lockbox import` (validate, receive, fan out) with a Celery worker at concurrency 2 as a separate
process, until every check is distributed and every journal is published to the Redis stream.

In the same run it measures two floors (``benchmarks/floor.py``): the time PostgreSQL takes to
COPY exactly the rows the run wrote — receipts, the lockbox file, ledger commits, journals,
journal lines, and the order lines whose balance moved — into an empty copy of the same schema
with triggers and foreign-key checks off (the raw floor: ``raw_floor_*``, and ``floor_*`` and
``ratio``, the headline), and with every guard live — indexes, foreign keys, the append-only
triggers and the deferred balance check (the guarded floor: ``guarded_floor_*``,
``guarded_ratio``). It prints items/s beside both floors, both ratios, and the peak memory of the
importer and of the worker; then the same run at ``--scale`` times N (orders and items), to show
memory and cost per item stay flat as the file and the database grow. ``benchmarks/guards.py``
takes the guarded floor apart guard by guard.

With ``--messy FRACTION``, that share of the checks names no usable order (matching, SPEC
section 15): the same money, but its order given only in remittance text (``INV#B-000123``,
``b 123``, ``Ref:B-12 40.00``…), or only a payer account registered to the customer
in the load file and the amount of exactly one of its open orders, or only the customer and that
amount. Such a file is CSV with the remittance and payer_account columns (the BAI profile has no
field for them); ``--format csv`` writes a clean run's file as CSV too. After the run every
receipt is read back (``receipt show``'s view: status and the orders its journals reach) and
checked against the answer the generator knows: ``automatic_rate`` is the share of messy checks
placed on exactly their orders, ``misapplied`` counts receipts (messy or not) on any other set
of orders, ``missed`` messy checks left unplaced, ``by_rule`` the receipts per ``match.rule``
(a clean run is checked and reported the same way, with no messy checks).

Uses ARLEDGER_DATABASE_URL and ARLEDGER_BROKER_URL when set; otherwise a throwaway database on
the local PostgreSQL (dropped after) and the local Redis (database 12, flushed).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy import select

from benchmarks import support
from benchmarks.floor import dump_rows, guarded_and_raw, high_water
from benchmarks.support import (
    ARLEDGER,
    Environment,
    calibration_ms,
    cpu_seconds,
    customer_of,
    environment,
    generate_orders,
    machine,
    opening_balance,
    order_lines,
    orders_of,
    payer_account,
    postgres_pids,
    start_worker,
)
from ledger.domain.money import Money
from ledger.intake.lockbox import LockboxItem, write_bai, write_csv
from ledger.intake.lockbox.bai2_writer import (
    CREDIT,
    DEBIT,
    Bai2Account,
    Bai2Entry,
    Bai2Group,
    write_bai2,
)
from ledger.intake.lockbox.camt_writer import bank_reference, camt_entries, write_camt
from ledger.outbox.publisher import publish_pending, unpublished_count
from ledger.persistence.db import connect, dispose_engines, normalise_url
from ledger.persistence.schema import RECEIPTS
from ledger.queries.views import receipt_views
from ledger.services.lockbox import distributed
from tests.support.processes import hwm_kb

DEPOSIT = date(2026, 11, 6)


def usd(minor: int) -> Money:
    return Money.from_minor(minor, "USD")


def checks(first: int, count: int, orders_total: int, messy: Messy | None = None):
    """The checks of the file, streamed: one in ten of each kind below; with ``messy``, the
    checks it picks lose their order (see :class:`Messy`)."""
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
        item = LockboxItem(
            batch=f"{1 + n // 500}",
            item=f"{n % 500 + 1}",
            deposit_date=DEPOSIT,
            check_number=f"{100000 + n}",
            amount=amount,
            customer=f"C-{customer_of(i)}",
            allocations=allocations,
            line=0,
        )
        yield messy.rewrite(n, item) if messy is not None else item


# --- --messy: checks that name no usable order, and their known answers -----------------------


def _possible_balances(index: int, n: int) -> set[int]:
    """Every balance order ``index`` (paid by check ``n`` of its phase) may have while the file
    is distributed, in whatever order the batches run: the opening balance, and after a part
    payment (kinds 4 and 5), a split's share (kind 7) or the 15.00 the split before it pays
    (kind 8). Zero or less is not open."""
    opening = opening_balance(index)
    owed = sum(order_lines(index))
    kind = n % 10
    values = {opening}
    if kind in (4, 5):
        values.add(opening - owed // 2)
    elif kind == 7:
        values.add(opening - owed // 3)
    elif kind == 8:
        values.add(opening - 1_500)
    return {v for v in values if v > 0}


@dataclass
class Messy:
    """Which checks of a phase name no usable order, how, and the answer for each.

    A check is picked with probability ``fraction / 0.8`` among those whose order nothing else
    in the file names (not kind 8, whose order the split before it names, nor kind 9, which
    names no order, nor the first check, whose order the last check's split may name; rule 1
    refuses those shares, the split's second order being another customer's, but the answers
    do not rely on it). Of those,
    half carry the order in remittance text only (a split check only its first order); a
    quarter only a payer account and the amount of the order's opening balance, a quarter only
    the customer and that amount, when no other open order of the customer can have that
    balance at any moment of the run (else they too carry text). The answer: the orders the
    clean check would have paid.
    """

    fraction: float
    first: int
    count: int
    seed: int = 0
    exact: set[int] = field(default_factory=set)  # checks whose amount alone decides

    def __post_init__(self) -> None:
        self.exact = self._unique_balances()

    def variant(self, n: int) -> str | None:
        if n == 0 or n % 10 in (8, 9):
            return None
        rng = random.Random(self.seed * 1_000_003 + self.first + n)
        if rng.random() >= self.fraction / 0.8:
            return None
        return ("text", "text", "payer", "customer")[rng.randrange(4)]

    def _unique_balances(self) -> set[int]:
        """The checks of the amount-only variants whose order's opening balance no other order
        of its customer can have during the run (earlier phases' orders included)."""
        wanted: dict[int, list[int]] = {}
        for n in range(self.count):
            if self.variant(n) in ("payer", "customer"):
                wanted.setdefault(customer_of(self.first + n), []).append(n)
        unique: set[int] = set()
        for customer, checks_of_customer in wanted.items():
            seen: Counter[int] = Counter()
            for index in orders_of(customer, self.first + self.count):
                n = index - self.first if index >= self.first else index
                seen.update(_possible_balances(index, n))
            for n in checks_of_customer:
                if seen[opening_balance(self.first + n)] == 1:
                    unique.add(n)
        return unique

    def rewrite(self, n: int, item: LockboxItem) -> LockboxItem:
        variant = self.variant(n)
        if variant is None:
            return item
        i = self.first + n
        customer = customer_of(i)
        if variant != "text" and n in self.exact:
            amount = usd(opening_balance(i))
            if variant == "payer":
                return _replace(item, amount, None, None, payer_account(customer))
            return _replace(item, amount, item.customer, None, None)
        rng = random.Random(self.seed * 7_919 + i)
        if len(item.allocations) > 1:
            # Only the split's first order: its second is another customer's (see answer()).
            order, amount = item.allocations[0]
            text = f"Ref:{order} {amount}"
        else:
            text = rng.choice(
                (f"INV#B-{i:06d}", f"b {i}", f"Invoice B-{i}", f"REF:b-0{i}", f"inv-B{i}")
            )
        named = item.customer if rng.random() < 0.5 else None
        return _replace(item, item.amount, named, text, None)

    def answer(self, n: int) -> frozenset[str]:
        """The orders check ``n`` must be placed on (none for one naming an unknown order)."""
        if n % 10 == 9:
            return frozenset()
        # A split check (kind 7) names its own order and the next one, which is another
        # customer's: rule 1 refuses that one (rules.md section 14), its share stays unapplied.
        return frozenset((f"B-{self.first + n}",))

    def is_messy(self, n: int) -> bool:
        return self.variant(n) is not None


def _replace(
    item: LockboxItem,
    amount: Money,
    customer: str | None,
    remittance: str | None,
    payer: str | None,
) -> LockboxItem:
    return LockboxItem(
        batch=item.batch,
        item=item.item,
        deposit_date=item.deposit_date,
        check_number=item.check_number,
        amount=amount,
        customer=customer,
        allocations=(),
        line=0,
        remittance=remittance,
        payer_account=payer,
    )


def check_index(external_key: str, camt_references: dict[str, int]) -> int:
    """Which check of the phase a receipt is, from its key: ``lockbox:…:BATCH:ITEM`` for a
    lockbox file; for a bank file ``bank:bai2:ACCOUNT:<file id>-N:…`` (BAI2, :func:`bai2_entries`)
    or ``bank:ACCOUNT:<bank reference>:…`` (camt.054, the references in ``camt_references``)."""
    if external_key.startswith("bank:bai2:"):
        return int(external_key.split(":")[3].rsplit("-", 1)[1])
    if external_key.startswith("bank:"):
        return camt_references[external_key.split(":")[2]]
    _, _, batch, item = external_key.rsplit(":", 3)
    return (int(batch) - 1) * 500 + int(item) - 1


def camt_references(count: int, bank_file_id: str) -> dict[str, int]:
    """The bank reference of each of ``count`` checks in a camt.054 file (:func:`checks`'
    batches and items), to its index."""
    return {
        bank_reference(f"{1 + n // 500}", f"{n % 500 + 1}", bank_file_id): n for n in range(count)
    }


def verify(
    env: Environment, file_id: int, messy: Messy, references: dict[str, int] | None = None
) -> dict:
    """Every receipt of the file against its answer (see the module docstring); ``references``:
    a camt.054 file's, from :func:`camt_references`."""
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    with connect(env.database_url) as connection:
        rows = connection.execute(
            select(RECEIPTS).where(RECEIPTS.c.lockbox_file_id == file_id).order_by(RECEIPTS.c.id)
        ).all()
        for start in range(0, len(rows), 1_000):
            for view in receipt_views(connection, rows[start : start + 1_000]):
                n = check_index(view["external_key"], references or {})
                rules[(view["match"] or {}).get("rule") or "none"] += 1
                outcomes[_outcome(messy, n, frozenset(view["orders"]))] += 1
    messy_items = outcomes["messy_right"] + outcomes["messy_missed"] + outcomes["messy_wrong"]
    return {
        "messy": messy.fraction,
        "messy_items": messy_items,
        "messy_placed": outcomes["messy_right"],
        "automatic_rate": round(outcomes["messy_right"] / messy_items, 4) if messy_items else 0.0,
        "missed": outcomes["messy_missed"],
        "misapplied": outcomes["messy_wrong"] + outcomes["clean_wrong"],
        "by_rule": dict(sorted(rules.items())),
        "verify_seconds": round(time.monotonic() - started, 1),
    }


def _outcome(messy: Messy, n: int, placed: frozenset[str]) -> str:
    answer = messy.answer(n)
    group = "messy" if messy.is_messy(n) else "clean"
    if placed == answer:
        return f"{group}_right"
    if not placed:
        return f"{group}_missed"
    return f"{group}_wrong"


def bai2_entries(items, bank_file_id: str):
    """The checks as BAI2 credits naming their orders in the text (a split check names both),
    and one debit after every 50 credits, which the import counts and skips."""
    for n, item in enumerate(items):
        orders = " and ".join(order for order, _ in item.allocations)
        yield Bai2Entry(
            CREDIT, item.amount.minor, f"{bank_file_id}-{n}", None, f"payment for order {orders}"
        )
        if n % 50 == 49:
            yield Bai2Entry(DEBIT, 1_000, f"{bank_file_id}-D{n}", None, "check paid")


def write_bank_file(
    path: Path, make_items: Callable[[], Iterator[LockboxItem]], file_format: str, bank_file_id: str
) -> None:
    """The run's bank file, streamed: the BAI lockbox layout, the CSV (with the matching columns),
    a BAI2 statement (one account) or a camt.054 notification. ``make_items`` gives the checks
    afresh each time it is called (camt.054's totals precede its entries: a first pass adds them)."""
    if file_format == "camt054":
        count, total = 0, Decimal(0)
        for item in make_items():
            count, total = count + 1, total + item.amount.amount
        with path.open("wb") as stream:
            entries = camt_entries(make_items(), salt=bank_file_id)
            write_camt(
                stream, entries, message_id=bank_file_id, account="BENCH-ACCOUNT",
                currency="USD", totals=(count, total),
            )  # fmt: skip
        return
    items = make_items()
    with path.open("w", encoding="utf-8", newline="") as handle:
        if file_format == "csv":
            write_csv(items, handle, matching_columns=True)
        elif file_format == "bai2":
            account = Bai2Account(
                "BENCH-ACCOUNT", bai2_entries(items, bank_file_id), currency="USD"
            )
            write_bai2([Bai2Group(DEPOSIT, [account])], handle, file_id=bank_file_id)
        else:
            write_bai(items, handle, bank_file_id=bank_file_id, created=DEPOSIT)


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


def run_phase(
    env: Environment,
    orders: int,
    items: int,
    first_order: int,
    workdir: Path,
    *,
    bank_file_id: str,
    messy: float = 0.0,
    file_format: str = "bai",
) -> dict:
    """One run: the pipeline, then its guarded and raw floors, then every receipt checked."""
    run, before, file_id, mess = run_pipeline(
        env,
        orders,
        items,
        first_order,
        workdir,
        bank_file_id=bank_file_id,
        messy=messy,
        file_format=file_format,
    )
    rows = dump_rows(env.database_url, before)
    guarded_seconds, raw_seconds = guarded_and_raw(rows)
    references = camt_references(items, bank_file_id) if file_format == "camt054" else None
    rate = items / run["seconds"]
    return {
        **verify(env, file_id, mess, references),
        **run,
        # The headline: the pipeline against the raw floor (floor_* and ratio, issue 17); the
        # guarded floor beside it (guarded_*).
        "floor_seconds": round(raw_seconds, 3),
        "floor_items_per_s": round(items / raw_seconds, 1),
        "ratio": round(rate / (items / raw_seconds), 3),
        "raw_floor_seconds": round(raw_seconds, 3),
        "raw_floor_items_per_s": round(items / raw_seconds, 1),
        "raw_ratio": round(rate / (items / raw_seconds), 3),
        "guarded_floor_seconds": round(guarded_seconds, 3),
        "guarded_floor_items_per_s": round(items / guarded_seconds, 1),
        "guarded_ratio": round(rate / (items / guarded_seconds), 3),
        "guards_cost": round(guarded_seconds / raw_seconds, 3),
        "rows_written": rows.counts,
    }


def run_pipeline(
    env: Environment,
    orders: int,
    items: int,
    first_order: int,
    workdir: Path,
    *,
    bank_file_id: str,
    messy: float = 0.0,
    file_format: str = "bai",
) -> tuple[dict, dict[str, int], int, Messy]:
    """The pipeline alone: ``orders`` orders generated, an ``items``-check file imported and
    distributed by a worker until every journal is published. Returns its figures, the tables'
    high-water marks before it (the floor's rows are those above), the file's id and the messy
    checks' answers."""
    started = time.monotonic()
    mess = Messy(messy, first_order, items)
    generate_orders(env, orders, start=first_order, payers=bool(messy))
    publish_pending(env.settings)  # the set-up's own journals are not the run's work
    analyze(env)  # a production database has statistics; a freshly loaded one has none yet
    generation = time.monotonic() - started
    suffix = {"csv": "csv", "camt054": "xml"}.get(file_format, "txt")
    path = workdir / f"{bank_file_id}.{suffix}"
    write_bank_file(
        path,
        lambda: checks(first_order, items, orders, mess if messy else None),
        file_format,
        bank_file_id,
    )
    dispose_engines()
    worker = start_worker(env, workdir)
    before = high_water(env.database_url)
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
        # Polled for the end only: a count of the queued receipts, as the progress bar takes it,
        # cost PostgreSQL 28 ms a poll at N = 100,000 (docs/performance.md, "What the
        # pipeline's own statements cost").
        while not (distributed(settings, file_id) and unpublished_count(settings) == 0):
            time.sleep(0.25)
        seconds = time.monotonic() - t0
        worker_peak = worker.tree_peak_mb()
        worker_cpu = cpu_seconds(worker.tree()) - worker_before
        pg_cpu = cpu_seconds(postgres_pids()) - pg_before
    finally:
        worker.stop()
    watcher.join(timeout=1)
    figures = {
        "format": file_format,
        "orders": orders,
        "items": items,
        "seconds": round(seconds, 3),
        "import_seconds": round(import_seconds, 3),
        "items_per_s": round(items / seconds, 1),
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
    return figures, before, file_id, mess


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
    write_bank_file(path, lambda: checks(0, items, items), file_format, "PARSE")
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
        "--messy",
        type=float,
        default=0.0,
        help="share of checks naming no usable order, 0 to 0.8 (matching; CSV file)",
    )
    parser.add_argument(
        "--format",
        choices=("bai", "csv", "bai2", "camt054"),
        default=None,
        help="the bank file's format (default: bai, csv with --messy)",
    )
    parser.add_argument(
        "--orders-per-customer",
        type=int,
        default=support.ORDERS_PER_CUSTOMER,
        help="how many of the orders each customer has (N / 100: one hundred customers)",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    if args.orders_per_customer < 1:
        parser.error("--orders-per-customer must be at least 1")
    support.ORDERS_PER_CUSTOMER = args.orders_per_customer
    if not 0 <= args.messy <= 0.8:
        parser.error("--messy must be between 0 and 0.8")
    if args.messy and args.format not in (None, "csv"):
        parser.error("--messy needs a CSV file: it carries the remittance and payer columns")
    args.format = args.format or ("csv" if args.messy else "bai")
    if args.parse_only:
        with tempfile.TemporaryDirectory(prefix="arledger-parse-") as directory:
            report = {
                **parse_only(args.items, Path(directory), args.format),
                "format": args.format,
                "machine": machine(),
            }
        print(
            f"parse of {report['parse_items']} checks ({report['parse_file_mb']} MB):"
            f" peak {report['parse_peak_mb']} MB, {report['parse_seconds']} s",
            file=sys.stderr,
        )
        print(json.dumps(report) if args.json else json.dumps(report, indent=2))
        return
    env = environment()
    # How fast the machine was around the run (benchmarks.support.calibration_ms): compare runs
    # at a similar figure only.
    calibration = {"before": calibration_ms()}
    try:
        with tempfile.TemporaryDirectory(prefix="arledger-bench-") as directory:
            workdir = Path(directory)
            first = run_phase(
                env,
                args.items,
                args.items,
                0,
                workdir,
                bank_file_id="BENCH-1",
                messy=args.messy,
                file_format=args.format,
            )
            report = {
                **first,
                "format": args.format,
                "orders_per_customer": args.orders_per_customer,
                "machine": machine(),
            }
            print(
                f"N={args.items}: {headline(first)}",
                file=sys.stderr,
            )
            if args.messy:
                print(
                    f"messy {first['messy_items']} checks: automatic rate {first['automatic_rate']}, {first['missed']} missed, {first['misapplied']} misapplied; by rule {first['by_rule']}",
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
                    f"N={n}: {headline(second)}; cost per item x{report['per_item_cost_ratio']}",
                    file=sys.stderr,
                )
    finally:
        env.close()
    calibration["after"] = calibration_ms()
    report["calibration_ms"] = calibration
    print(f"calibration_ms {calibration}", file=sys.stderr)
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


def headline(run: dict) -> str:
    """The pipeline, the raw floor and the guarded floor side by side, and the ratios."""
    return (
        f"pipeline {run['items_per_s']} items/s, raw floor {run['raw_floor_items_per_s']}/s"
        f" (ratio {run['raw_ratio']}), guarded floor {run['guarded_floor_items_per_s']}/s"
        f" (ratio {run['guarded_ratio']}; guards x{run['guards_cost']} the raw floor's time);"
        f" importer {run['importer_peak_mb']} MB, worker {run['worker_peak_mb']} MB"
    )


def run_phase_scaled(env: Environment, args: argparse.Namespace, workdir: Path) -> dict:
    """The second run: the database grows to scale x N orders, and a scale x N-item file pays the
    orders added for it."""
    n = args.items * args.scale
    return run_phase(
        env,
        n,
        n,
        args.items,
        workdir,
        bank_file_id="BENCH-2",
        messy=args.messy,
        file_format=args.format,
    )


if __name__ == "__main__":
    main()
