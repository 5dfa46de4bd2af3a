"""Lockbox files: one row per imported bank file, found again by content hash or bank file id."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.domain.receipt import ReceiptSplit
from ledger.persistence.bulk import allocate_ids
from ledger.persistence.derived import SPLIT_TYPES, split_columns
from ledger.persistence.schema import LOCKBOX_FILES, RECEIPTS


@dataclass(frozen=True)
class RecordedFile:
    """A lockbox file already recorded."""

    id: int
    name: str
    complete: bool  # every check received; an incomplete file is resumed, not refused


@dataclass(frozen=True)
class NewFile:
    """A validated lockbox file to record."""

    sha256: str
    bank_file_id: str | None
    name: str
    format: str
    items: int
    debits_skipped: int = 0


class FileAlreadyRecorded(Exception):
    """Another transaction recorded a file with the same content or bank file id first."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"lockbox file {sha256} is already recorded")
        self.sha256 = sha256


class FileRepository:
    """Lockbox files in one unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def with_content(self, sha256: str) -> RecordedFile | None:
        return self._first(LOCKBOX_FILES.c.sha256 == sha256)

    def with_bank_id(self, bank_file_id: str) -> RecordedFile | None:
        return self._first(LOCKBOX_FILES.c.bank_file_id == bank_file_id)

    def _first(self, condition: ColumnElement[bool]) -> RecordedFile | None:
        row = self._session.execute(
            select(LOCKBOX_FILES.c.id, LOCKBOX_FILES.c.name, LOCKBOX_FILES.c.complete).where(
                condition
            )
        ).first()
        return None if row is None else RecordedFile(int(row.id), row.name, bool(row.complete))

    def add(self, file: NewFile) -> int:
        """Record a file, not yet complete; its id. Raises FileAlreadyRecorded when the same
        content or bank file id was recorded meanwhile."""
        file_id = allocate_ids(self._session, LOCKBOX_FILES, 1)[0]
        try:
            self._session.execute(
                insert(LOCKBOX_FILES).values(
                    id=file_id,
                    sha256=file.sha256,
                    bank_file_id=file.bank_file_id,
                    name=file.name,
                    format=file.format,
                    items=file.items,
                    debits_skipped=file.debits_skipped,
                    complete=False,
                )
            )
        except IntegrityError as exc:
            raise FileAlreadyRecorded(file.sha256) from exc
        return file_id

    def mark_complete(self, file_id: int) -> None:
        self._session.execute(
            update(LOCKBOX_FILES).where(LOCKBOX_FILES.c.id == file_id).values(complete=True)
        )

    def summary_rows(self, file_id: int) -> FileSummaryRows:
        """What a file's summary is made of: its row, its receipts by status and currency, and
        where their money went."""
        return file_summary_rows(self._session, file_id)

    def item_count(self, file_id: int) -> int:
        """How many checks the file holds, as validated."""
        return int(
            self._session.execute(
                select(LOCKBOX_FILES.c["items"]).where(LOCKBOX_FILES.c.id == file_id)
            ).scalar_one()
        )


class FileSummaryRows(NamedTuple):
    """What a lockbox file's summary is made of."""

    head: Any
    statuses: dict[str, int]  # receipts by status
    rules: dict[str, int]  # receipts by the matching rule that placed them ("none": nothing)
    received: dict[str, int]  # the receipts' amounts by currency
    splits: dict[str, ReceiptSplit]  # where the money went, by currency


def file_summary_rows(session: Session, file_id: int) -> FileSummaryRows:
    head = session.execute(select(LOCKBOX_FILES).where(LOCKBOX_FILES.c.id == file_id)).one()
    statuses = {
        str(status): int(count)
        for status, count in session.execute(
            select(RECEIPTS.c.status, func.count())
            .where(RECEIPTS.c.lockbox_file_id == file_id)
            .group_by(RECEIPTS.c.status)
        )
    }
    rules = {
        str(rule or "none"): int(count)
        for rule, count in session.execute(
            select(RECEIPTS.c.match_rule, func.count())
            .where(RECEIPTS.c.lockbox_file_id == file_id)
            .group_by(RECEIPTS.c.match_rule)
        )
    }
    received = {
        str(currency): int(total)
        for currency, total in session.execute(
            select(RECEIPTS.c.currency, func.sum(RECEIPTS.c.amount_minor))
            .where(RECEIPTS.c.lockbox_file_id == file_id)
            .group_by(RECEIPTS.c.currency)
        )
    }
    journal, joined, total, undone_total = split_columns()
    caused: dict[str, dict[str, int]] = defaultdict(dict)
    undone: dict[str, dict[str, int]] = defaultdict(dict)
    for currency, journal_type, amount, amount_undone in session.execute(
        select(RECEIPTS.c.currency, journal.c.type, total, undone_total)
        .select_from(joined.join(RECEIPTS, RECEIPTS.c.id == journal.c.receipt_id))
        .where(RECEIPTS.c.lockbox_file_id == file_id, journal.c.type.in_(SPLIT_TYPES))
        .group_by(RECEIPTS.c.currency, journal.c.type)
    ):
        caused[currency][journal_type] = int(amount)
        undone[currency][journal_type] = int(amount_undone)
    splits = {c: ReceiptSplit.from_totals(caused[c], undone[c]) for c in received}
    return FileSummaryRows(head, statuses, rules, received, splits)
