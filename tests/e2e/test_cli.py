"""End to end through the `arledger` executable, as an operator runs it.

Each test runs the installed console script in a subprocess with ``ARLEDGER_*`` variables, reads
its stdout/stderr and exit status, and checks the JSON shapes of docs/rules.md section 10 exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ledger.persistence.db import dispose_engines
from tests.support.cli import ARLEDGER, Cli
from tests.support.paths import SAMPLE


@pytest.fixture
def cli(loaded, tmp_path: Path) -> Cli:
    """The CLI on a migrated database holding the sample organisation (SQLite, then PostgreSQL).

    The set-up runs in-process to keep the suite fast; `test_init_and_load_through_the_cli` runs
    those two commands as a user does.
    """
    dispose_engines()
    return Cli(loaded.database_url, tmp_path)


def test_init_and_load_through_the_cli(tmp_path: Path):
    runner = Cli(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path)
    assert "schema is up to date" in runner.run("init").stdout
    runner.run("init")  # upgrading an up-to-date schema is a no-op
    loaded = runner.json("load", str(SAMPLE))
    assert loaded["created"]["orders"] == 3 and loaded["sale_journals"] == 3
    assert loaded["created"]["payer_accounts"] == 2
    again = runner.json("load", str(SAMPLE))
    assert again["created"] == {} and again["sale_journals"] == 0
    assert "every invariant" in runner.run("check").stdout


def test_the_worked_example_as_an_operator_types_it(cli: Cli):
    cli.run(
        "writeoff",
        "create",
        "--order",
        "O-100",
        "--line",
        "2",
        "--amount",
        "30.00",
        "--reason",
        "BAD_DEBT",
        "--date",
        "2026-11-04",
    )
    cli.run(
        "writeoff",
        "create",
        "--order",
        "O-100",
        "--line",
        "3",
        "--amount",
        "10.00",
        "--reason",
        "OTHER",
        "--advanced",
        "--date",
        "2026-11-04",
    )
    receipt = cli.json(
        "receipt",
        "submit",
        "--order",
        "O-100",
        "--amount",
        "400.00",
        "--external-id",
        "CHK-1",
        "--date",
        "2026-11-05",
    )
    assert {"id", "status"} <= set(receipt) and receipt["status"] == "applied"

    order = cli.json("order", "show", "O-100")
    assert set(order) >= {"order", "customer", "currency", "balance", "lines"}
    assert (order["order"], order["customer"], order["currency"], order["balance"]) == (
        "O-100",
        "C-1",
        "USD",
        "-60.00",
    )
    assert [
        (x["line"], x["product"], x["priority"], x["amount"], x["balance"]) for x in order["lines"]
    ] == [
        (1, "COURSE", 102, "200.00", "-60.00"),
        (2, "BOOK", 105, "50.00", "0.00"),
        (3, "DUES", 101, "100.00", "0.00"),
    ]
    for line in order["lines"]:
        for write_off in line["write_offs"]:
            assert set(write_off) >= {"id", "amount", "reversed", "advanced", "reason"}
    assert [
        (w["amount"], w["reversed"], w["advanced"]) for x in order["lines"] for w in x["write_offs"]
    ] == [
        ("30.00", "30.00", False),
        ("10.00", "0.00", True),
    ]

    journals = cli.json("gl", "journals", "--order", "O-100")
    assert [j["type"] for j in journals] == [
        "SALE",
        "WRITE_OFF",
        "WRITE_OFF",
        "RECEIPT",
        "WRITE_OFF_REVERSAL",
    ]
    for journal in journals:
        assert set(journal) >= {"id", "type", "date", "lines"}
        for entry in journal["lines"]:
            assert set(entry) >= {"account", "debit", "credit"}
    assert journals[3]["lines"][0] == {
        "account": "1000",
        "debit": "400.00",
        "credit": "0.00",
        "order": "O-100",
    }
    assert journals[4]["lines"] == [
        {"account": "1100", "debit": "30.00", "credit": "0.00", "order": "O-100", "line": 2},
        {"account": "6100", "debit": "0.00", "credit": "30.00", "order": "O-100", "line": 2},
    ]
    assert [j["type"] for j in cli.json("gl", "journals", "--type", "RECEIPT")] == ["RECEIPT"]
    assert "every invariant" in cli.run("check").stdout


def test_tables_are_the_default_output(cli: Cli):
    shown = cli.run("order", "show", "O-100").stdout
    assert "COURSE" in shown and "200.00" in shown and "{" not in shown
    assert "SALE" in cli.run("gl", "journals").stdout


def test_a_repeated_external_id_applies_nothing_twice_and_a_changed_one_is_refused(cli: Cli):
    first = cli.json(
        "receipt",
        "submit",
        "--order",
        "O-100",
        "--amount",
        "50.00",
        "--external-id",
        "X-1",
        "--date",
        "2026-11-05",
    )
    again = cli.run(
        "receipt",
        "submit",
        "--order",
        "O-100",
        "--amount",
        "50.00",
        "--external-id",
        "X-1",
        "--date",
        "2026-11-05",
        "--json",
    )
    assert json.loads(again.stdout)["id"] == first["id"]
    assert "already recorded" in again.stderr
    line = cli.refused(
        "receipt",
        "submit",
        "--order",
        "O-100",
        "--amount",
        "55.00",
        "--external-id",
        "X-1",
        "--date",
        "2026-11-05",
    )
    assert "X-1" in line and "50.00" in line and "55.00" in line


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ("receipt", "submit", "--order", "O-100", "--amount", "1.234", "--external-id", "B1"),
            "more decimal places than USD",
        ),
        (
            ("receipt", "submit", "--order", "O-100", "--amount", "-5.00", "--external-id", "B2"),
            "greater than zero",
        ),
        (
            ("receipt", "submit", "--order", "O-100", "--amount", "0", "--external-id", "B3"),
            "greater than zero",
        ),
        (
            ("receipt", "submit", "--order", "O-100", "--amount", "1e2", "--external-id", "B4"),
            "decimal string",
        ),
        (
            (
                "receipt",
                "submit",
                "--order",
                "O-100",
                "--amount",
                "5.00",
                "--currency",
                "EUR",
                "--external-id",
                "B5",
            ),
            "currency mismatch",
        ),
        (
            (
                "receipt",
                "submit",
                "--order",
                "O-100",
                "--amount",
                "5.00",
                "--currency",
                "ZZZ",
                "--external-id",
                "B6",
            ),
            "unknown currency",
        ),
        (
            ("receipt", "submit", "--amount", "5.00", "--customer", "C-404", "--external-id", "B7"),
            "unknown customer C-404",
        ),
        (
            (
                "receipt",
                "submit",
                "--order",
                "O-100",
                "--amount",
                "5.00",
                "--external-id",
                "B8",
                "--date",
                "2026-13-01",
            ),
            "not a date",
        ),
        (
            (
                "receipt",
                "submit",
                "--order",
                "O-100",
                "--amount",
                "5.00",
                "--external-id",
                "B9",
                "--date",
                "2026-10-05",
            ),
            "closed period 2026-10",
        ),
        (("receipt", "submit", "--order", "O-100", "--amount", "5.00"), "--external-id"),
        (
            (
                "writeoff",
                "create",
                "--order",
                "O-404",
                "--line",
                "1",
                "--amount",
                "1.00",
                "--reason",
                "BAD_DEBT",
            ),
            "unknown order O-404",
        ),
        (
            (
                "writeoff",
                "create",
                "--order",
                "O-100",
                "--line",
                "7",
                "--amount",
                "1.00",
                "--reason",
                "BAD_DEBT",
            ),
            "has no line 7",
        ),
        (
            (
                "writeoff",
                "create",
                "--order",
                "O-100",
                "--line",
                "1",
                "--amount",
                "1.00",
                "--reason",
                "LOST",
            ),
            "must be one of BAD_DEBT",
        ),
        (
            (
                "writeoff",
                "create",
                "--order",
                "O-100",
                "--line",
                "1",
                "--amount",
                "1.00",
                "--reason",
                "BAD_DEBT",
                "--account",
                "9999",
            ),
            "unknown GL account 9999",
        ),
        (
            (
                "writeoff",
                "create",
                "--order",
                "O-100",
                "--line",
                "1",
                "--amount",
                "200.01",
                "--reason",
                "BAD_DEBT",
            ),
            "exceeds the line balance 200.00",
        ),
        (
            (
                "writeoff",
                "create",
                "--order",
                "O-100",
                "--line",
                "1",
                "--amount",
                "0.00",
                "--reason",
                "BAD_DEBT",
            ),
            "greater than zero",
        ),
        (
            (
                "writeoff",
                "create",
                "--order",
                "O-102",
                "--line",
                "2",
                "--amount",
                "5.00",
                "--reason",
                "BAD_DEBT",
            ),
            "not been shipped",
        ),
        (
            (
                "writeoff",
                "create",
                "--order",
                "O-102",
                "--line",
                "1",
                "--amount",
                "5.00",
                "--reason",
                "BAD_DEBT",
            ),
            "full line balance 60.00",
        ),
        (("writeoff", "reverse", "999"), "unknown write-off 999"),
        (("receipt", "reverse", "999", "--reason", "x"), "unknown receipt 999"),
        (("receipt", "apply", "999", "--order", "O-100"), "unknown receipt 999"),
        (("order", "show", "O-404"), "unknown order O-404"),
        (("gl", "journals", "--type", "BOGUS"), "unknown journal type"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_changes_nothing(cli: Cli, args, fragment):
    assert fragment in cli.refused(*args)


def test_a_malformed_load_file_is_refused_whole(cli: Cli, tmp_path: Path):
    cases = {
        "not json": "{orders: [",
        "float amount": json.dumps(
            {
                "orders": [
                    {
                        "number": "N-1",
                        "customer": "C-1",
                        "org_unit": "ASSN",
                        "currency": "USD",
                        "date": "2026-11-01",
                        "lines": [{"line": 1, "product": "DUES", "amount": 1.5}],
                    }
                ]
            }
        ),
        "unknown field": json.dumps(
            {"accounts": [{"code": "9", "name": "x", "type": "asset", "colour": "red"}]}
        ),
        "duplicate key": '{"accounts": [], "accounts": []}',
        "bad type": json.dumps({"accounts": [{"code": "9", "name": "x", "type": "imaginary"}]}),
        "three decimals": json.dumps(
            {
                "orders": [
                    {
                        "number": "N-1",
                        "customer": "C-1",
                        "org_unit": "ASSN",
                        "currency": "USD",
                        "date": "2026-11-01",
                        "lines": [{"line": 1, "product": "DUES", "amount": "1.005"}],
                    }
                ]
            }
        ),
    }
    for name, content in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.json"
        path.write_text(content)
        line = cli.refused("load", str(path))
        assert line.startswith("arledger: error:"), (name, line)
    assert "decimal string" in cli.refused("load", str(tmp_path / "float_amount.json"))
    assert "cannot read" in cli.refused("load", str(tmp_path / "missing.json"))


def test_dry_run_previews_the_write_off_and_changes_nothing(cli: Cli):
    before = cli.json("order", "show", "O-100")
    preview = cli.json(
        "writeoff",
        "create",
        "--order",
        "O-100",
        "--line",
        "1",
        "--amount",
        "20.00",
        "--reason",
        "GOODWILL",
        "--dry-run",
        "--comment",
        "complaint",
    )
    assert (preview["dry_run"], preview["new_balance"], preview["journal"]["type"]) == (
        True,
        "180.00",
        "WRITE_OFF",
    )
    assert cli.json("order", "show", "O-100") == before


def test_write_off_reversal_full_and_partial(cli: Cli):
    created = cli.json(
        "writeoff",
        "create",
        "--order",
        "O-100",
        "--line",
        "1",
        "--amount",
        "20.00",
        "--reason",
        "GOODWILL",
        "--date",
        "2026-11-05",
    )
    partial = cli.json("writeoff", "reverse", str(created["id"]), "--amount", "5.00")
    assert (partial["reversed"], partial["unreversed"], partial["line_balance"]) == (
        "5.00",
        "15.00",
        "185.00",
    )
    rest = cli.json("writeoff", "reverse", str(created["id"]))
    assert (rest["unreversed"], rest["line_balance"]) == ("0.00", "200.00")
    # The operator named the write-off by its id, and the refusal names it the same way (the
    # domain knows it by key).
    assert f"exceeds the unreversed amount 0.00 of write-off {created['id']}" in cli.refused(
        "writeoff", "reverse", str(created["id"]), "--amount", "0.01"
    )


def test_unapplied_receipts_wait_in_the_exception_queue_until_applied(cli: Cli):
    result = cli.run(
        "receipt",
        "submit",
        "--order",
        "O-999",
        "--amount",
        "60.00",
        "--external-id",
        "U-1",
        "--customer",
        "C-2",
        "--date",
        "2026-11-05",
        "--json",
    )
    parked = json.loads(result.stdout)
    assert parked["status"] == "unapplied" and "O-999 not found" in result.stderr
    queue = cli.json("exceptions", "list")
    assert [(x["id"], x["unapplied"], x["reason"]) for x in queue] == [
        (parked["id"], "60.00", "order O-999 not found")
    ]
    applied = cli.json("receipt", "apply", str(parked["id"]), "--order", "O-101")
    assert (applied["status"], applied["applied"]) == ("applied", "60.00")
    assert cli.json("exceptions", "list") == []


def test_a_receipt_reversal_restores_the_write_off(cli: Cli):
    created = cli.json(
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
    receipt = cli.json(
        "receipt",
        "submit",
        "--order",
        "O-101",
        "--amount",
        "235.00",
        "--external-id",
        "R-1",
        "--date",
        "2026-11-06",
    )
    assert cli.json("order", "show", "O-101")["lines"][0]["write_offs"][0]["reversed"] == "5.00"
    reversed_ = cli.json("receipt", "reverse", str(receipt["id"]), "--reason", "chargeback")
    assert (reversed_["status"], reversed_["reversed"]) == ("reversed", "235.00")
    order = cli.json("order", "show", "O-101")
    assert order["lines"][0]["write_offs"][0] == {
        **order["lines"][0]["write_offs"][0],
        "id": created["id"],
        "reversed": "0.00",
    }
    assert [x["balance"] for x in order["lines"]] == ["70.00", "40.00", "120.00"]
    assert "already been reversed" in cli.refused(
        "receipt", "reverse", str(receipt["id"]), "--reason", "again"
    )


def test_check_exits_1_naming_each_violation(cli: Cli):
    from sqlalchemy import text

    from ledger.persistence.db import unit_of_work

    cli.run(
        "receipt",
        "submit",
        "--order",
        "O-100",
        "--amount",
        "10.00",
        "--external-id",
        "T-1",
        "--date",
        "2026-11-05",
    )
    url = cli.env["ARLEDGER_DATABASE_URL"]
    with unit_of_work(url) as session:
        # A hand in the database that bypasses the service (and its balance bookkeeping).
        session.execute(
            text("UPDATE order_lines SET balance_minor = balance_minor + 1 WHERE line_no = 1")
        )
        session.commit()
    dispose_engines()
    result = cli.run("check", expect=1)
    assert "invariant 2" in result.stderr


def test_demo_runs_the_main_job_on_a_fresh_sqlite_database(tmp_path: Path):
    result = subprocess.run(
        [ARLEDGER, "demo", "--directory", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("ARLEDGER_")},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ok: every invariant holds" in result.stdout
    assert "-60.00" in result.stdout  # the worked example's credit on line 1
    assert (tmp_path / "demo" / "arledger.db").exists()


def test_a_write_off_comment_never_reaches_the_customer_statement(cli: Cli):
    cli.run(
        "writeoff",
        "create",
        "--order",
        "O-100",
        "--line",
        "1",
        "--amount",
        "20.00",
        "--reason",
        "GOODWILL",
        "--comment",
        "SECRET-clerk-note",
        "--date",
        "2026-11-05",
    )
    assert (
        cli.json("order", "show", "O-100")["lines"][0]["write_offs"][0]["comment"]
        == "SECRET-clerk-note"
    )
    statement = cli.run("statement", "C-1", "--json").stdout
    assert "SECRET" not in statement and "SECRET" not in cli.run("statement", "C-1").stdout
    adjustment = json.loads(statement)["orders"][0]["lines"][0]["adjustments"]
    assert adjustment == [{"amount": "20.00", "reversed": "0.00", "reason": "GOODWILL"}]


def test_a_parents_statement_includes_the_children_billed_to_it(cli: Cli):
    assert [o["order"] for o in cli.json("statement", "C-2")["orders"]] == ["O-101", "O-102"]
