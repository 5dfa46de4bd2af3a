"""BAI2 bank files through `import_lockbox` on both databases: credits received once, debits
counted, duplicates refused by content and by the 01 file id, re-reported credits kept once."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledger.intake.lockbox import LockboxRefused
from ledger.intake.lockbox.bai2_writer import CREDIT, Bai2Account, Bai2Entry, Bai2Group, write_bai2
from ledger.persistence.db import unit_of_work
from ledger.persistence.schema import LOCKBOX_FILES, RECEIPTS
from ledger.queries.views import receipt_view
from ledger.services.lockbox import DuplicateLockboxFile, file_summary, import_lockbox
from tasks import dispatch
from tests.support.paths import ROOT

SAMPLE_BAI2 = ROOT / "ledger" / "data" / "sample-bai2.txt"


def count(settings, table) -> int:
    with unit_of_work(settings.database_url) as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def bank_file(path: Path, entries: list[Bai2Entry], file_id: str) -> Path:
    with path.open("w") as out:
        write_bai2(
            [Bai2Group(date(2026, 11, 18), [Bai2Account("777", entries, currency="USD")])],
            out,
            file_id=file_id,
            created=datetime(2026, 11, 18, 7, 0),
        )
    return path


def test_the_sample_imports_its_credits_and_counts_its_debit(loaded, tmp_path):
    imported = import_lockbox(
        loaded, SAMPLE_BAI2, on_received=lambda ids: dispatch.distribute(loaded, ids)
    )
    assert (imported.summary.format, imported.received) == ("bai2", 3)
    summary = file_summary(loaded, imported.file_id)
    assert summary["format"] == "bai2"
    assert (summary["items"], summary["debits_skipped"], summary["pending_items"]) == (3, 1, 0)
    assert summary["amounts"]["USD"]["amount"] == "45.00"
    assert summary["by_rule"] == {"reference": 3}
    with unit_of_work(loaded.database_url) as session:
        keys = session.execute(select(RECEIPTS.c.external_key).order_by(RECEIPTS.c.id)).scalars()
        assert list(keys) == [
            "bank:bai2:021000021-4455667:FT2611180001:2026-11-18",
            "bank:bai2:021000021-4455667:FT2611180002:2026-11-18",
            "bank:bai2:021000021-4455667:DEP2611180003:2026-11-18",
        ]
    with pytest.raises(DuplicateLockboxFile, match="the same content"):
        import_lockbox(loaded, SAMPLE_BAI2)
    # Same 01 record (sender, receiver, creation date and time, file id), other content.
    changed = tmp_path / "changed.txt"
    changed.write_text(SAMPLE_BAI2.read_text().replace("commercial deposit", "deposit"))
    with pytest.raises(DuplicateLockboxFile, match="bank file id 021000021,ARLEDGER,261118"):
        import_lockbox(loaded, changed)
    assert count(loaded, RECEIPTS) == 3


def test_a_credit_re_reported_in_a_later_file_is_one_receipt(loaded, tmp_path):
    first = bank_file(tmp_path / "a.txt", [Bai2Entry(CREDIT, 1_000, "REF-1", None, "O-100")], "1")
    import_lockbox(loaded, first)
    later = bank_file(
        tmp_path / "b.txt",
        [
            Bai2Entry(CREDIT, 1_000, "REF-1", None, "O-100"),
            Bai2Entry(CREDIT, 2_000, "REF-2", None, "O-101"),
        ],
        "2",
    )
    imported = import_lockbox(loaded, later)
    assert imported.received == 1
    assert count(loaded, RECEIPTS) == 2


def test_a_credit_re_reported_with_another_amount_refuses_the_later_file(loaded, tmp_path):
    first = bank_file(tmp_path / "a.txt", [Bai2Entry(CREDIT, 1_000, "REF-1", None, "O-100")], "1")
    import_lockbox(loaded, first)
    later = bank_file(
        tmp_path / "b.txt",
        [
            Bai2Entry(CREDIT, 2_000, "REF-2", None, "O-101"),
            Bai2Entry(CREDIT, 1_100, "REF-1", None, "O-100"),
        ],
        "2",
    )
    with pytest.raises(LockboxRefused) as caught:
        import_lockbox(loaded, later)
    assert caught.value.line == 5
    assert caught.value.reason == (
        "bank key bank:bai2:777:REF-1:2026-11-18 was received as receipt 1 with 10.00 USD, here "
        "with 11.00 USD: a credit reported again must keep its amount and currency"
    )
    assert count(loaded, RECEIPTS) == 1 and count(loaded, LOCKBOX_FILES) == 1


def test_an_order_number_cut_between_16_and_88_is_still_placed(loaded, tmp_path):
    # The bai2 package's writer cuts the text at its 80-character record: inside O-102 here.
    text = "x" * (58 - len("paid order O-1")) + "paid order O-102 thanks"
    path = bank_file(tmp_path / "cut.txt", [Bai2Entry(CREDIT, 1_500, "BR-CUT", None, text)], "7")
    assert "O-1\n88,02 thanks" in path.read_text()
    imported = import_lockbox(
        loaded, path, on_received=lambda ids: dispatch.distribute(loaded, ids)
    )
    with unit_of_work(loaded.database_url) as session:
        (receipt_id,) = session.execute(select(RECEIPTS.c.id)).scalars()
        view = receipt_view(session, receipt_id)
    assert file_summary(loaded, imported.file_id)["by_rule"] == {"reference": 1}
    assert view["remittance"].endswith("paid order O-1 02 thanks")  # as the bai2 package reads it
    assert (view["orders"], view["match"]) == (
        ["O-102"],
        {"rule": "reference", "references": ["O-102"]},
    )


def test_a_refused_file_is_not_recorded_and_its_correction_imports(loaded, tmp_path):
    good = bank_file(tmp_path / "good.txt", [Bai2Entry(CREDIT, 1_000, "REF-9")], "9")
    bad = tmp_path / "bad.txt"
    bad.write_text(good.read_text().replace("49,1000,", "49,1001,"))
    with pytest.raises(LockboxRefused) as caught:
        import_lockbox(loaded, bad)
    assert caught.value.line == 5
    assert count(loaded, LOCKBOX_FILES) == 0
    assert import_lockbox(loaded, good).received == 1
