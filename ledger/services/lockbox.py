"""`arledger lockbox import`: a bank file's checks become receipts, exactly once.

The file is validated whole first (structure, amounts, dates, counts, control totals — see
``ledger.intake.lockbox``); a failing file is refused with its line number and nothing is recorded. A
file already imported — the same content, or the same bank file id under another name — is
refused as a duplicate. Then the file is recorded and every check is received as a queued
receipt under the key ``lockbox:<file hash>:<batch>:<item>``, streamed from the file in chunks
committed in bulk so memory stays flat, and each chunk's distribution is dispatched as soon as it
is committed. A check naming an order that cannot be found becomes an unapplied receipt, not an
error.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from config.settings import Settings
from ledger.domain.errors import Conflict
from ledger.domain.money import Money
from ledger.domain.receipt import ReceiptStatus, bank_credit_reported_again, bank_receipt_key
from ledger.intake.lockbox import (
    BankCredit,
    LockboxItem,
    LockboxProfile,
    LockboxRefused,
    LockboxSummary,
    iter_items,
    validate_file,
)
from ledger.persistence.files import FileAlreadyRecorded, NewFile
from ledger.persistence.receipts import KeyedReceipt, lockbox_key
from ledger.persistence.unit_of_work import UnitOfWork, reading

_CHUNK = 2000


class DuplicateLockboxFile(Conflict):
    """The same file content, or the same bank file id, imported a second time."""

    def __init__(self, what: str, file_id: int, name: str) -> None:
        super().__init__(
            f"lockbox file refused as a duplicate: {what} was already imported as file {file_id} ({name})",
            field="file",
        )


@dataclass(frozen=True)
class ImportedFile:
    """A recorded lockbox file and how many of its checks this import received."""

    file_id: int
    summary: LockboxSummary
    received: int  # receipts created by this import (fewer when it resumed an earlier one)
    resumed: bool


def import_lockbox(
    settings: Settings,
    path: str | Path,
    *,
    profile: LockboxProfile | None = None,
    name: str | None = None,
    on_received: Callable[[list[int]], object] | None = None,
    on_validated: Callable[[LockboxSummary], object] | None = None,
    chunk_size: int = 5_000,
) -> ImportedFile:
    """Validate the whole file, refuse it as a duplicate, or record it and receive its checks.

    The file is first copied to a private temporary file, so what is validated is exactly what
    is read, whatever happens to the original meanwhile. Checks are received in chunks, each
    committed and handed to ``on_received`` (the caller dispatches distribution) as soon as it
    is, so distribution starts while the rest of the file is still being received. The file is
    marked complete when its last check is in; importing an incomplete file again (the importer
    died half way) resumes it, receiving only the checks still missing.
    """
    source = Path(path)
    with tempfile.TemporaryDirectory(prefix="arledger-lockbox-") as directory:
        private = Path(directory) / "file"
        try:
            shutil.copyfile(source, private)
        except OSError as exc:
            raise LockboxRefused(None, f"cannot read {source}: {exc.strerror}") from None
        # A camt file's checks, kept by pass 1 for pass 2 (its XML is not parsed twice).
        kept = Path(directory) / "checks"
        summary = validate_file(
            private, profile, check_bank_credits=_bank_credit_check(settings), keep=kept
        )
        file_id, resumed = _record_file(settings, summary, name or source.name)
        if on_validated is not None:
            on_validated(summary)
        received = 0
        items = iter_items(private, profile, kept=kept)
        while chunk := list(islice(items, chunk_size)):
            with UnitOfWork(settings.database_url) as uow:
                created, pending = _receive(uow, file_id, summary.sha256, chunk, resuming=resumed)
                uow.commit()
            received += created
            if on_received is not None and pending:
                on_received(pending)
        with UnitOfWork(settings.database_url) as uow:
            uow.files.mark_complete(file_id)
            uow.commit()
    return ImportedFile(file_id, summary, received, resumed)


def _bank_credit_check(settings: Settings) -> Callable[[list[BankCredit]], None]:
    """Pass 1's check of bank keys against the receipts already received: one lookup per list of
    credits. A credit received before with the same amount will be skipped; with another amount
    or currency the file is refused here, before anything of it is recorded."""

    def check(credits: list[BankCredit]) -> None:
        with reading(settings.database_url) as uow:
            found = uow.receipts.by_keys([bank_receipt_key(c.key) for c in credits])
        for credit in credits:
            _refuse_changed_credit(credit, found.get(bank_receipt_key(credit.key)))

    return check


def _refuse_changed_credit(credit: BankCredit, earlier: KeyedReceipt | None) -> None:
    if earlier is None:
        return
    reason = bank_credit_reported_again(
        bank_receipt_key(credit.key),
        earlier.amount,
        credit.amount,
        f"was received as receipt {earlier.id}",
    )
    if reason is not None:
        raise credit.refused(reason)


def _record_file(settings: Settings, summary: LockboxSummary, name: str) -> tuple[int, bool]:
    """The file's id, recorded now or found incomplete (to resume); refuses a duplicate."""
    with UnitOfWork(settings.database_url) as uow:
        earlier = uow.files.with_content(summary.sha256)
        if earlier is not None and not earlier.complete:
            return earlier.id, True
        _refuse_duplicate(uow, summary)
        try:
            file_id = uow.files.add(
                NewFile(
                    sha256=summary.sha256,
                    bank_file_id=summary.bank_file_id,
                    name=name,
                    format=summary.format,
                    items=summary.items,
                    debits_skipped=summary.debits_skipped,
                )
            )
            uow.commit()
        except FileAlreadyRecorded:
            # Another process recorded the same file between our check and our insert.
            uow.rollback()
            _refuse_duplicate(uow, summary)
            raise
        return file_id, False


