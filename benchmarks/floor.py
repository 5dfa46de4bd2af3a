"""The COPY floor shared by the benchmarks: exactly the rows a pipeline run wrote, written again by
PostgreSQL's COPY into an empty copy of the schema, timed.

:func:`dump_rows` reads what a run wrote (everything past the run's high-water marks) and what
those rows point at; :func:`time_copy` writes them into a fresh database. ``benchmarks/lockbox.py``
times it twice per run — the schema as migrated, every guard live (the guarded floor), and with
triggers and foreign-key checks off (the raw floor); ``benchmarks/guards.py`` times it with each
guard removed in turn. The rows can be saved to a directory and loaded again, so several code
versions can be timed on the same rows.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import func, select

from benchmarks.support import cpu_seconds, create_database, drop_database
from ledger.persistence.db import dispose_engines, normalise_url, unit_of_work
from ledger.persistence.migrate import upgrade
from ledger.persistence.schema import COMMITS, JOURNAL_LINES, JOURNALS, RECEIPTS

# The tables the timed COPY writes, in the order their foreign keys need; order_lines is the
# only one updated (the balances that moved), through a staging table.
RUN_TABLES = ("lockbox_files", "receipts", "ledger_commits", "journals", "journal_lines")
WRITTEN_TABLES = (*RUN_TABLES, "order_lines")


@dataclass
class FloorRows:
    """A run's rows in COPY's binary format: ``referenced`` (loaded untimed first: reference
    data, the orders and order lines the run touched, the write-offs it reversed), ``run`` (the
    rows it wrote, timed) and ``balances`` (``(order line id, balance)`` of the lines it moved)."""

    referenced: dict[str, bytes]
    run: dict[str, bytes]
    balances: bytes
    counts: dict[str, int]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for group, dumps in (("referenced", self.referenced), ("run", self.run)):
            for table, data in dumps.items():
                (directory / f"{group}.{table}.bin").write_bytes(data)
        (directory / "balances.bin").write_bytes(self.balances)
        meta = {
            "referenced": list(self.referenced),
            "run": list(self.run),
            "counts": self.counts,
        }
        (directory / "rows.json").write_text(json.dumps(meta, indent=1))

    @classmethod
    def load(cls, directory: Path) -> FloorRows:
        meta = json.loads((directory / "rows.json").read_text())
        return cls(
            referenced={
                t: (directory / f"referenced.{t}.bin").read_bytes() for t in meta["referenced"]
            },
            run={t: (directory / f"run.{t}.bin").read_bytes() for t in meta["run"]},
            balances=(directory / "balances.bin").read_bytes(),
            counts=meta["counts"],
        )


def high_water(database_url: str) -> dict[str, int]:
    """The highest id of each table a run appends to: the run's rows are those above."""
    with unit_of_work(database_url) as session:
        return {
            name: int(session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one())
            for name, table in (
                ("journals", JOURNALS),
                ("lines", JOURNAL_LINES),
                ("commits", COMMITS),
                ("receipts", RECEIPTS),
            )
        }


def dump_rows(database_url: str, before: dict[str, int]) -> FloorRows:
    """What the run that started at ``before`` (its :func:`high_water`) wrote, and what it points at."""
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
    with psycopg.connect(_plain(database_url)) as connection:
        rows = FloorRows(
            referenced={table: _dump(connection, query) for table, query in referenced.items()},
            run={table: _dump(connection, query) for table, query in run.items()},
            balances=_dump(connection, balances),
            counts={
                table: int(connection.execute(f"SELECT count(*) FROM ({query}) q").fetchone()[0])
                for table, query in run.items()
            },
        )
        rows.counts["order_line_balances"] = int(
            connection.execute(f"SELECT count(*) FROM ({balances}) q").fetchone()[0]
        )
    return rows


def prepared_database(rows: FloorRows, prefix: str = "arledger_floor") -> tuple[str, str]:
    """A new database migrated to head holding ``rows.referenced``, committed: the empty copy of
    the schema the timed COPY writes into. Returns its name and URL."""
    name, url = create_database(prefix)
    try:
        upgrade(url)
        dispose_engines()
        with psycopg.connect(url) as target:
            for table, data in rows.referenced.items():
                _load(target, table, data)
    except BaseException:
        drop_database(name)
        raise
    return name, url


def clone_database(template: str, prefix: str = "arledger_floor") -> tuple[str, str]:
    """A copy of database ``template`` (nobody may be connected to it), file by file: no WAL is
    written for it, so the copy does not load the timed run after it."""
    return create_database(prefix, template=template)


@dataclass(frozen=True)
class CopyTiming:
    """One timed COPY: wall seconds, and the CPU seconds of the PostgreSQL backend that ran it
    (None when the server is not on this machine): the work itself, which a busy host stretches
    less than the wall time."""

    seconds: float
    backend_cpu: float | None


def time_copy(
    url: str, rows: FloorRows, *, raw: bool = False, prepare: Sequence[str] = ()
) -> CopyTiming:
    """Write ``rows.run`` into the prepared database at ``url``, in one transaction, timed: COPY of
    each table, the order lines' balances as a COPY into a staging table and one UPDATE, and the
    COMMIT (where deferred checks run). ``raw``: triggers and foreign-key checks off
    (``session_replication_role = replica``). ``prepare``: statements run (and committed) first,
    untimed — a guard removed, another installed."""
    with psycopg.connect(url) as target:
        for statement in prepare:
            target.execute(statement)
        target.commit()
        if raw:
            target.execute("SET session_replication_role = replica")
            target.commit()
        backend = target.info.backend_pid
        cpu_before = cpu_seconds([backend]) if _local(backend) else None
        started = time.monotonic()
        for table, data in rows.run.items():
            _load(target, table, data)
        target.execute(
            "CREATE TEMP TABLE balance_changes (id bigint, balance_minor bigint) ON COMMIT DROP"
        )
        _load(target, "balance_changes", rows.balances)
        target.execute(
            "UPDATE order_lines SET balance_minor = b.balance_minor FROM balance_changes b WHERE order_lines.id = b.id"
        )
        target.commit()
        seconds = time.monotonic() - started
        cpu = cpu_seconds([backend]) - cpu_before if cpu_before is not None else None
        return CopyTiming(seconds, cpu)


def _local(pid: int) -> bool:
    """Whether the backend ``pid`` is a PostgreSQL process of this machine (its CPU readable)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster")
    except OSError:
        return False


def guarded_and_raw(rows: FloorRows) -> tuple[float, float]:
    """The guarded floor (the schema as migrated) and the raw floor (triggers and foreign-key
    checks off), each into its own fresh database, in that order."""
    timings = []
    for raw in (False, True):
        name, url = prepared_database(rows)
        try:
            timings.append(time_copy(url, rows, raw=raw).seconds)
        finally:
            drop_database(name)
    return timings[0], timings[1]


def _plain(url: str) -> str:
    return normalise_url(url).replace("postgresql+psycopg://", "postgresql://")


def _dump(connection: psycopg.Connection, query: str) -> bytes:
    buffer = io.BytesIO()
    with connection.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
        for data in copy:
            buffer.write(data)
    return buffer.getvalue()


def _load(connection: psycopg.Connection, table: str, data: bytes) -> None:
    with connection.cursor().copy(
        sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table))
    ) as copy:
        copy.write(data)
