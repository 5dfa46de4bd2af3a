"""Operations on the pipeline itself: the sweep, poison messages and retried events.

The database, not the broker, remembers what is pending (docs/rules.md section 8): the sweep finds intake
persisted but not yet processed and hands it back for dispatch. A task message that cannot be
processed is kept as a poison message with its reason, visible in the exception queue and
re-sent by an operator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from config.settings import Settings
from ledger.domain.errors import InputRefused
from ledger.persistence.db import printable_url
from ledger.persistence.unit_of_work import UnitOfWork, reading


@dataclass(frozen=True)
class Pending:
    """Intake persisted but not processed: receipts to distribute, events to process."""

    receipts: tuple[int, ...]
    events: tuple[int, ...]


def sweep(settings: Settings, now: datetime | None = None) -> Pending:
    """Find intake that is persisted but not processed — its message lost with a broker's queue,
    or never sent because the process died between commit and enqueue.

    Intake younger than the grace period is left alone: its message is most likely still queued.
    Events waiting on a payment are retried at every sweep.
    """
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=settings.sweep_grace_seconds)
    with reading(settings.database_url) as uow:
        return Pending(uow.receipts.queued_since_before(cutoff), uow.events.pending(cutoff))


def record_poison(settings: Settings, task: str, body: Any, reason: str) -> None:
    """Keep a message that cannot be processed, with its reason, for `arledger exceptions`."""
    try:
        text = json.dumps(body, default=str)
    except (TypeError, ValueError):
        text = repr(body)
    with UnitOfWork(settings.database_url) as uow:
        uow.messages.add(task, text, reason)
        uow.commit()


def retry_event(settings: Settings, event_row: int) -> None:
    """Put a waiting or failed gateway event back in the queue (after its cause is fixed)."""
    with UnitOfWork(settings.database_url) as uow:
        event = uow.events.locked(event_row)
        if event is None:
            raise InputRefused(f"unknown event {event_row}", field="event")
        if event.status not in ("waiting", "failed"):
            raise InputRefused(
                f"event {event_row} is {event.status}: nothing to retry", field="event"
            )
        if event.source != "gateway":
            # A gateway's own event kept as received (docs/rules.md section 12): its money, if
            # any, went through the intake under the native key; this row itself moves nothing.
            raise InputRefused(
                f"event {event_row} is {event.source}'s event {event.external_key} as received, "
                "kept for audit: it moves no money, so nothing to retry (correct the receipt "
                "it names by hand if the gateway's new values are right)",
                field="event",
            )
        event.status, event.status_reason = "queued", None
        uow.commit()


def take_poison_message(settings: Settings, message_id: int) -> tuple[str, Any]:
    """Mark an open poison message retried and return (task name, its arguments) to re-send."""
    with UnitOfWork(settings.database_url) as uow:
        message = uow.messages.locked(message_id)
        if message is None or message.status != "open":
            raise InputRefused(f"no open poison message {message_id}", field="message")
        try:
            body = json.loads(message.body)
        except ValueError:
            raise InputRefused(
                f"poison message {message_id} is not JSON: it cannot be re-sent", field="message"
            ) from None
        message.status = "retried"
        uow.commit()
        args = body.get("args", []) if isinstance(body, dict) else [body]
        return message.task, args


def display_url(url: str) -> str:
    """A database URL fit to print: the password hidden (the CLI's ``init`` shows it)."""
    return printable_url(url)
