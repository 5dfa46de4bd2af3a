"""Real gateways' events (docs/rules.md section 12): their money through the native intake, and
each event itself in the inbox for audit.

A Stripe event or Adyen item arrives translated (:class:`~ledger.intake.gateway.Notice`). What
moves money goes through :func:`ledger.services.events.submit_event`, exactly as a native event
does (the same receipts, keys, inbox, waiting refunds and sweep); then the gateway's own event is
recorded under its own key with its raw body, processed already. A repeat of either finds what
was recorded; nothing here is a second path to the ledger.
"""

from __future__ import annotations

import hashlib

from config.settings import Settings
from ledger.intake.gateway import Notice
from ledger.persistence.events import NewEvent
from ledger.persistence.unit_of_work import UnitOfWork
from ledger.services.events import EventIntake, submit_event

KIND_LIMIT = 32  # the inbox's kind column; the raw body keeps the whole type


def submit_notice(settings: Settings, notice: Notice) -> EventIntake:
    """Persist a gateway's event: its money (if any) as a native event, then the event itself.

    Raises IdempotencyConflict as ``submit_event`` does. ``created`` is True when either is new.
    """
    intake = submit_event(settings, notice.event) if notice.event is not None else None
    with UnitOfWork(settings.database_url) as uow:
        row = uow.events.record(
            NewEvent(
                external_key=notice.key,
                kind=notice.kind[:KIND_LIMIT],
                payload=notice.raw,
                payload_hash=hashlib.sha256(notice.raw.encode()).hexdigest(),
                reference=notice.reference or notice.key,
                receipt_id=intake.receipt_id if intake is not None else None,
                source=notice.key.split(":", 1)[0],
            ),
            notice.note,
        )
        uow.commit()
    if intake is not None:
        return intake
    return EventIntake(None, "ignored" if notice.note == "ignored" else "recorded", row is not None)
