"""camt.054 / camt.053 intake on both databases: bank keys make a re-reported credit one receipt."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledger.domain.money import Money
from ledger.intake.lockbox import LockboxRefused
from ledger.intake.lockbox.camt_writer import CamtEntry, CamtTransaction, write_camt
from ledger.persistence.db import unit_of_work
from ledger.persistence.schema import RECEIPTS
from ledger.services.lockbox import DuplicateLockboxFile, file_summary, import_lockbox
from tasks import dispatch
from tests.support.paths import ROOT

SAMPLE_CAMT054 = ROOT / "ledger" / "data" / "sample-camt054.xml"
SAMPLE_CAMT053 = ROOT / "ledger" / "data" / "sample-camt053.xml"


def receipts(settings) -> int:
    with unit_of_work(settings.database_url) as session:
        return session.execute(select(func.count()).select_from(RECEIPTS)).scalar_one()


def credit(amount: str, reference: str, remittance: str) -> CamtEntry:
    money = Money(Decimal(amount), "USD")
    return CamtEntry(
        amount=money,
        booking_date=date(2026, 11, 20),
        bank_reference=reference,
        transactions=(CamtTransaction(money, unstructured=(remittance,)),),
    )


def write(path: Path, entries: list[CamtEntry], kind: str, message_id: str) -> Path:
    with path.open("wb") as stream:
        write_camt(
            stream, entries, message_id=message_id, account="ACCT-1", currency="USD", kind=kind
        )
    return path


def test_the_sample_camt054_is_received_and_placed_by_its_remittance(loaded):
    imported = import_lockbox(
        loaded, SAMPLE_CAMT054, on_received=lambda ids: dispatch.distribute(loaded, ids)
    )
    summary = file_summary(loaded, imported.file_id)
    assert (summary["format"], summary["items"], summary["debits_skipped"]) == ("camt054", 3, 1)
    assert summary["bank_file_id"] == "camt054:DEMO-CAMT054-20261120-01"
    assert summary["pending_items"] == 0
    assert summary["amounts"]["USD"]["amount"] == "110.00"
    assert summary["by_rule"] == {"reference": 3}  # each names its order, however messily
    with pytest.raises(DuplicateLockboxFile):
        import_lockbox(loaded, SAMPLE_CAMT054)


def test_a_credit_notified_in_a_camt054_and_again_in_the_camt053_is_one_receipt(loaded, tmp_path):
    first = credit("10.00", "REF-A", "O-100")
    second = credit("15.00", "REF-B", "O-101")
    notification = write(tmp_path / "n.xml", [first], "054", "N-1")
    statement = write(tmp_path / "s.xml", [first, second], "053", "S-1")
    assert import_lockbox(loaded, notification).received == 1
    again = import_lockbox(loaded, statement)
    assert again.received == 1 and again.summary.items == 2
    assert receipts(loaded) == 2


def test_a_refused_file_records_nothing_and_its_msgid_stays_free(loaded, tmp_path):
    entries = [credit("10.00", "REF-A", "O-100")]
    bad = write(tmp_path / "bad.xml", entries, "054", "N-9")
    bad.write_text(bad.read_text().replace("<NbOfNtries>1<", "<NbOfNtries>2<"))
    with pytest.raises(LockboxRefused):
        import_lockbox(loaded, bad)
    assert receipts(loaded) == 0
    good = write(tmp_path / "good.xml", entries, "054", "N-9")
    assert import_lockbox(loaded, good).received == 1
    other = write(tmp_path / "other.xml", [credit("11.00", "REF-C", "x")], "054", "N-9")
    with pytest.raises(DuplicateLockboxFile, match="bank file id camt054:N-9"):
        import_lockbox(loaded, other)


def test_the_sample_statement_after_the_sample_notification_adds_only_its_new_credits(loaded):
    import_lockbox(loaded, SAMPLE_CAMT054)
    statement = import_lockbox(loaded, SAMPLE_CAMT053)
    assert (statement.summary.items, statement.received) == (
        5,
        2,
    )  # a credit booked since, a new one
    assert receipts(loaded) == 5
