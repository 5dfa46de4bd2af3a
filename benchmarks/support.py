"""Shared pieces of the benchmarks: throwaway databases, worker processes, memory readings, and
bulk generation of orders and write-offs through the same domain and repository code the product
uses (set-based, so a million lines load in minutes, not hours).
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from config.settings import Settings
from ledger.domain.money import Money
from ledger.domain.order import Reason
from ledger.intake.inputs import LoadFile, OrderIn, validate_load_file
from ledger.persistence.db import dispose_engines
from ledger.persistence.migrate import upgrade
from ledger.persistence.unit_of_work import UnitOfWork
from ledger.services.load import load

# The process helpers are the test suite's: its pipeline tests start workers the same way.
from tests.support.processes import ARLEDGER, Process, arledger_env

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "ARLEDGER_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ARLEDGER_BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
DAY = date(2026, 11, 4)


@dataclass
class Environment:
    """Where a benchmark run writes: a database, a broker, a GL sink; dropped at the end if ours."""

    database_url: str
    broker_url: str
    sink_url: str
    owned_database: str | None = None

    @property
    def settings(self) -> Settings:
        return Settings(
            database_url=self.database_url, broker_url=self.broker_url, gl_sink=self.sink_url
        )

    def env(self, **extra: str) -> dict[str, str]:
        return arledger_env(
            self.database_url, self.broker_url, self.sink_url, "bench-secret", **extra
        )

    def close(self) -> None:
        dispose_engines()
        if self.owned_database:
            drop_database(self.owned_database)
        redis.Redis.from_url(self.broker_url).flushdb()


def create_database(prefix: str = "arledger_bench", template: str | None = None) -> tuple[str, str]:
    """A new database named ``prefix`` and a random suffix: its name and URL. With ``template``,
    a copy of that database made file by file (``STRATEGY FILE_COPY``: no WAL for the copy)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {} STRATEGY FILE_COPY").format(
            statement, sql.Identifier(template)
        )
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(statement)
    return name, f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def environment() -> Environment:
    """ARLEDGER_DATABASE_URL / ARLEDGER_BROKER_URL when set, else a throwaway database on the local
    PostgreSQL and the local Redis (database 12, flushed)."""
    broker = os.environ.get("ARLEDGER_BROKER_URL") or REDIS_URL
    redis.Redis.from_url(broker).flushdb()
    if os.environ.get("ARLEDGER_DATABASE_URL"):
        url, owned = os.environ["ARLEDGER_DATABASE_URL"], None
    else:
        owned, url = create_database()
    upgrade(url)
    return Environment(url, broker, broker, owned)


def calibration_ms(repeats: int = 3) -> float:
    """CPU milliseconds a fixed piece of pure Python takes here now (the least of ``repeats``).

    This machine's speed moves with its neighbours' load by more than most changes move a
    figure: the same code has spent half as much CPU again on the same run an hour later. Taken
    before and after a run, this tells a slow machine from a slow change.
    """
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        table: dict[int, int] = {}
        for i in range(300_000):
            table[i & 1023] = table.get(i & 1023, 0) + i * i % 7
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


def machine() -> dict:
    """What the figures were measured on: CPU model and count, Python and PostgreSQL versions."""
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    with psycopg.connect(ADMIN_URL) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "postgres": version,
    }


