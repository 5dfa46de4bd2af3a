"""What each database guarantee costs: the guarded COPY floor with one guard removed at a time.

    python benchmarks/guards.py --items 20000 [--runs 3] [--save-rows DIR] [--json]
    python benchmarks/guards.py --rows DIR [--runs 3] [--only balance] [--candidates] [--json]

Gets the floor's rows the way ``benchmarks/lockbox.py`` does (a pipeline run of N checks, then
exactly the rows it wrote: ``benchmarks/floor.py``), or loads rows an earlier run saved
(``--rows``), and COPYs them into an empty copy of the schema:

- with every guard live (the guarded floor) and with triggers and foreign-key checks off (the
  raw floor, as ``lockbox.py`` measures it; indexes stay);
- with one guard removed: the journal balance check (migration 0008), the append-only triggers,
  each foreign key of the tables written (since migration 0009 a check of the statement-level
  trigger of its table: the trigger's function is replaced by one without that key; any real
  constraint left on those tables is dropped), each index and unique constraint of those tables
  (the unique intake keys among them), every foreign key (0009's triggers on the tables written,
  and any real constraint left), every index but the primary keys.
  ``ix_journal_lines_journal_id`` is removed together with the balance check, which reads each
  journal's lines through it (without it, the check would scan the table once per journal);
- with ``--candidates``: the balance check replaced by each alternative weighed for migration 0008
  (0001's trigger per line; a deferred check per journal row plus a statement-level overflow check
  of the lines; 0008's with logged tables; 0008's without the journals' own triggers); and the
  foreign keys as they were before 0009 (real constraints, one check and one ``FOR KEY SHARE``
  lock per row: 0009's downgrade), 0009's checks also locking the parents ``FOR KEY SHARE``, and
  0009 with a statement-level UPDATE check over transition tables instead of its row-level one.

Every variant starts from a copy of one prepared template (migrated, the rows the run's rows point
at loaded). Variants run in ``--runs`` rounds, each round in a rotated order so that a slow minute
of the shared host falls on different variants; the table gives each variant's median: seconds,
items/s, and the share of the gap between the guarded and the raw floor that removing it closes;
and the same by the CPU seconds of the PostgreSQL backend that ran the COPY (read from /proc when
the server is local), which the host's other work stretches less than the wall time.
``calibration_ms`` (before and after) says how fast the machine was; compare ratios within a run.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from benchmarks.floor import (
    WRITTEN_TABLES,
    CopyTiming,
    FloorRows,
    clone_database,
    dump_rows,
    prepared_database,
    time_copy,
)
from benchmarks.support import calibration_ms, drop_database, environment, machine
from ledger.persistence.migrate import migration_module

GUARDED = "all guards (guarded floor)"
RAW = "no triggers, no FK checks (raw floor)"


@dataclass(frozen=True)
class Variant:
    """A schema to time: ``prepare`` run on the template's copy first; ``raw``: the raw floor."""

    name: str
    prepare: tuple[str, ...] = ()
    raw: bool = False


