"""Hostile input on PostgreSQL: each refused with a clear error, nothing changed, nothing crashed —
and values that look like SQL or spreadsheet formulas stored literally, never executed.

Already covered elsewhere, and not repeated here: the parsers against arbitrary bytes and mutated
files (tests/property/test_lockbox_fuzz.py) and every record, count, total and date rule of the
parsers (tests/unit/test_lockbox.py); webhook signatures, timestamps, replays, reused ids, size,
floats, exponents, unknown fields and deep nesting (tests/e2e/test_webhook.py); operator amounts
with too many decimals, negative or zero, unknown orders, lines, reasons, accounts and currencies
through the CLI (tests/e2e/test_cli.py::test_bad_input_exits_2_with_one_line_and_changes_nothing);
the ingress and the worker refusing to start without their secret or broker
(tests/e2e/test_webhook.py, tests/e2e/test_cli_pipeline.py); the guard triggers on UPDATE of
journal lines, write-offs and order lines and on DELETE of journals and receipts
(tests/integration/test_ledger_services.py::test_posted_journals_cannot_be_updated_or_deleted).

Here: whole lockbox files refused by the real import on PostgreSQL with nothing recorded; the
triggers on the statements that test leaves out; literal storage of hostile text; secrets kept
out of logs and error messages.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from config.settings import Settings
from ledger.domain.errors import InputRefused
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.intake.inputs import validate_load_file
from ledger.intake.lockbox import CSV_HEADER
from ledger.persistence.db import dispose_engines, unit_of_work
from ledger.persistence.schema import LOCKBOX_FILES
from ledger.queries.views import order_view
from ledger.services.lockbox import import_lockbox
from ledger.services.receipts import (
    WriteOffRequest,
    create_write_off,
    distribute_receipt,
    load_file,
    reverse_write_off,
    submit_receipt,
)
from tests.support import figures
from tests.support.databases import ledger_fingerprint
from tests.support.fault import lockbox_file, violations
from tests.support.processes import ARLEDGER, pipeline_env

ORDERS = 10


def recorded_files(url: str) -> int:
    with unit_of_work(url) as session:
        return int(session.execute(select(func.count()).select_from(LOCKBOX_FILES)).scalar_one())


def hostile_lockbox_files(directory: Path, valid: Path) -> dict[str, tuple[Path, str]]:
    """Name → (file, a fragment its refusal must contain). Built from a valid BAI file."""
    rng = random.Random(11)
    lines = valid.read_text().splitlines(keepends=True)
    details = [i for i, line in enumerate(lines) if line.startswith("6")]

    def write(name: str, content: bytes) -> Path:
        path = directory / name
        path.write_bytes(content)
        return path

    raw = valid.read_bytes()
    cut = rng.randrange(len(raw) // 4, len(raw) - 90)
    longer = list(lines)
    longer[details[1]] = longer[details[1]].rstrip("\r\n") + "X" * 20 + "\n"
    missing = list(lines)
    del missing[details[2]]
    total = list(lines)
    record = total[details[3]]
    # One digit of the check's amount (columns 14-25 of the default profile) raised by one: the
    # batch control total no longer adds up.
    position = next(i for i in range(22, 13, -1) if record[i] != "9")
    total[details[3]] = record[:position] + str(int(record[position]) + 1) + record[position + 1 :]
    csv_rows = [
        CSV_HEADER,
        "1,1,2026-02-30,100,10.00,USD,C-1,F-0001,10.00",
    ]
    overspent = [
        CSV_HEADER,
        "1,1,2026-11-06,100,10.00,USD,C-1,F-0001,6.00",
        "1,1,2026-11-06,100,10.00,USD,C-1,F-0002,5.00",
    ]
    return {
        "random bytes": (write("random.bin", rng.randbytes(4096)), "lockbox file refused"),
        "truncated": (write("truncated.txt", raw[:cut]), "line"),
        "over-long line": (write("long.txt", "".join(longer).encode()), "80"),
        "a check missing from its batch": (write("missing.txt", "".join(missing).encode()), "line"),
        "a wrong control total": (write("total.txt", "".join(total).encode()), "total"),
        "a date that does not exist": (
            write("date.csv", ("\n".join(csv_rows) + "\n").encode()),
            "line 2",
        ),
        "a split that overspends its check": (
            write("overspent.csv", ("\n".join(overspent) + "\n").encode()),
            "line 3",
        ),
    }


def test_hostile_lockbox_files_are_refused_whole_and_record_nothing(loaded_pg: Settings, tmp_path):
    url = loaded_pg.database_url
    valid = lockbox_file(tmp_path / "valid.txt", 120, ORDERS, bank_file_id="HOSTILE1").path
    refused: dict[str, str] = {}
    for name, (path, fragment) in hostile_lockbox_files(tmp_path, valid).items():
        before = ledger_fingerprint(url), recorded_files(url)
        with pytest.raises(InputRefused) as caught:
            import_lockbox(loaded_pg, path)
        figures.record(hostile_inputs=1)
        refused[name] = caught.value.message
        assert fragment in caught.value.message, (name, caught.value.message)
        assert (ledger_fingerprint(url), recorded_files(url)) == before, name
    assert all("\n" not in message for message in refused.values())

    # The valid file imports; the same file under another name, and another file reusing its
    # bank file id, are refused as duplicates.
    import_lockbox(loaded_pg, valid)
    resent = tmp_path / "renamed.txt"
    resent.write_bytes(valid.read_bytes())
    same_id = lockbox_file(
        tmp_path / "other.txt", 30, ORDERS, bank_file_id="HOSTILE1", seed_value=8
    )
    for path in (resent, same_id.path):
        before = ledger_fingerprint(url), recorded_files(url)
        with pytest.raises(InputRefused, match="duplicate"):
            import_lockbox(loaded_pg, path)
        figures.record(hostile_inputs=1)
        assert (ledger_fingerprint(url), recorded_files(url)) == before
    assert violations(url) == []


@pytest.fixture
def loaded_pg(pg_run_database: str) -> Settings:
    from tests.support.databases import reset_postgres
    from tests.support.fault import seed

    reset_postgres(pg_run_database)
    settings = Settings(database_url=pg_run_database, broker_url=None, gl_sink=os.devnull)
    seed(settings, ORDERS, write_offs=False)
    return settings


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (WriteOffRequest("F-0001", 1, "5.001", "BAD_DEBT"), "decimal places"),
        (WriteOffRequest("F-0001", 1, "-5.00", "BAD_DEBT"), "greater than zero"),
        (WriteOffRequest("F-0001", 1, "1e1", "BAD_DEBT"), "decimal"),
        (WriteOffRequest("F-0001", 1, "NaN", "BAD_DEBT"), "decimal"),
        (WriteOffRequest("F-0001", 1, "5.00", "bad_debt"), "BAD_DEBT"),
        (WriteOffRequest("F-0001", 1, "5.00", "BAD_DEBT'; DROP TABLE write_offs; --"), "BAD_DEBT"),
        (WriteOffRequest("F-0001", 1, "5.00", "BAD_DEBT", account="6100' OR '1'='1"), "unknown"),
        (WriteOffRequest("F-0001' OR '1'='1", 1, "5.00", "BAD_DEBT"), "unknown order"),
        (WriteOffRequest("F-0001", 0, "5.00", "BAD_DEBT"), "line 0"),
    ],
)
def test_hostile_operator_write_offs_are_refused_and_change_nothing(
    loaded_pg: Settings, request_, fragment
):
    before = ledger_fingerprint(loaded_pg.database_url)
    with pytest.raises(InputRefused) as caught:
        create_write_off(loaded_pg, request_)
    figures.record(hostile_inputs=1)
    assert fragment in caught.value.message
    assert ledger_fingerprint(loaded_pg.database_url) == before


@pytest.mark.parametrize("amount", ["0.001", "-1.00", "0", "99999.00", "1,00"])
def test_hostile_write_off_reversal_amounts_are_refused_and_change_nothing(
    loaded_pg: Settings, amount
):
    made = create_write_off(loaded_pg, WriteOffRequest("F-0002", 1, "5.00", "BAD_DEBT"))
    write_off_id = made["write_offs"][0]["id"] if "write_offs" in made else made["id"]
    before = ledger_fingerprint(loaded_pg.database_url)
    with pytest.raises(InputRefused):
        reverse_write_off(loaded_pg, write_off_id, amount)
    figures.record(hostile_inputs=1)
    assert ledger_fingerprint(loaded_pg.database_url) == before


SQL = "Robert'); DROP TABLE receipts; --"
FORMULAS = ['=HYPERLINK("http://evil.example","pay")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3"]


def test_values_that_look_like_sql_or_formulas_are_stored_literally(loaded_pg: Settings):
    url = loaded_pg.database_url
    load_file(
        loaded_pg,
        validate_load_file(json.dumps({"customers": [{"id": "C-SQL", "name": SQL}]}).encode()),
    )
    amount = Money.parse("12.00", "USD")
    intake = submit_receipt(
        loaded_pg,
        ReceiptRequest(
            "operator", SQL, amount, date(2026, 11, 6), allocations=(("F-0003", amount),)
        ),
    )
    distribute_receipt(loaded_pg, intake.receipt_id)
    for formula in FORMULAS:
        create_write_off(
            loaded_pg, WriteOffRequest("F-0004", 1, "1.00", "OTHER", comment=formula + " " + SQL)
        )
    figures.record(hostile_inputs=2 + len(FORMULAS))
    with unit_of_work(url) as session:
        name = session.execute(text("SELECT name FROM customers WHERE id = 'C-SQL'")).scalar_one()
        key = session.execute(
            text("SELECT external_key FROM receipts WHERE id = :id"), {"id": intake.receipt_id}
        ).scalar_one()
        comments = list(
            session.execute(text("SELECT comment FROM write_offs ORDER BY id")).scalars()
        )
        tables = session.execute(text("SELECT count(*) FROM receipts")).scalar_one()
        view = order_view(session, "F-0003")
    assert name == SQL and key == f"operator:{SQL}"
    assert comments == [f"{formula} {SQL}" for formula in FORMULAS]
    assert tables >= 1 and view["lines"]  # nothing was dropped or executed
    assert violations(url) == []
    # No command exports CSV (statements and journals are tables or JSON), so there is no
    # spreadsheet cell for a formula to run in; JSON output carries the text as a string.
    help_text = subprocess.run(
        [ARLEDGER, "--help"], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    assert "csv" not in help_text.lower().replace("csv or bai", "")


@pytest.mark.postgres
def test_the_database_refuses_to_rewrite_or_delete_posted_rows_the_services_test_leaves_out(
    loaded_pg: Settings,
):
    url = loaded_pg.database_url
    amount = Money.parse("10.00", "USD")
    intake = submit_receipt(
        loaded_pg,
        ReceiptRequest(
            "operator", "TRIG", amount, date(2026, 11, 6), allocations=(("F-0005", amount),)
        ),
    )
    distribute_receipt(loaded_pg, intake.receipt_id)
    create_write_off(loaded_pg, WriteOffRequest("F-0006", 1, "2.00", "BAD_DEBT"))
    for statement in (
        "UPDATE journals SET amount_minor = amount_minor + 1",
        "DELETE FROM journal_lines",
        "UPDATE receipts SET amount_minor = amount_minor + 1",
        "DELETE FROM write_offs",
        "DELETE FROM order_lines",
    ):
        with unit_of_work(url) as session, pytest.raises(DatabaseError, match="refused"):
            assert session.execute(text(statement)).rowcount != 0, statement  # rows to refuse
        figures.record(hostile_inputs=1)
    assert violations(url) == []


# --- secrets ---------------------------------------------------------------------------------

DB_PASSWORD = "db-pw-" + os.urandom(6).hex()
WEBHOOK_SECRET = "whsec-" + os.urandom(6).hex()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_secrets_never_appear_in_logs_or_error_messages(
    faulty: Settings, start_worker, tmp_path: Path
):
    """The database password and the webhook secret, set for a worker and for the ingress, are in
    none of their log lines, none of the ingress's error bodies, and none of the CLI's errors —
    including the error of a database that cannot be reached."""
    url = faulty.database_url.replace("postgres@", f"postgres:{DB_PASSWORD}@")
    env = {
        **pipeline_env(url, faulty.broker_url or "", faulty.gl_sink),
        "ARLEDGER_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    worker = start_worker(env)
    port = free_port()
    ingress = start_worker(env, "serve", "--port", str(port), ready="Uvicorn running")
    body = json.dumps({"event_id": "e", "type": "payment.succeeded"}).encode()
    bodies: list[str] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for headers in (
            {},
            {"X-Arledger-Signature": "t=1,v1=00"},
            {"X-Arledger-Signature": f"t={int(time.time())},v1={WEBHOOK_SECRET}"},
        ):
            response = client.post("/v1/gateway/events", content=body, headers=headers)
            assert response.status_code == 401
            bodies.append(response.text)
        assert client.get("/health").status_code == 200
    figures.record(hostile_inputs=len(bodies))
    unreachable = subprocess.run(
        [ARLEDGER, "order", "show", "F-0001"],
        env={**env, "ARLEDGER_DATABASE_URL": f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:1/x"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    init = subprocess.run(
        [ARLEDGER, "init"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert unreachable.returncode == 1 and unreachable.stderr.strip()
    assert init.returncode == 0, init.stderr
    worker.stop()
    ingress.stop()
    dispose_engines()
    seen = [
        worker.log.read_text(errors="replace"),
        ingress.log.read_text(errors="replace"),
        unreachable.stdout + unreachable.stderr,
        init.stdout + init.stderr,
        *bodies,
    ]
    for secret in (DB_PASSWORD, WEBHOOK_SECRET):
        assert not any(secret in text_ for text_ in seen), f"{secret[:6]}… leaked"