# --- processes and memory ----------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds consumed so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def start_worker(env: Environment, log_dir: Path, concurrency: int = 2) -> Process:
    worker = Process(
        [ARLEDGER, "worker", "--concurrency", str(concurrency), "--loglevel", "WARNING"],
        env.env(),
        log_dir / "worker.log",
    )
    deadline = time.monotonic() + 60
    celery = str(Path(ARLEDGER).with_name("celery"))
    while time.monotonic() < deadline:
        ping = subprocess.run(
            [celery, "-A", "workers.celery_app:app", "inspect", "ping", "--timeout", "2"],
            env=env.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if "pong" in ping.stdout:
            return worker
        time.sleep(0.5)
    raise RuntimeError("the worker never answered a ping")


# --- data generation ---------------------------------------------------------------------------

REFERENCE = {
    "accounts": [
        {"code": "1000", "name": "Cash", "type": "asset"},
        {"code": "1100", "name": "AR", "type": "asset"},
        {"code": "2100", "name": "Unapplied receipts", "type": "liability"},
        {"code": "2200", "name": "Unearned income", "type": "liability"},
        {"code": "4000", "name": "Revenue", "type": "revenue"},
        {"code": "6100", "name": "Bad debt", "type": "expense"},
    ],
    "org_units": [
        {
            "code": "ASSN",
            "cash_account": "1000",
            "ar_account": "1100",
            "unapplied_account": "2100",
            "credit_writeoff_account": "2200",
        }
    ],
    "subsystems": [
        {"code": "MTG", "priority": 1},
        {"code": "SUB", "priority": 2},
        {"code": "FND", "priority": 3},
    ],
    "products": [
        {
            "code": "DUES",
            "subsystem": "MTG",
            "priority": 1,
            "revenue_account": "4000",
            "writeoff_account": "6100",
        },
        {
            "code": "COURSE",
            "subsystem": "MTG",
            "priority": 2,
            "revenue_account": "4000",
            "writeoff_account": "6100",
        },
        {
            "code": "BOOK",
            "subsystem": "SUB",
            "priority": 5,
            "revenue_account": "4000",
            "writeoff_account": "6100",
            "inventoried": True,
        },
        {
            "code": "DONATION",
            "subsystem": "FND",
            "priority": 0,
            "revenue_account": "4000",
            "writeoff_account": "6100",
        },
    ],
}
PRODUCTS = ["DUES", "COURSE", "BOOK", "DONATION"]

# How many of the generated orders each customer has: ten by default, as in a membership or
# course ledger, so customers grow with the orders and a customer's open orders are as many at
# 1M orders as at 100k. The benchmarks' --orders-per-customer sets it (N / 100 gives 100
# customers, as the benchmarks had before matching, when nothing read a customer's orders).
# Neighbouring orders are always different customers': a split check's second order is
# another customer's.
ORDERS_PER_CUSTOMER = 10


def customer_of(index: int) -> int:
    """The customer (``C-<n>``) of generated order ``index``: blocks of 100 customers, each
    with every hundredth order of its block."""
    return index // (100 * ORDERS_PER_CUSTOMER) * 100 + index % 100


def orders_of(customer: int, end: int) -> range:
    """The generated orders of ``customer`` below index ``end``."""
    block = 100 * ORDERS_PER_CUSTOMER
    first = customer // 100 * block
    return range(first + customer % 100, min(end, first + block), 100)


def payer_account(customer: int) -> str:
    """The payer account a run with payer accounts registers to customer ``C-<customer>``."""
    return f"0210000{customer:02d}-55{customer:04d}"


def order_lines(index: int) -> list[int]:
    """The three line amounts (cents) of order ``index``: deterministic, varied."""
    rng = random.Random(index)
    return [rng.randrange(1_000, 30_000) for _ in range(3)]


def opening_balance(index: int) -> int:
    """Order ``index``'s balance (cents) once generated: its lines less the write-offs
    :func:`generate_orders` makes on every fifth order (a tenth of lines 2 and 3)."""
    lines = order_lines(index)
    if index % 5:
        return sum(lines)
    return lines[0] + sum(line - max(1, line // 10) for line in lines[1:])


def generate_orders(
    env: Environment,
    count: int,
    *,
    start: int = 0,
    chunk: int = 5_000,
    reference: dict | None = None,
    payers: bool = False,
) -> None:
    """Load ``count`` orders of three lines (mixed priorities) with their SALE journals, and
    their customers (:func:`customer_of`; each with its :func:`payer_account` with ``payers``),
    then write off part of some lines — standard and advanced adjustments — in bulk.
    ``reference``: the reference data to load first (default REFERENCE)."""
    settings = env.settings
    with UnitOfWork(settings.database_url) as uow:
        load(uow, validate_load_file(__import__("json").dumps(reference or REFERENCE)))
        uow.commit()
    for first in range(start, start + count, chunk):
        numbers = range(first, min(first + chunk, start + count))
        customers = sorted({customer_of(i) for i in numbers})
        data = LoadFile(
            customers=[
                {
                    "id": f"C-{c}",
                    "name": f"Customer {c}",
                    "payer_accounts": [payer_account(c)] if payers else [],
                }
                for c in customers
            ],
            orders=[
                OrderIn(
                    number=f"B-{i}",
                    customer=f"C-{customer_of(i)}",
                    org_unit="ASSN",
                    currency="USD",
                    date=DAY,
                    lines=[
                        {
                            "line": n + 1,
                            "product": PRODUCTS[(i + n) % 4],
                            "amount": str(Money.from_minor(cents, "USD")),
                            "shipped": True,
                        }
                        for n, cents in enumerate(order_lines(i))
                    ],
                )
                for i in numbers
            ],
        )
        with UnitOfWork(settings.database_url) as uow:
            load(uow, data)
            _write_offs(uow, [f"B-{i}" for i in numbers if i % 5 == 0])
            uow.commit()


def _write_offs(uow: UnitOfWork, numbers: list[str]) -> None:
    """Every fifth order: a standard write-off on line 2 and an advanced one on line 3."""
    ids = uow.orders.ids_by_number(numbers)
    orders = uow.orders.load(ids.values(), lock=True)
    journals = []
    for order in orders.values():
        for line_no, advanced in ((2, False), (3, True)):
            line = order.line(line_no)
            share = Money.from_minor(max(1, line.balance.minor // 10), "USD")
            journals.append(
                order.write_off(
                    line_no, share, Reason.BAD_DEBT, posting_date=DAY, advanced=advanced
                )[1]
            )
    uow.journals.write(journals, orders.values())
