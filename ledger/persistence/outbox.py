"""The outbox's cursor and clock: which ledger commits the publisher has delivered.

The clock (``outbox_clock.last_seq``) numbers sealed commits; the cursor
(``publisher_cursor.published_seq``) is the last one delivered. A publish round looks at both,
locks the cursor, reads the journals of the commits after it and moves it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import String, bindparam, func, literal, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ledger.persistence.db import is_postgres
from ledger.persistence.schema import CLOCK, COMMITS, JOURNALS, PUBLISHER_CURSOR

# PostgreSQL's lock_not_available: the lock_timeout ran out.
_LOCK_NOT_AVAILABLE = "55P03"


class Position(NamedTuple):
    """Where the publisher is: the last commit delivered, and the last commit sealed."""

    published: int
    sealed: int

    @property
    def caught_up(self) -> bool:
        return self.published >= self.sealed


class Pending(NamedTuple):
    """The journals of the commits after the cursor, as ``gl journals --json`` prints them."""

    journals: list[dict[str, Any]]
    last_seq: int | None  # the last commit they come from; None when there is none
    commits: int


@dataclass(frozen=True)
class Written:
    """A commit this process has just made: its sequence number and its journals as the
    publisher sends them (built when called, from what was written)."""

    seq: int
    journals: Callable[[], list[dict[str, Any]]]


class OutboxRepository:
    """The outbox in one unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._statements = _statements(is_postgres(session))

    def position(self) -> Position:
        published, sealed = self._session.execute(self._statements.cursor_and_clock).one()
        return Position(int(published), int(sealed))

    def position_waiting_at_most(self, lock_wait_ms: int) -> Position:
        """``position``, and a bound on how long this transaction will then wait for the cursor's
        lock (on PostgreSQL; SQLite's transaction holds the write lock already)."""
        row = self._session.execute(self._statements.look, {"lock_timeout": f"{lock_wait_ms}ms"})
        published, sealed = row.one()[:2]
        return Position(int(published), int(sealed))

    def lock_cursor(self) -> int | None:
        """Lock the cursor and return it, or None when another publisher kept the lock longer
        than the wait set by ``position_waiting_at_most``."""
        try:
            return int(self._session.execute(self._statements.lock_cursor).scalar_one())
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
                return None
            raise

    def move_cursor(self, seq: int) -> None:
        self._session.execute(self._statements.move_cursor, {"seq": seq})

    def journal_count_after(self, cursor: int) -> int:
        """How many journals the commits after ``cursor`` hold."""
        return int(
            self._session.execute(
                select(func.count())
                .select_from(JOURNALS)
                .join(COMMITS, COMMITS.c.id == JOURNALS.c.commit_id)
                .where(COMMITS.c.seq > cursor)
            ).scalar_one()
        )


class _Statements(NamedTuple):
    cursor_and_clock: Any
    look: Any
    lock_cursor: Any
    move_cursor: Any


@cache
def _statements(postgres: bool) -> _Statements:
    """The publisher's statements, built once per process (docs/performance.md, "The folds").

    The cursor and the last sealed sequence come in one round trip (``cursor_and_clock``). A
    publish round's first statement (``look``) is that read and, on PostgreSQL, also sets the
    transaction's lock_timeout (``set_config(…, true)`` is ``SET LOCAL``) for the wait on the
    cursor's lock that may follow: one round trip fewer per round than a separate SET.
    """
    cursor_and_clock = select(
        select(PUBLISHER_CURSOR.c.published_seq)
        .where(PUBLISHER_CURSOR.c.id == 1)
        .scalar_subquery(),
        select(CLOCK.c.last_seq).where(CLOCK.c.id == 1).scalar_subquery(),
    )
    look = (
        cursor_and_clock.add_columns(
            func.set_config("lock_timeout", bindparam("lock_timeout", type_=String), literal(True))
        )
        if postgres
        else cursor_and_clock
    )
    lock_cursor = (
        select(PUBLISHER_CURSOR.c.published_seq).where(PUBLISHER_CURSOR.c.id == 1).with_for_update()
    )
    move_cursor = (
        update(PUBLISHER_CURSOR)
        .where(PUBLISHER_CURSOR.c.id == 1)
        .values(published_seq=bindparam("seq"))
    )
    return _Statements(cursor_and_clock, look, lock_cursor, move_cursor)