def _refuse_duplicate(uow: UnitOfWork, summary: LockboxSummary) -> None:
    same_content = uow.files.with_content(summary.sha256)
    if same_content is not None:
        raise DuplicateLockboxFile("the same content", same_content.id, same_content.name)
    if summary.bank_file_id is not None:
        same_id = uow.files.with_bank_id(summary.bank_file_id)
        if same_id is not None:
            raise DuplicateLockboxFile(
                f"bank file id {summary.bank_file_id}", same_id.id, same_id.name
            )


def _receive(
    uow: UnitOfWork, file_id: int, sha256: str, items: list[LockboxItem], *, resuming: bool
) -> tuple[int, list[int]]:
    """Insert one chunk of checks as queued receipts. Returns how many were created and the ids
    of every receipt of the chunk still waiting for distribution, in file order."""
    pending: list[int] = []
    # A bank statement's credit keeps its bank key across files (a camt.054 credit comes again in
    # the day's camt.053, a BAI2 credit is re-reported): one already received from any file is
    # not received again (docs/rules.md section 13).
    if resuming or any(item.key is not None for item in items):
        keys = [lockbox_key(sha256, item) for item in items]
        found = uow.receipts.by_keys(keys)
        if resuming:
            pending = [receipt.id for receipt in found.values() if receipt.status == "queued"]
        for item, key in zip(items, keys, strict=True):
            # Pass 1 checked every amount already; only another import received since, of a
            # file reporting the same credit otherwise, can still contradict it here.
            if item.key is not None and key in found:
                credit = BankCredit(
                    item.key, item.amount, None if item.where else item.line, item.where
                )
                _refuse_changed_credit(credit, found[key])
        items = [item for item, key in zip(items, keys, strict=True) if key not in found]
    named = {item.customer for item in items if item.customer}
    known = uow.reference.known_customers(named)
    ids = uow.receipts.add_lockbox_checks(file_id, sha256, items, known)
    return len(ids), sorted(pending + ids)


def progress(settings: Settings, file_id: int) -> tuple[int, int]:
    """(receipts of the file processed, receipts of the file). Cheap enough to poll: the file row
    knows its size, and the still-queued receipts are found through the status index."""
    with reading(settings.database_url) as uow:
        total = uow.files.item_count(file_id)
        pending = uow.receipts.queued_in_file(file_id)
    return total - pending, total


def distributed(settings: Settings, file_id: int) -> bool:
    """Whether every receipt of the file has been distributed: cheaper than ``progress`` while
    many still wait, for a caller that polls only for the end."""
    with reading(settings.database_url) as uow:
        return not uow.receipts.any_queued_in_file(file_id)


def file_summary(settings: Settings, file_id: int) -> dict[str, Any]:
    """Items, amounts, and where the money went, per currency: what `lockbox import` ends with.

    Applied, unapplied and reversed are the receipts' split (docs/rules.md section 9.3), summed per
    currency; a receipt reversed since the import counts as reversed.
    """
    with reading(settings.database_url) as uow:
        head, statuses, rules, received, splits = uow.files.summary_rows(file_id)
    amounts = {
        currency: {
            "amount": str(Money.from_minor(total, currency)),
            "applied": str(Money.from_minor(splits[currency].applied, currency)),
            "unapplied": str(Money.from_minor(splits[currency].unapplied, currency)),
            "reversed": str(Money.from_minor(splits[currency].reversed, currency)),
        }
        for currency, total in received.items()
    }
    return {
        "id": file_id,
        "name": head.name,
        "format": head.format,
        "sha256": head.sha256,
        "bank_file_id": head.bank_file_id,
        "items": head.items,
        "debits_skipped": head.debits_skipped,
        "applied_items": statuses.get(ReceiptStatus.APPLIED, 0),
        "unapplied_items": statuses.get(ReceiptStatus.UNAPPLIED, 0)
        + statuses.get(ReceiptStatus.UNIDENTIFIED, 0),
        "refused_items": statuses.get(ReceiptStatus.FAILED, 0),
        "pending_items": statuses.get(ReceiptStatus.QUEUED, 0),
        "by_rule": dict(sorted(rules.items())),
        "amounts": amounts,
    }
