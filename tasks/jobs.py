"""The bodies of the tasks, as plain functions of (settings, ids): what a worker runs for a message,
and what runs in-process when no broker is configured.

Each returns a JSON-ready dict and the follow-up work it makes (refund events that were waiting
on a payment just distributed; journals to publish), which the caller dispatches the same way it
was dispatched itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from config.settings import Settings
from ledger.outbox.publisher import PublisherBusy, publish_pending
from ledger.persistence.db import unit_of_work
from ledger.persistence.schema import INTAKE_EVENTS, RECEIPTS
from ledger.services import events as gateway
from ledger.services import receipts as services


@dataclass
class Outcome:
    """A job's result and the follow-ups it asks for."""

    result: dict[str, Any]
    receipts: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    publish: bool = False
    publish_later: bool = False


def distribute(settings: Settings, receipt_ids: list[int], *, top_up: int = 0) -> Outcome:
    batch = services.distribute_receipts(settings, receipt_ids, top_up=top_up)
    return Outcome(
        {"distributed": batch.distributed, "statuses": batch.statuses},
        events=list(batch.waiting_events),
        publish=batch.distributed > 0,
    )


def process_event(settings: Settings, event_row: int) -> Outcome:
    outcome = gateway.process_event(settings, event_row)
    return Outcome(
        {"status": outcome.status, "reason": outcome.reason, "new_receipt": outcome.new_receipt},
        receipts=[outcome.new_receipt] if outcome.new_receipt else [],
        publish=outcome.status == "done",
    )


def publish(settings: Settings) -> Outcome:
    """Publish what is pending. When another publisher holds the cursor it will deliver what is
    pending now; asking again a moment later covers what commits just after it finishes."""
    try:
        return Outcome({"published": publish_pending(settings)})
    except PublisherBusy:
        return Outcome({"published": 0, "busy": True}, publish_later=True)


def sweep(settings: Settings, now: datetime | None = None) -> Outcome:
    """Find intake that is persisted but not processed — its message lost with a broker's queue,
    or never sent because the process died between commit and enqueue — and ask for it again.

    Intake younger than the grace period is left alone: its message is most likely still queued.
    Events waiting on a payment are retried at every sweep.
    """
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=settings.sweep_grace_seconds)
    with unit_of_work(settings.database_url) as session:
        receipts = [
            int(i)
            for i in session.execute(
                select(RECEIPTS.c.id)
                .where(RECEIPTS.c.status == "queued", RECEIPTS.c.created_at <= cutoff)
                .order_by(RECEIPTS.c.id)
            ).scalars()
        ]
        events = [
            int(i)
            for i in session.execute(
                select(INTAKE_EVENTS.c.id)
                .where(
                    (INTAKE_EVENTS.c.status == "waiting")
                    | (
                        (INTAKE_EVENTS.c.status == "queued")
                        & (INTAKE_EVENTS.c.created_at <= cutoff)
                    )
                )
                .order_by(INTAKE_EVENTS.c.id)
            ).scalars()
        ]
    return Outcome(
        {"receipts": len(receipts), "events": len(events)},
        receipts=receipts,
        events=events,
        publish=True,
    )
