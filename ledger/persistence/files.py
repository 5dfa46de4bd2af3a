"""Lockbox files: one row per imported bank file, found again by content hash or bank file id."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, insert, select, update
from sqlalchemy.orm import Session

from ledger.persistence.repository import allocate_ids
from ledger.persistence.schema import LOCKBOX_FILES


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
        """Record a file, not yet complete; its id. Raises IntegrityError when the same content
        or bank file id was recorded meanwhile."""
        file_id = allocate_ids(self._session, LOCKBOX_FILES, 1)[0]
        self._session.execute(
            insert(LOCKBOX_FILES).values(
                id=file_id,
                sha256=file.sha256,
                bank_file_id=file.bank_file_id,
                name=file.name,
                format=file.format,
                items=file.items,
                complete=False,
            )
        )
        return file_id

    def mark_complete(self, file_id: int) -> None:
        self._session.execute(
            update(LOCKBOX_FILES).where(LOCKBOX_FILES.c.id == file_id).values(complete=True)
        )

    def item_count(self, file_id: int) -> int:
        """How many checks the file holds, as validated."""
        return int(
            self._session.execute(
                select(LOCKBOX_FILES.c["items"]).where(LOCKBOX_FILES.c.id == file_id)
            ).scalar_one()
        )
