"""Poison messages: task messages that could not be processed, kept for the exception queue."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from ledger.persistence.schema import POISON_MESSAGES, PoisonMessage

# Bounds of what is kept of a message: enough to re-send it and to read why it failed.
_BODY_CHARS = 20000
_REASON_CHARS = 2000


class MessageRepository:
    """Poison messages in one unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, task: str, body: str, reason: str) -> None:
        """Keep an open poison message (body and reason cut to their bounds)."""
        self._session.execute(
            insert(POISON_MESSAGES).values(
                task=task, body=body[:_BODY_CHARS], reason=reason[:_REASON_CHARS], status="open"
            )
        )

    def locked(self, message_id: int) -> PoisonMessage | None:
        """A poison message, locked for a status change (assigning its status writes it)."""
        return self._session.get(PoisonMessage, message_id, with_for_update=True)
