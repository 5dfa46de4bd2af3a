"""The benchmarks, run at small N as a smoke test: they start, drive the real pipeline, clean up,
and report what they promise. No timing is asserted (this machine is shared and noisy; figures
live in docs/performance.md) — only that the runs were correct: every item and event accounted
for, nothing lost, the invariants intact, every field of the JSON report present.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest

from tests.support.databases import PG_ADMIN_URL
from tests.support.paths import ROOT

LOCKBOX_FIELDS = {
    "items",
    "seconds",
    "items_per_s",
    "floor_items_per_s",  # the raw floor's, the headline's (issue 17)
    "ratio",
    "raw_floor_items_per_s",
    "raw_ratio",
    "guarded_floor_items_per_s",
    "guarded_ratio",
    "guards_cost",
    "importer_peak_mb",
    "worker_peak_mb",
}
MESSY_FIELDS = {"messy", "messy_items", "automatic_rate", "misapplied", "missed", "by_rule"}
GATEWAY_FIELDS = {
    "events",
    "ack_p50_ms",
    "ack_p99_ms",
    "published_p50_ms",
    "published_p99_ms",
    "lost",
}


def run_benchmark(redis_url: str | None, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARLEDGER_")}
    # Our own Redis database (the benchmark flushes it) and a throwaway PostgreSQL database the
    # benchmark creates and drops on the test server.
    env.update(ARLEDGER_BENCH_PG_ADMIN_URL=PG_ADMIN_URL)
    if redis_url is not None:
        env.update(ARLEDGER_BROKER_URL=redis_url)
    result = subprocess.run(
        [sys.executable, *args, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_databases() -> set[str]:
    with psycopg.connect(PG_ADMIN_URL) as admin:
        return {
            row[0]
            for row in admin.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'arledger_bench%' "
                "OR datname LIKE 'arledger_floor%'"
            )
        }


def test_the_lockbox_benchmark_runs_the_pipeline_and_its_floor_at_two_sizes(clean_redis):
    before = bench_databases()
    report = run_benchmark(clean_redis, "benchmarks/lockbox.py", "--items", "200", "--scale", "2")
    assert set(report) >= LOCKBOX_FIELDS
    assert report["items"] == 200
    assert report["scaled"]["items"] == 400
    for run in (report, report["scaled"]):
        assert run["seconds"] > 0 and run["floor_items_per_s"] > 0 and run["ratio"] > 0
        # The headline is the ratio to the raw floor; the guarded floor is reported beside it.
        assert run["floor_items_per_s"] == run["raw_floor_items_per_s"]
        assert run["ratio"] == run["raw_ratio"] and run["guarded_ratio"] > 0
        assert run["importer_peak_mb"] > 0 and run["worker_peak_mb"] > 0
        # The floor copied what the run wrote: every check is a receipt, every journal a row.
        assert run["rows_written"]["receipts"] == run["items"]
        assert run["rows_written"]["journals"] >= run["items"]
    assert report["per_item_cost_ratio"] > 0
    assert set(report["calibration_ms"]) == {"before", "after"}
    assert bench_databases() - before == set()  # its databases are dropped (others may come and go)


@pytest.mark.parametrize("file_format", ["bai2", "camt054"])
def test_the_lockbox_benchmark_reads_a_bank_statement_and_checks_every_receipt(
    clean_redis, file_format
):
    report = run_benchmark(
        clean_redis, "benchmarks/lockbox.py", "--items", "200", "--scale", "0",
        "--format", file_format,
    )  # fmt: skip
    assert report["format"] == file_format and report["rows_written"]["receipts"] == 200
    # A bank credit names its orders in its text: placed by rule 2. A split check names two
    # customers' orders and a check for an unknown order none: 2 in 10 stay unplaced.
    assert report["by_rule"] == {"reference": 160, "none": 40}
    assert report["misapplied"] == 0


def test_the_lockbox_benchmark_places_every_messy_check_on_its_orders(clean_redis):
    before = bench_databases()
    report = run_benchmark(
        clean_redis, "benchmarks/lockbox.py", "--items", "300", "--scale", "0", "--messy", "0.3"
    )
    assert set(report) >= LOCKBOX_FIELDS | MESSY_FIELDS
    assert report["format"] == "csv" and report["rows_written"]["receipts"] == 300
    # About 30 % of the checks lost their order; every one of them was placed by a rule on
    # exactly the orders the clean check named, and no receipt, messy or not, went elsewhere.
    assert 60 <= report["messy_items"] <= 120
    assert report["messy_placed"] == report["messy_items"] and report["automatic_rate"] == 1
    assert report["misapplied"] == 0 and report["missed"] == 0
    assert report["by_rule"]["reference"] > 0 and report["by_rule"]["exact_amount"] > 0
    assert report["by_rule"]["payer_account+exact_amount"] > 0
    assert report["by_rule"]["none"] == 30  # the checks naming an unknown order, unmatched
    assert bench_databases() - before == set()  # its databases are dropped


def test_the_matching_benchmark_places_each_kind_it_should_and_misapplies_nothing():
    report = run_benchmark(None, "benchmarks/matching.py", "--items", "68", "--seed", "3")
    assert report["items"] == 68 and report["failed"] == 0 and report["invariants_ok"]
    assert report["misapplications"] == 0
    kinds = report["by_kind"]
    assert all(kind["items"] == 2 for kind in kinds.values())
    placing = {name for name, kind in kinds.items() if kind["should_place"]}
    assert len(placing) >= 15 and len(kinds) - len(placing) >= 10
    # Every kind of mess that SPEC section 15 places is placed, by the rule expected of it.
    for name in placing:
        assert kinds[name]["right"] >= 1, (name, kinds[name])
        assert kinds[name]["expected_rule"] in kinds[name]["rules"], (name, kinds[name])
    assert report["automatic_rate"] == round(report["placed_right"] / 68, 4)
    assert report["by_rule"]["none"]["misapplied"] == 0
    # The product's report counts the same receipts the same way.
    cash = report["cash_application"]
    assert cash["receipts"] == 68 and cash["applied_automatically"] == report["applied"]
    assert cash["automatic_rate"] == f"{report['automatic_rate']:.4f}"


def test_the_gateway_benchmark_loses_nothing_and_answers_retries_once(clean_redis):
    before = bench_databases()
    report = run_benchmark(
        clean_redis, "benchmarks/gateway.py", "--rate", "20", "--seconds", "3", "--drain", "60"
    )
    assert set(report) >= GATEWAY_FIELDS
    assert report["requests"] == 60
    assert report["events"] == 57 and report["retries"] == 3
    assert report["failed_requests"] == 0 and report["lost"] == 0
    assert report["invariant_violations"] == 0
    # A retried event was recorded once; each event's journal reached the stream.
    assert report["distinct_receipts"] == report["events"]
    assert report["journals_on_stream"] >= report["events"]
    assert report["ack_p99_ms"] >= report["ack_p50_ms"] > 0
    assert report["published_p99_ms"] >= report["published_p50_ms"] > 0
    # Where the time went, leg by leg, by the database's clock and the run's: in order, so no
    # leg is negative.
    legs = report["published_legs_ms"]
    assert list(legs) == [
        "to_intake",
        "to_distribution",
        "distribution_locks_and_loads",
        "to_published",
    ]
    assert all(leg["p99"] >= leg["p50"] >= 0 for leg in legs.values())
    assert set(report["calibration_ms"]) == {"before", "after"}
    assert min(report["calibration_ms"].values()) > 0
    assert bench_databases() - before == set()


@pytest.mark.parametrize("gateway", ["stripe", "adyen"])
def test_the_gateway_benchmark_sends_stripe_and_adyen_events_signed_their_way(clean_redis, gateway):
    report = run_benchmark(
        clean_redis,
        "benchmarks/gateway.py",
        *("--rate", "20", "--seconds", "2", "--drain", "60", "--gateway", gateway),
    )
    assert report["gateway"] == gateway
    assert report["requests"] == 40 and report["retries"] == 2
    assert report["failed_requests"] == 0 and report["lost"] == 0
    assert report["retries_answered_200"] == 2
    assert report["distinct_receipts"] == report["events"] == 38
    assert report["invariant_violations"] == 0
    assert report["published_p99_ms"] >= report["published_p50_ms"] > 0


def test_the_parse_benchmark_streams_every_check_of_the_file(clean_redis):
    report = run_benchmark(clean_redis, "benchmarks/lockbox.py", "--items", "500", "--parse-only")
    assert report["parse_items"] == 500
    assert report["parse_peak_mb"] > 0 and report["parse_file_mb"] > 0


def test_the_guards_benchmark_times_the_floor_without_each_guard(clean_redis, tmp_path):
    before = bench_databases()
    rows = tmp_path / "rows"
    # One guard of each kind (each variant costs a database copy, about half a second here).
    full = run_benchmark(
        clean_redis, "benchmarks/guards.py", "--items", "200", "--runs", "1",
        "--save-rows", str(rows), "--only", "balance check", "append-only",
        "fk_journal_lines_journal_id", "uq_receipts_external_key", "every FK",
    )  # fmt: skip
    assert full["items"] == full["rows_written"]["receipts"] == 200
    guards = {row["guard"]: row for row in full["guards"]}
    assert guards["all guards (guarded floor)"]["share_of_gap"] in (0, None)
    assert guards["no triggers, no FK checks (raw floor)"]["share_of_gap"] in (1, None)
    assert {
        "balance check (0008)",
        "FK fk_journal_lines_journal_id_journals",
        "unique intake key uq_receipts_external_key",
        "index (with the balance check) ix_journal_lines_journal_id",
        "every FK (16)",
    } <= set(guards)
    assert any(name.startswith("append-only guards") for name in guards)
    assert not any(name.startswith(("index ix_", "FK fk_receipts")) for name in guards)
    assert all(row["seconds"] > 0 and len(row["runs"]) == 1 for row in guards.values())
    # The same rows again, from the directory: only the candidates, each of them twice.
    again = run_benchmark(
        clean_redis, "benchmarks/guards.py", "--rows", str(rows), "--runs", "2",
        "--only", "candidate", "--candidates",
    )  # fmt: skip
    assert again["rows_written"] == full["rows_written"]
    names = [row["guard"] for row in again["guards"]]
    assert "candidate: 0001's trigger per line" in names
    assert "candidate: real foreign keys, one check per row (before 0009)" in names
    assert not any(name.startswith(("FK ", "unique intake key", "balance")) for name in names)
    assert all(len(row["runs"]) == 2 for row in again["guards"])
    assert set(again["calibration_ms"]) == {"before", "after"}
    assert bench_databases() - before == set()  # the template and every copy are dropped
