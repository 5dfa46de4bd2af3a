"""`arledger demo`: the main job end to end on the embedded default, with bundled sample data.

Creates a fresh SQLite database, loads the sample organisation, then walks through what an AR
clerk does: write-offs, a receipt distributed by payment priority, an overpayment that reverses a
write-off (the worked example of docs/rules.md), a receipt for an unknown order parked as unapplied and then
applied, a returned check that restores the write-off it had reversed, the refusals the rules demand, signed
gateway events (a payment, its repeat, a partial refund), and a bank lockbox file imported once
and refused the second time. It ends with every journal, `arledger check`, and the journals
published to the GL sink. Each step prints the CLI
command that does the same.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console

from config.settings import Settings
from ledger.domain.errors import InputRefused
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.intake.gateway import parse_event
from ledger.intake.inputs import validate_load_file
from ledger.intake.signature import sign, verify
from ledger.outbox.publisher import publish_pending
from ledger.persistence.db import dispose_engines, unit_of_work
from ledger.persistence.migrate import upgrade
from ledger.queries.check import check_invariants
from ledger.queries.views import journal_dicts, journal_ids, order_view
from ledger.services import receipts as services
from ledger.services.events import submit_event
from ledger.services.lockbox import ImportedFile, file_summary, import_lockbox
from ledger.services.receipts import WriteOffRequest
from tasks import dispatch
from workers.cli.render import print_journals, print_order


def sample_data() -> bytes:
    return resources.files("ledger").joinpath("data/sample.json").read_bytes()


def run_demo(directory: Path, out: Console) -> Settings:
    """Run the demo in ``directory`` (recreated) and return the settings it used."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    database = directory / "arledger.db"
    settings = Settings(
        database_url=f"sqlite:///{database}",
        broker_url=None,
        gl_sink=str(directory / "gl-journals.jsonl"),
    )

    def step(title: str, command: str) -> None:
        out.print()
        out.rule(title, align="left")
        out.print(f"$ {command}", style="dim", markup=False)

    def usd(text: str) -> Money:
        return Money.parse(text, "USD")

    def show(number: str) -> None:
        with unit_of_work(settings.database_url) as session:
            print_order(order_view(session, number))

    def receipt(external_id: str, amount: str, order: str | None, day: str) -> int:
        intake = services.submit_receipt(
            settings,
            ReceiptRequest(
                source="operator",
                external_id=external_id,
                amount=usd(amount),
                received_date=date.fromisoformat(day),
                allocations=((order, usd(amount)),) if order else (),
                customer="C-2" if order == "O-999" else None,
            ),
        )
        view = services.distribute_receipt(settings, intake.receipt_id)
        out.print(
            f"receipt {view['id']}: {view['amount']} {view['currency']} {view['status']} "
            f"(applied {view['applied']}, unapplied {view['unapplied']})"
        )
        return int(view["id"])

    step(
        "1. create the database and load the sample organisation",
        f"ARLEDGER_DATABASE_URL={settings.database_url} arledger init && arledger load sample.json",
    )
    upgrade(settings.database_url)
    summary = services.load_file(settings, validate_load_file(sample_data()))
    out.print(f"loaded: {summary.created}; SALE journals posted: {summary.sale_journals}")
    show("O-100")

    step(
        "2. write off 30.00 of the book (bad debt) and 10.00 of the dues as an advanced adjustment",
        "arledger writeoff create --order O-100 --line 2 --amount 30.00 --reason BAD_DEBT --date 2026-11-04",
    )
    services.create_write_off(
        settings,
        WriteOffRequest(
            "O-100",
            2,
            "30.00",
            "BAD_DEBT",
            comment="customer unreachable",
            posting_date=date(2026, 11, 4),
        ),
    )
    services.create_write_off(
        settings,
        WriteOffRequest(
            "O-100", 3, "10.00", "OTHER", posting_date=date(2026, 11, 4), advanced=True
        ),
    )
    show("O-100")

    step(
        "3. a receipt of 400.00: priority first, the overpayment reverses the standard write-off, the rest is a credit on line 1",
        "arledger receipt submit --order O-100 --amount 400.00 --external-id CHK-1001 --date 2026-11-05",
    )
    receipt("CHK-1001", "400.00", "O-100", "2026-11-05")
    show("O-100")
    with unit_of_work(settings.database_url) as session:
        print_journals(journal_dicts(session, journal_ids(session, order="O-100"))[-2:])

    step(
        "4. the same receipt delivered again applies nothing",
        "arledger receipt submit --order O-100 --amount 400.00 --external-id CHK-1001 --date 2026-11-05",
    )
    receipt("CHK-1001", "400.00", "O-100", "2026-11-05")

    step(
        "5. a partial payment on O-101 pays the donation last (fundraising has the lowest priority)",
        "arledger receipt submit --order O-101 --amount 150.00 --external-id CHK-1002 --date 2026-11-06",
    )
    receipt("CHK-1002", "150.00", "O-101", "2026-11-06")
    show("O-101")

    step(
        "6. a check naming an order that does not exist is kept unapplied, then applied by a clerk",
        "arledger receipt submit --order O-999 --amount 60.00 --external-id CHK-1003 --date 2026-11-07 && arledger receipt apply ID --order O-101",
    )
    parked = receipt("CHK-1003", "60.00", "O-999", "2026-11-07")
    view = services.apply_receipt(settings, parked, "O-101")
    out.print(
        f"receipt {parked} now {view['status']}: applied {view['applied']} to {', '.join(view['orders'])}"
    )
    show("O-101")

    step(
        "6b. a check that names its invoice only in the memo line is placed by matching",
        "arledger receipt submit --amount 85.00 --external-id CHK-1010 --remittance 'inv #o-0102 thanks' --date 2026-11-07",
    )
    memo = services.submit_receipt(
        settings,
        ReceiptRequest(
            source="operator",
            external_id="CHK-1010",
            amount=usd("85.00"),
            received_date=date(2026, 11, 7),
            remittance="inv #o-0102 thanks",
        ),
    )
    placed = services.distribute_receipt(settings, memo.receipt_id)
    out.print(
        f"receipt {placed['id']}: {placed['status']} on {', '.join(placed['orders'])} "
        f"(match: {placed['match']['rule']}, by {', '.join(placed['match']['references'])})"
    )

    step(
        "7. a returned check: reversing it restores the write-off its overpayment had reversed",
        "arledger writeoff create … && arledger receipt submit … && arledger receipt reverse ID --reason 'returned check'",
    )
    services.create_write_off(
        settings,
        WriteOffRequest("O-101", 1, "5.00", "SMALL_BALANCE", posting_date=date(2026, 11, 8)),
    )
    bounced = receipt("CHK-1004", "30.00", "O-101", "2026-11-08")
    show("O-101")
    services.reverse_receipt(settings, bounced, "returned check: insufficient funds")
    out.print(f"receipt {bounced} reversed")
    show("O-101")

    step(
        "8. the rules refuse what they must, and change nothing",
        "arledger writeoff create --order O-102 --line 2 …",
    )
    for request in (
        WriteOffRequest("O-102", 2, "25.00", "BAD_DEBT"),  # inventoried, not shipped
        WriteOffRequest(
            "O-102", 1, "20.00", "BAD_DEBT"
        ),  # child billed to a parent: full balance only
        WriteOffRequest("O-100", 1, "10.00", "FORGOTTEN"),  # not a reason on the fixed list
        WriteOffRequest("O-100", 1, "1.005", "GOODWILL"),  # more decimals than USD has
        WriteOffRequest(
            "O-101", 3, "10.00", "GOODWILL", posting_date=date(2026, 10, 15)
        ),  # closed period
    ):
        try:
            services.create_write_off(settings, request)
        except InputRefused as exc:
            out.print(f"refused: {exc.message}", markup=False)

    step(
        "9. a payment gateway's signed webhook: a payment, the same event again, then a partial refund",
        "POST /v1/gateway/events (arledger serve), or arledger gateway submit event.json",
    )
    secret = "whsec-demo"  # noqa: S105 - the demo signs its own sample events
    payment = {
        "event_id": "evt_demo_1",
        "type": "payment.succeeded",
        "gateway": "stripe",
        "payment_id": "pi_demo_1",
        "amount": "60.00",
        "currency": "USD",
        "order": "O-102",
        "customer": "C-2",
        "occurred_at": "2026-11-09T10:00:00Z",
    }
    for body in (
        payment,
        payment,
        {**payment, "event_id": "evt_demo_2", "type": "payment.refunded", "amount": "15.00"},
    ):
        raw = json.dumps(body).encode()
        signature = sign(secret, raw)
        verify(secret, signature, raw)  # what the ingress does before anything else
        intake = submit_event(settings, parse_event(raw))
        dispatch.intake(settings, *intake.work())
        code = 202 if intake.created else 200
        out.print(
            f"{body['type']} {body['event_id']} {body['amount']}: HTTP {code} {intake.body()}",
            markup=False,
        )
    show("O-102")

    def import_sample(name: str) -> tuple[Path, ImportedFile, dict[str, Any]]:
        """A bundled bank file copied into the demo directory, imported and distributed."""
        path = directory / name
        path.write_bytes(resources.files("ledger").joinpath(f"data/{name}").read_bytes())
        imported = import_lockbox(
            settings, path, on_received=lambda ids: dispatch.distribute(settings, ids)
        )
        return path, imported, file_summary(settings, imported.file_id)

    def print_statement(bank: dict[str, Any]) -> None:
        out.print(
            f"{bank['items']} credits, {bank['amounts']['USD']['amount']} USD, "
            f"{bank['debits_skipped']} debit skipped; by matching rule: "
            f"{', '.join(f'{rule} {count}' for rule, count in bank['by_rule'].items())}; "
            f"{bank['unapplied_items']} wait in `arledger exceptions list`",
            markup=False,
        )

    step(
        "9b. a BAI2 bank statement: credits placed by their remittance text, the debit skipped",
        "arledger bank import sample-bai2.txt",
    )
    print_statement(import_sample("sample-bai2.txt")[2])

    step(
        "9c. a bank's camt.054 credit notification: credits placed by their remittance text",
        "arledger bank import sample-camt054.xml",
    )
    print_statement(import_sample("sample-camt054.xml")[2])
    out.print("$ arledger bank import sample-camt053.xml   (the day's statement)", markup=False)
    _, stated, _ = import_sample("sample-camt053.xml")
    out.print(
        f"{stated.summary.items} booked credits: {stated.summary.items - stated.received} already "
        f"received from the camt.054 (same bank reference), {stated.received} new",
        markup=False,
    )

    step(
        "10. a bank lockbox file: validated whole, each check received once and distributed",
        "arledger lockbox import sample-lockbox.txt",
    )
    lockbox, _, bank = import_sample("sample-lockbox.txt")
    usd_totals = bank["amounts"]["USD"]
    out.print(
        f"{bank['items']} checks, {usd_totals['amount']} USD: applied {usd_totals['applied']}, "
        f"unapplied {usd_totals['unapplied']} "
        f"({bank['unapplied_items']} checks wait in `arledger exceptions list`)",
        markup=False,
    )
    try:
        import_lockbox(settings, lockbox)
    except InputRefused as exc:
        out.print(f"imported again: {exc.message}", markup=False)

    step("11. every journal, in posting order", "arledger gl journals")
    with unit_of_work(settings.database_url) as session:
        print_journals(journal_dicts(session, journal_ids(session)))
        violations = check_invariants(session)

    step("12. the invariants of docs/rules.md section 9", "arledger check")
    out.print("ok: every invariant holds" if not violations else "\n".join(map(str, violations)))

    step("13. where the journals went", "arledger gl publish")
    publish_pending(settings)
    sink = Path(settings.gl_sink)
    lines = sink.read_text().splitlines()
    out.print(
        f"{len(lines)} journals published, in commit order, to {sink} (one JSON object per line):",
        markup=False,
    )
    out.print(lines[-1][:300] + ("…" if len(lines[-1]) > 300 else ""), markup=False)
    out.print(f"\nThe demo database is {database}; point ARLEDGER_DATABASE_URL at it to explore.")
    dispose_engines()
    return settings