def variants(template_url: str, candidates: bool) -> list[Variant]:
    """Every variant, read from the template's catalog: the guards of the tables written."""
    balance = migration_module("0008")
    drop_balance = tuple(balance.DROP_BALANCE_CHECK)
    keys = migration_module("0009")
    checked = {t: v for t, v in keys.REPLACED.items() if t in WRITTEN_TABLES}
    with psycopg.connect(template_url) as connection:
        tables = list(WRITTEN_TABLES)
        append_only = connection.execute(
            "SELECT t.tgname, t.tgrelid::regclass::text FROM pg_trigger t "
            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = 'arledger_refuse_change' "
            "AND t.tgrelid::regclass::text = ANY(%s) ORDER BY 2, 1",
            (tables,),
        ).fetchall()
        foreign_keys = connection.execute(
            "SELECT conname, conrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s) ORDER BY 2, 1",
            (tables,),
        ).fetchall()
        # Indexes but primary keys (the foreign keys and the UPDATE find rows by them); an index
        # backing a constraint is dropped as the constraint.
        indexes = connection.execute(
            "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text, i.indisunique, "
            "c.conname FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid "
            "AND c.contype = 'u' WHERE NOT i.indisprimary "
            "AND i.indrelid::regclass::text = ANY(%s) ORDER BY 2, 1",
            (tables,),
        ).fetchall()
    intake_tables = ("receipts", "lockbox_files")

    def drop_index(index: str, table: str, constraint: str | None) -> str:
        if constraint:
            return f"ALTER TABLE {table} DROP CONSTRAINT {constraint}"
        return f"DROP INDEX {index}"

    found = [
        Variant(GUARDED),
        Variant(RAW, raw=True),
        Variant("balance check (0008)", drop_balance),
        Variant(
            f"append-only guards ({len(append_only)} triggers)",
            tuple(f"DROP TRIGGER {name} ON {table}" for name, table in append_only),
        ),
    ]
    found += [
        Variant(f"FK {name}", (f"ALTER TABLE {table} DROP CONSTRAINT {name}",))
        for name, table in foreign_keys
    ]
    # 0009's keys: the table's check replaced by one without this key (named as the constraint).
    found += [
        Variant(
            f"FK {name}",
            (keys.insert_check(table, [k for k in table_keys if k[0] != name]),),
        )
        for table, table_keys in checked.items()
        for name, *_ in table_keys
    ]
    every_fk = (
        *(f"ALTER TABLE {table} DROP CONSTRAINT {name}" for name, table in foreign_keys),
        *(s for table, table_keys in checked.items() for s in keys.drop_checks(table, table_keys)),
    )
    count_fk = len(foreign_keys) + sum(map(len, checked.values()))
    for index, table, unique, constraint in indexes:
        kind = "unique intake key" if unique and table in intake_tables else "index"
        statements: tuple[str, ...] = (drop_index(index, table, constraint),)
        if index == "ix_journal_lines_journal_id":
            kind, statements = "index (with the balance check)", (*drop_balance, *statements)
        found.append(Variant(f"{kind} {index}", statements))
    found += [
        Variant(f"every FK ({count_fk})", every_fk),
        Variant(
            f"every index but primary keys ({len(indexes)}, with the balance check)",
            (*drop_balance, *(drop_index(i, t, c) for i, t, _u, c in indexes)),
        ),
    ]
    if candidates:
        found += [
            Variant(
                "candidate: 0001's trigger per line",
                (*drop_balance, *balance.PREVIOUS_BALANCE_CHECK),
            ),
            Variant("candidate: per journal + statement overflow", (*drop_balance, *PER_JOURNAL)),
            Variant(
                "candidate: 0008 with logged tables",
                (
                    "ALTER TABLE journal_balance_pending SET LOGGED",
                    "ALTER TABLE journal_balance_commits SET LOGGED",
                ),
            ),
            Variant(
                "candidate: 0008 without the journals' triggers",
                ("DROP TRIGGER journals_touch_insert ON journals",),
            ),
            Variant(
                "candidate: real foreign keys, one check per row (before 0009)",
                tuple(keys.POSTGRES_DOWNGRADE),
            ),
            Variant(
                "candidate: 0009 locking the parents FOR KEY SHARE",
                tuple(keys.insert_check(t, k, lock=True) for t, k in checked.items()),
            ),
            Variant(
                "candidate: 0009 with statement-level UPDATE checks",
                tuple(statement_level_updates(keys, checked)),
            ),
        ]
    return found


# The alternative to 0008 also measured: a deferred constraint trigger per journal row (which
# checks every new journal at commit) and, since a line added to an already-committed journal
# fires none, a statement-level check that no journal's debits or credits exceed its amount
# (exact only because lines are positive and append-only). Not kept: see docs/performance.md.
PER_JOURNAL = (
    """
    CREATE FUNCTION bench_check_journal() RETURNS trigger AS $$
    DECLARE debits bigint; credits bigint; legs integer;
    BEGIN
        SELECT COALESCE(SUM(debit_minor), 0), COALESCE(SUM(credit_minor), 0), COUNT(*)
          INTO debits, credits, legs FROM journal_lines WHERE journal_id = NEW.id;
        IF debits <> credits OR legs < 2 OR debits <> NEW.amount_minor THEN
            RAISE EXCEPTION 'unbalanced journal %', NEW.id USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE CONSTRAINT TRIGGER bench_journal_balance AFTER INSERT ON journals
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_check_journal()
    """,
    """
    CREATE FUNCTION bench_check_overflow() RETURNS trigger AS $$
    DECLARE bad bigint;
    BEGIN
        SELECT j.id INTO bad
          FROM (SELECT DISTINCT journal_id FROM new_rows) t
          JOIN journals j ON j.id = t.journal_id
          CROSS JOIN LATERAL (SELECT SUM(debit_minor) AS d, SUM(credit_minor) AS c
                                FROM journal_lines l WHERE l.journal_id = t.journal_id) s
         WHERE s.d > j.amount_minor OR s.c > j.amount_minor LIMIT 1;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'unbalanced journal %', bad USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER bench_lines_overflow AFTER INSERT ON journal_lines
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_check_overflow()
    """,
)


def statement_level_updates(keys: ModuleType, checked: dict) -> list[str]:
    """0009's row-level UPDATE checks (fired only when an UPDATE sets a key column) replaced by
    a statement-level trigger over the NEW transition table, as the INSERT check is; such a
    trigger cannot be limited to some columns, so it fires for every UPDATE of the table."""
    statements = []
    for table, table_keys in checked.items():
        statements += [
            f"DROP TRIGGER {table}_fk_update_{column} ON {table}" for _n, column, *_ in table_keys
        ]
        statements.append(
            f"CREATE TRIGGER bench_fk_update_{table} AFTER UPDATE ON {table} REFERENCING NEW "
            f"TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION arledger_fk_check_{table}()"
        )
    return statements


