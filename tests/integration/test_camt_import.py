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
from ledger.persistence.schema import LOCKBOX_FILES, RECEIPTS
from ledger.queries.views import receipt_view
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


def test_a_credit_reported_again_with_another_amount_refuses_the_whole_file(loaded, tmp_path):
    notification = write(tmp_path / "n.xml", [credit("10.00", "REF-A", "O-100")], "054", "N-1")
    import_lockbox(loaded, notification)
    # The day's statement: a new credit first, then REF-A with a changed amount.
    changed = [credit("15.00", "REF-B", "O-101"), credit("10.50", "REF-A", "O-100")]
    statement = write(tmp_path / "s.xml", changed, "053", "S-1")
    with pytest.raises(LockboxRefused) as caught:
        import_lockbox(loaded, statement)
    assert caught.value.line is None
    assert caught.value.reason == (
        "entry 2 at BkToCstmrStmt/Stmt[1]/Ntry[2]/NtryDtls/TxDtls[1]: bank key "
        "bank:ACCT-1:REF-A:1 was received as receipt 1 with 10.00 USD, here with 10.50 USD: a "
        "credit reported again must keep its amount and currency"
    )
    # Nothing of it was received or recorded: REF-B waits for a corrected statement.
    assert receipts(loaded) == 1
    with unit_of_work(loaded.database_url) as session:
        assert session.execute(select(func.count()).select_from(LOCKBOX_FILES)).scalar_one() == 1
    fixed = write(
        tmp_path / "s2.xml", [changed[0], credit("10.00", "REF-A", "O-100")], "053", "S-1"
    )
    assert import_lockbox(loaded, fixed).received == 1
    assert receipts(loaded) == 2


def test_a_credit_reported_again_in_another_currency_is_refused(loaded, tmp_path):
    import_lockbox(loaded, write(tmp_path / "n.xml", [credit("10.00", "REF-A", "x")], "054", "N"))
    euros = Money(Decimal("10.00"), "EUR")
    entry = CamtEntry(
        amount=euros,
        booking_date=date(2026, 11, 20),
        bank_reference="REF-A",
        transactions=(CamtTransaction(euros),),
    )
    path = tmp_path / "eur.xml"
    with path.open("wb") as stream:
        write_camt(stream, [entry], message_id="S-EUR", account="ACCT-1", currency="EUR")
    with pytest.raises(LockboxRefused, match="10.00 USD, here with 10.00 EUR"):
        import_lockbox(loaded, path)
    assert receipts(loaded) == 1


def test_the_debtor_name_is_kept_on_the_receipt(loaded, tmp_path):
    money = Money(Decimal("12.00"), "USD")
    named = CamtEntry(
        amount=money,
        booking_date=date(2026, 11, 20),
        bank_reference="REF-N",
        transactions=(CamtTransaction(money, debtor="Ada Lovelace Trust"),),
    )
    path = tmp_path / "named.xml"
    with path.open("wb") as stream:
        write_camt(stream, [named], message_id="NAMED", account="ACCT-1", currency="USD")
    import_lockbox(loaded, path)
    with unit_of_work(loaded.database_url) as session:
        (receipt_id,) = session.execute(select(RECEIPTS.c.id)).scalars()
        assert receipt_view(session, receipt_id)["payer_name"] == "Ada Lovelace Trust"


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
