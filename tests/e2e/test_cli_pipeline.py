"""The pipeline's commands end to end on the embedded default (no broker: tasks in-process).

Lockbox import with its summary and refusals, gateway events from a file, the exception queue and
its retries, and GL publishing to the JSON-lines file sink — each through the `arledger`
executable.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.persistence.db import dispose_engines
from tests.support.cli import Cli
from tests.support.paths import ROOT

SAMPLE_LOCKBOX = ROOT / "ledger" / "data" / "sample-lockbox.txt"


@pytest.fixture
def cli(loaded, tmp_path: Path) -> Cli:
    dispose_engines()
    runner = Cli(loaded.database_url, tmp_path)
    runner.env["ARLEDGER_GL_SINK"] = str(tmp_path / "gl.jsonl")
    return runner


def sink_lines(cli: Cli) -> list[dict]:
    path = Path(cli.env["ARLEDGER_GL_SINK"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_lockbox_import_distributes_every_check_and_ends_with_a_summary(cli: Cli):
    summary = cli.json("lockbox", "import", str(SAMPLE_LOCKBOX))
    assert (
        summary["format"],
        summary["items"],
        summary["pending_items"],
        summary["refused_items"],
    ) == ("bai", 5, 0, 0)
    assert summary["amounts"]["USD"]["amount"] == "720.00"
    assert set(summary) >= {
        "items",
        "amounts",
        "applied_items",
        "unapplied_items",
        "refused_items",
        "seconds",
    }
    assert summary["unapplied_items"] >= 1  # the check naming O-999
    shown = cli.run("lockbox", "import", str(SAMPLE_LOCKBOX), expect=2)
    assert "duplicate" in shown.stderr
    assert "every invariant" in cli.run("check").stdout


def test_a_lockbox_file_resent_under_another_name_is_a_duplicate(cli: Cli, tmp_path: Path):
    cli.run("lockbox", "import", str(SAMPLE_LOCKBOX))
    copy = tmp_path / "resent.txt"
    copy.write_bytes(SAMPLE_LOCKBOX.read_bytes())
    assert "duplicate" in cli.refused("lockbox", "import", str(copy))


def test_a_wrong_lockbox_file_is_refused_with_its_line_and_posts_nothing(cli: Cli, tmp_path: Path):
    lines = SAMPLE_LOCKBOX.read_text().splitlines()
    broken = tmp_path / "broken.txt"
    trailer = lines[-1]
    broken.write_text("\n".join([*lines[:-1], trailer[:12] + "9" + trailer[13:]]) + "\n")
    message = cli.refused("lockbox", "import", str(broken))
    assert f"line {len(lines)}" in message
    assert "no such file" in cli.refused("lockbox", "import", str(tmp_path / "missing.txt"))


def test_the_csv_format_imports_too(cli: Cli, tmp_path: Path):
    path = tmp_path / "bank.csv"
    path.write_text(
        "batch,item,deposit_date,check_number,check_amount,currency,customer,order,applied_amount\n"
        "1,1,2026-11-06,5001,100.00,USD,C-2,O-101,60.00\n"
        "1,1,2026-11-06,5001,100.00,USD,C-2,O-102,30.00\n"
        "1,2,2026-11-06,5002,12.34,USD,C-1,,\n"
    )
    summary = cli.json("lockbox", "import", str(path))
    assert (summary["format"], summary["items"]) == ("csv", 2)
    assert summary["amounts"]["USD"] == {
        "amount": "112.34",
        "applied": "90.00",
        "unapplied": "22.34",
        "reversed": "0.00",
    }


def test_gateway_events_from_files(cli: Cli, tmp_path: Path):
    payment = {
        "event_id": "evt_9",
        "type": "payment.succeeded",
        "gateway": "adyen",
        "payment_id": "psp_9",
        "amount": "40.00",
        "currency": "USD",
        "order": "O-101",
        "occurred_at": "2026-11-07T12:00:00+01:00",
    }
    (tmp_path / "payment.json").write_text(json.dumps(payment))
    first = cli.json("gateway", "submit", str(tmp_path / "payment.json"))
    assert (first["created"], first["status"]) == (True, "applied")
    repeat = cli.run("gateway", "submit", str(tmp_path / "payment.json"), "--json")
    assert (
        json.loads(repeat.stdout)["receipt_id"] == first["receipt_id"]
        and "already received" in repeat.stderr
    )
    refund = {**payment, "event_id": "evt_10", "type": "payment.refunded", "amount": "40.00"}
    (tmp_path / "refund.json").write_text(json.dumps(refund))
    cli.json("gateway", "submit", str(tmp_path / "refund.json"))
    assert cli.json("receipt", "show", str(first["receipt_id"]))["status"] == "reversed"
    (tmp_path / "float.json").write_text(
        json.dumps({**payment, "event_id": "evt_11"}).replace('"40.00"', "40.0")
    )
    assert "decimal string" in cli.refused("gateway", "submit", str(tmp_path / "float.json"))


def test_every_journal_reaches_the_file_sink_once_in_posting_order(cli: Cli):
    cli.run(
        "receipt",
        "submit",
        "--order",
        "O-100",
        "--amount",
        "400.00",
        "--external-id",
        "P-1",
        "--date",
        "2026-11-05",
    )
    cli.run(
        "writeoff",
        "create",
        "--order",
        "O-101",
        "--line",
        "1",
        "--amount",
        "5.00",
        "--reason",
        "SMALL_BALANCE",
        "--date",
        "2026-11-05",
    )
    cli.run("lockbox", "import", str(SAMPLE_LOCKBOX))
    published = sink_lines(cli)
    journals = cli.json("gl", "journals")
    assert published == journals  # each line is exactly what `gl journals --json` prints
    assert cli.json("gl", "publish")["published"] == 0


def test_the_exception_queue_retries_a_receipt_once_its_order_is_loaded(cli: Cli, tmp_path: Path):
    parked = cli.json(
        "receipt",
        "submit",
        "--order",
        "O-500",
        "--amount",
        "30.00",
        "--external-id",
        "E-1",
        "--customer",
        "C-1",
    )
    assert [item["ref"] for item in cli.json("exceptions", "list")] == [f"receipt:{parked['id']}"]
    assert "still not found" in cli.refused("exceptions", "retry", f"receipt:{parked['id']}")
    order = {
        "orders": [
            {
                "number": "O-500",
                "customer": "C-1",
                "org_unit": "ASSN",
                "currency": "USD",
                "date": "2026-11-08",
                "lines": [{"line": 1, "product": "DUES", "amount": "30.00"}],
            }
        ]
    }
    (tmp_path / "o500.json").write_text(json.dumps(order))
    cli.run("load", str(tmp_path / "o500.json"))
    assert cli.json("exceptions", "retry", f"receipt:{parked['id']}")["status"] == "applied"
    assert cli.json("exceptions", "list") == []
    assert "not an exception reference" in cli.refused("exceptions", "retry", "bogus:1")


def test_processes_refuse_to_start_without_what_they_need(cli: Cli):
    cli.env["ARLEDGER_BROKER_URL"] = ""
    assert "needs a broker" in cli.run("worker", expect=2).stderr
    assert "needs a broker" in cli.run("beat", expect=2).stderr
    cli.env.pop("ARLEDGER_WEBHOOK_SECRET", None)
    assert "ARLEDGER_WEBHOOK_SECRET is required" in cli.run("serve", expect=1).stderr
