"""Lockbox intake on both databases: receiving checks exactly once, even across a crash."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger.domain.money import Money
from ledger.persistence.db import unit_of_work
from ledger.persistence.schema import RECEIPTS
from ledger.services.lockbox import (
    DuplicateLockboxFile,
    distributed,
    file_summary,
    import_lockbox,
    progress,
)
from ledger.services.receipts import reverse_receipt
from tasks import dispatch
from tests.support.paths import ROOT

SAMPLE_LOCKBOX = ROOT / "ledger" / "data" / "sample-lockbox.txt"


class ImporterDied(Exception):
    pass


def receipts(settings) -> int:
    with unit_of_work(settings.database_url) as session:
        return session.execute(select(func.count()).select_from(RECEIPTS)).scalar_one()


def test_an_import_that_died_half_way_is_resumed_not_refused(loaded):
    def die(_ids):
        raise ImporterDied

    with pytest.raises(ImporterDied):
        import_lockbox(loaded, SAMPLE_LOCKBOX, chunk_size=2, on_received=die)
    assert receipts(loaded) == 2  # the first chunk was committed before the importer died
    resumed = import_lockbox(
        loaded,
        SAMPLE_LOCKBOX,
        chunk_size=2,
        on_received=lambda ids: dispatch.distribute(loaded, ids),
    )
    assert (resumed.resumed, resumed.received) == (True, 3)
    assert receipts(loaded) == 5
    summary = file_summary(loaded, resumed.file_id)
    assert (summary["items"], summary["pending_items"]) == (5, 0)  # every check, once, distributed
    with pytest.raises(DuplicateLockboxFile):
        import_lockbox(loaded, SAMPLE_LOCKBOX)


def test_progress_and_the_end_of_distribution_follow_the_queued_checks(loaded):
    held: list[int] = []
    imported = import_lockbox(loaded, SAMPLE_LOCKBOX, chunk_size=2, on_received=held.extend)
    assert (progress(loaded, imported.file_id), distributed(loaded, imported.file_id)) == (
        (0, 5),
        False,
    )
    dispatch.distribute(loaded, held[:2])
    assert (progress(loaded, imported.file_id), distributed(loaded, imported.file_id)) == (
        (2, 5),
        False,
    )
    dispatch.distribute(loaded, held[2:])
    assert (progress(loaded, imported.file_id), distributed(loaded, imported.file_id)) == (
        (5, 5),
        True,
    )


def test_the_file_read_is_the_file_validated(loaded, tmp_path):
    """The importer works on a private copy: changing the original after validation changes
    nothing that is received."""
    original = tmp_path / "bank.txt"
    original.write_bytes(SAMPLE_LOCKBOX.read_bytes())

    def tamper(_ids):
        original.write_text("garbage\n")

    imported = import_lockbox(loaded, original, chunk_size=1, on_received=tamper)
    assert imported.received == 5


def test_the_file_summary_counts_a_reversed_receipt_as_reversed(loaded):
    imported = import_lockbox(
        loaded, SAMPLE_LOCKBOX, on_received=lambda ids: dispatch.distribute(loaded, ids)
    )
    before = file_summary(loaded, imported.file_id)
    with unit_of_work(loaded.database_url) as session:
        first = session.execute(
            select(RECEIPTS.c.id, RECEIPTS.c.currency, RECEIPTS.c.amount_minor)
            .where(RECEIPTS.c.lockbox_file_id == imported.file_id)
            .order_by(RECEIPTS.c.id)
            .limit(1)
        ).one()
    reverse_receipt(loaded, first.id, "returned check")
    after = file_summary(loaded, imported.file_id)["amounts"][first.currency]
    was = before["amounts"][first.currency]
    assert was["reversed"] == str(Money.from_minor(0, first.currency))
    assert after["reversed"] == str(Money.from_minor(first.amount_minor, first.currency))
    assert after["amount"] == was["amount"]
    parts = [Money.parse(after[k], first.currency) for k in ("applied", "unapplied", "reversed")]
    assert sum(parts, Money.zero(first.currency)) == Money.parse(after["amount"], first.currency)