def pipeline_rows(items: int) -> FloorRows:
    """A lockbox pipeline run of ``items`` checks on ``items`` orders, and the rows it wrote."""
    from benchmarks.lockbox import run_pipeline  # noqa: PLC0415 - only when no rows are given

    env = environment()
    try:
        with tempfile.TemporaryDirectory(prefix="arledger-guards-") as directory:
            _figures, before, _file, _messy = run_pipeline(
                env, items, items, 0, Path(directory), bank_file_id="GUARDS-1"
            )
        return dump_rows(env.database_url, before)
    finally:
        env.close()


def measure(rows: FloorRows, runs: int, only: Sequence[str], candidates: bool) -> dict:
    """Every variant ``runs`` times, in rotated rounds, on copies of one template."""
    template, template_url = prepared_database(rows, prefix="arledger_floor_template")
    try:
        chosen = [
            v
            for v in variants(template_url, candidates)
            if v.name in (GUARDED, RAW) or not only or any(word in v.name for word in only)
        ]
        timings: dict[str, list[CopyTiming]] = {v.name: [] for v in chosen}
        for round_ in range(runs):
            shift = round_ * len(chosen) // max(runs, 1)
            for variant in chosen[shift:] + chosen[:shift]:
                name, url = clone_database(template)
                try:
                    timing = time_copy(url, rows, raw=variant.raw, prepare=variant.prepare)
                finally:
                    drop_database(name)
                timings[variant.name].append(timing)
                cpu = (
                    ""
                    if timing.backend_cpu is None
                    else f", backend CPU {timing.backend_cpu:.2f} s"
                )
                print(f"  {variant.name}: {timing.seconds:.2f} s{cpu}", file=sys.stderr)
    finally:
        drop_database(template)
    return timings


def table(timings: dict[str, list[CopyTiming]], items: int) -> list[dict]:
    """Each variant's medians, and the share of the guarded-to-raw gap its removal closes (by
    wall time, and by the backend's CPU)."""

    def medians(name: str) -> tuple[float, float | None]:
        runs = timings[name]
        cpus = [t.backend_cpu for t in runs if t.backend_cpu is not None]
        return (
            statistics.median(t.seconds for t in runs),
            statistics.median(cpus) if len(cpus) == len(runs) else None,
        )

    def share(guarded: float | None, raw: float | None, value: float | None) -> float | None:
        if guarded is None or raw is None or value is None or guarded <= raw:
            return None
        return round((guarded - value) / (guarded - raw), 3)

    guarded, guarded_cpu = medians(GUARDED)
    raw, raw_cpu = medians(RAW)
    report = []
    for name, runs in timings.items():
        seconds, cpu = medians(name)
        report.append(
            {
                "guard": name,
                "seconds": round(seconds, 3),
                "items_per_s": round(items / seconds, 1),
                "share_of_gap": share(guarded, raw, seconds),
                "backend_cpu_seconds": None if cpu is None else round(cpu, 3),
                "cpu_share_of_gap": share(guarded_cpu, raw_cpu, cpu),
                "runs": [round(t.seconds, 3) for t in runs],
                "cpu_runs": [
                    None if t.backend_cpu is None else round(t.backend_cpu, 3) for t in runs
                ],
            }
        )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="checks (and orders) of the run")
    parser.add_argument("--runs", type=int, default=3, help="rounds over the variants")
    parser.add_argument("--rows", type=Path, help="rows saved by --save-rows (no pipeline run)")
    parser.add_argument("--save-rows", type=Path, help="save the run's rows to this directory")
    parser.add_argument(
        "--only", nargs="*", default=(), help="only the variants whose name has one of these words"
    )
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="also the alternatives to 0008's balance check and to 0009's foreign keys",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    # Stopped by a signal, it still drops the template and its copy (the finally blocks); a
    # background shell starts it with SIGINT ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    rows = FloorRows.load(args.rows) if args.rows else pipeline_rows(args.items)
    if args.save_rows:
        rows.save(args.save_rows)
    items = rows.counts["receipts"]
    calibration = {"before": calibration_ms()}
    timings = measure(rows, args.runs, args.only, args.candidates)
    calibration["after"] = calibration_ms()
    report = {
        "items": items,
        "rows_written": rows.counts,
        "runs": args.runs,
        "guards": table(timings, items),
        "calibration_ms": calibration,
        "machine": machine(),
    }
    width = max(len(row["guard"]) for row in report["guards"])
    print(
        f"{'guard removed':{width}}  seconds  items/s  share of gap  backend CPU s  CPU share",
        file=sys.stderr,
    )

    def percent(value: float | None) -> str:
        return "" if value is None else f"{value:.1%}"

    for row in report["guards"]:
        cpu = "" if row["backend_cpu_seconds"] is None else f"{row['backend_cpu_seconds']:.2f}"
        print(
            f"{row['guard']:{width}}  {row['seconds']:7.2f}  {row['items_per_s']:7.0f}"
            f"  {percent(row['share_of_gap']):>12}  {cpu:>13}  {percent(row['cpu_share_of_gap']):>9}",
            file=sys.stderr,
        )
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
