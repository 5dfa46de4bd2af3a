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
    "floor_items_per_s",
    "ratio",
    "importer_peak_mb",
    "worker_peak_mb",
}
GATEWAY_FIELDS = {
    "events",
    "ack_p50_ms",
    "ack_p99_ms",
    "published_p50_ms",
    "published_p99_ms",
    "lost",
}


def run_benchmark(redis_url: str, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARLEDGER_")}
    # Our own Redis database (the benchmark flushes it) and a throwaway PostgreSQL database the
    # benchmark creates and drops on the test server.
    env.update(ARLEDGER_BROKER_URL=redis_url, ARLEDGER_BENCH_PG_ADMIN_URL=PG_ADMIN_URL)
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
        assert run["importer_peak_mb"] > 0 and run["worker_peak_mb"] > 0
        # The floor copied what the run wrote: every check is a receipt, every journal a row.
        assert run["rows_written"]["receipts"] == run["items"]
        assert run["rows_written"]["journals"] >= run["items"]
    assert report["per_item_cost_ratio"] > 0
    assert bench_databases() - before == set()  # its databases are dropped (others may come and go)


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
