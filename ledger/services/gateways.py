"""Real gateways' events (docs/rules.md section 12): their money through the native intake, and
each event itself in the inbox for audit, in one transaction.

A Stripe event or Adyen item arrives translated (:class:`~ledger.intake.gateway.Notice`). What
moves money goes through the native intake (:func:`ledger.services.events.intake_event`, the same
receipts, keys, inbox, waiting refunds and sweep as a native event); the gateway's own event is
recorded under its own key with its raw body, processed already, in the same transaction and
commit, so that neither is ever kept without the other. A repeat of either finds what was
recorded; nothing here is a second path to the ledger.

A gateway that announces again what arledger received with other values (a PaymentIntent whose
``amount_received`` changed, a second capture of one payment) is answered as received: its event
is kept, failed with the differences for the exception queue, and moves nothing — the money
received stays as it was, and the gateway stops retrying.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from config.settings import Settings
from ledger.domain.errors import IdempotencyConflict
from ledger.intake.gateway import Notice, receipt_request
from ledger.persistence.events import NewEvent, record_payment_notice
from ledger.persistence.unit_of_work import UnitOfWork
from ledger.services.events import EventIntake, intake_event

KIND_LIMIT = 32  # the inbox's kind column; the raw body keeps the whole type
CONFLICT = "conflict"  # the status a conflicting re-announcement is answered with


def submit_notice(settings: Settings, notice: Notice) -> EventIntake:
    """Persist a gateway's event: its money (if any) as a native event, and the event itself.

    A re-announcement that contradicts what was received is recorded for the exception queue
    and answered with status ``conflict``, the receipt already received, nothing to do.
    """
    return submit_notices(settings, [notice])[0]


def submit_notices(settings: Settings, notices: Sequence[Notice]) -> list[EventIntake]:
    """Persist a webhook's notices, in order, in one transaction (``submit_notice`` each)."""
    if len(notices) == 1:
        new_payment = _new_payment(settings, notices[0])
        if new_payment is not None:
            return [new_payment]
    with UnitOfWork(settings.database_url) as uow:
        intakes = [_submit(uow, settings, notice) for notice in notices]
        uow.commit()
    return intakes


def _new_payment(settings: Settings, notice: Notice) -> EventIntake | None:
    """The common case, a new payment, on a plain connection: the receipt and the gateway's
    event in two statements and one commit (an ORM session around them costs more CPU than they
    do). None, having written nothing, when the payment was received before."""
    event = notice.event
    if event is None or event.type != "payment.succeeded":
        return None
    receipt_id = record_payment_notice(
        settings.database_url, receipt_request(event), _row(notice, None), notice.note
    )
    return EventIntake(receipt_id, "queued", True) if receipt_id is not None else None


def _submit(uow: UnitOfWork, settings: Settings, notice: Notice) -> EventIntake:
    if notice.event is None:
        row = uow.events.record(_row(notice, None), notice.note)
        status = "ignored" if notice.note == "ignored" else "recorded"
        return EventIntake(None, status, row is not None)
    try:
        intake = intake_event(uow, settings, notice.event)
    except IdempotencyConflict as conflict:
        return _conflicting(uow, notice, conflict)
    uow.events.record(_row(notice, intake.receipt_id), notice.note)
    return intake


def _conflicting(uow: UnitOfWork, notice: Notice, conflict: IdempotencyConflict) -> EventIntake:
    """Keep a re-announcement that contradicts what was received, failed with the reason, under
    its own key — or, when that key holds the event as first received (the same event id sent
    again with other values), under its key and the digest of its body, so that each different
    body is kept once however often it is sent."""
    assert notice.event is not None
    receipt_id = uow.receipts.payment_receipt(notice.event.reference)
    row = _row(notice, receipt_id)
    reason = f"not taken: {conflict.message}"
    if uow.events.record_conflict(row, reason) is None:
        kept = uow.events.by_key(row.external_key)
        if kept is not None and kept.payload_hash != row.payload_hash:
            uow.events.record_conflict(
                replace(row, external_key=f"{row.external_key}#{row.payload_hash[:16]}"), reason
            )
    # Nothing to dispatch: the money received stays as it was.
    return EventIntake(receipt_id, CONFLICT, False)


def _row(notice: Notice, receipt_id: int | None) -> NewEvent:
    return NewEvent(
        external_key=notice.key,
        kind=notice.kind[:KIND_LIMIT],
        payload=notice.raw,
        payload_hash=hashlib.sha256(notice.raw.encode()).hexdigest(),
        reference=notice.reference or notice.key,
        receipt_id=receipt_id,
        source=notice.key.split(":", 1)[0],
    )
