"""The unit of work: one database transaction and the repositories that read and write in it.

Services open one per command (``with UnitOfWork(url) as uow: …; uow.commit()``); leaving the
block without ``commit()`` — a refusal, an exception, a dry run — rolls everything back. The
repositories are the only code that writes SQL, and the only code that knows which database it
talks to: a service never sees a dialect branch.

A function that runs inside a transaction its caller owns (``intake_receipt`` inside event
processing, ``load`` inside ``load_file``) takes the caller's unit of work, which the caller
commits or rolls back. :meth:`UnitOfWork.joining` gives the same repositories over a session
opened elsewhere (a test's, a benchmark's).
"""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session

from ledger.persistence.db import get_engine
from ledger.persistence.events import EventRepository
from ledger.persistence.files import FileRepository
from ledger.persistence.journals import JournalRepository
from ledger.persistence.matching import MatchingRepository
from ledger.persistence.messages import MessageRepository
from ledger.persistence.orders import OrderRepository
from ledger.persistence.outbox import OutboxRepository
from ledger.persistence.receipts import ReceiptRepository
from ledger.persistence.reference import ReferenceRepository


class UnitOfWork:
    """One transaction on the database at ``url``, with typed repositories over it."""

    session: Session

    def __init__(
        self, url: str | None = None, *, session: Session | None = None, by_key: bool = False
    ) -> None:
        """``by_key``: every statement of the transaction reaches its rows by key (a distribution
        batch, a gateway event), so it is planned that way (``get_engine``'s ``by_key``)."""
        if (url is None) == (session is None):
            raise ValueError("a unit of work is opened from a URL or joins a session, not both")
        self._url = url
        self._owned = session is None
        self._by_key = by_key
        if session is not None:
            self.session = session

    @classmethod
    def joining(cls, session: Session) -> UnitOfWork:
        """The repositories over a session (and transaction) its caller owns and ends."""
        return cls(session=session)

    def __enter__(self) -> Self:
        if self._owned:
            assert self._url is not None
            engine = get_engine(self._url, by_key=self._by_key)
            self.session = Session(engine, expire_on_commit=False, autoflush=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._owned:
            self.session.rollback()
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        """Undo everything since the last commit; the unit of work stays usable."""
        self.session.rollback()

    @cached_property
    def orders(self) -> OrderRepository:
        return OrderRepository(self.session)

    @cached_property
    def journals(self) -> JournalRepository:
        return JournalRepository(self.session)

    @cached_property
    def receipts(self) -> ReceiptRepository:
        return ReceiptRepository(self.session)

    @cached_property
    def events(self) -> EventRepository:
        return EventRepository(self.session)

    @cached_property
    def files(self) -> FileRepository:
        return FileRepository(self.session)

    @cached_property
    def reference(self) -> ReferenceRepository:
        return ReferenceRepository(self.session)

    @cached_property
    def matching(self) -> MatchingRepository:
        return MatchingRepository(self.session)

    @cached_property
    def messages(self) -> MessageRepository:
        return MessageRepository(self.session)

    @cached_property
    def outbox(self) -> OutboxRepository:
        return OutboxRepository(self.session)


class _Reading(UnitOfWork):
    def commit(self) -> None:
        raise RuntimeError("a reading unit of work does not commit")


def reading(url: str) -> UnitOfWork:
    """A unit of work for read-only work (a poll, a sweep): the same repositories; it rolls back
    at the end and refuses to commit, so a read can never write by mistake."""
    return _Reading(url)
