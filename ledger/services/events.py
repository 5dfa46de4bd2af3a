"""Gateway events (docs/rules.md section 6): intake of the native event and processing of refunds and disputes.

A ``payment.succeeded`` event is money: its intake is a receipt, keyed by gateway + event id and
tied to the gateway's payment id (one receipt per payment, whatever event ids announce it). A
``payment.refunded`` or ``payment.disputed`` event is persisted in the event inbox under the same
kind of key, then processed: for the whole remaining amount it reverses the payment's receipt;
for part of it, the receipt is reversed and the rest received again as a new receipt that
replaces it, distributed by the same rules. A refund that arrives before its payment waits and
is retried.

"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings
from ledger.domain.errors import IdempotencyConflict, InputRefused
from ledger.domain.receipt import EventStatus, Receipt, settle
from ledger.intake.commands import ReceiptRequest
from ledger.intake.gateway import GatewayEvent, receipt_request
from ledger.persistence.events import NewEvent
from ledger.persistence.unit_of_work import UnitOfWork
from ledger.services.receipts import intake_receipt, reverse_locked_receipt, submit_automated

# --- intake ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventIntake:
    """What the webhook answers: 202 for a new event, 200 for a repeat (``created`` False)."""

    receipt_id: int | None
    status: str
    created: bool
    event_row: int | None = None  # the inbox row of a refund or dispute, to process

    def body(self) -> dict[str, Any]:
        return {"receipt_id": self.receipt_id, "status": self.status}

    def work(self) -> tuple[list[int], list[int]]:
        """What this intake asks for next: (receipts to distribute, events to process). A
        refund or dispute is an event to process, a payment a receipt to distribute; a repeat
        asks for nothing."""
        if not self.created:
            return [], []
        if self.event_row is not None:
            return [], [self.event_row]
        return ([self.receipt_id] if self.receipt_id is not None else []), []


def submit_event(settings: Settings, event: GatewayEvent) -> EventIntake:
    """Persist a gateway event (the inbox) or recognise a repeat; raises IdempotencyConflict for
    an event id reused with a different payload."""
    if event.type == "payment.succeeded":
        intake = submit_automated(settings, receipt_request(event))
        return EventIntake(intake.receipt_id, intake.status, intake.created)
    with UnitOfWork(settings.database_url) as uow:
        if uow.receipts.exists_with_key(event.intake_key):
            raise IdempotencyConflict(
                f"event id {event.event_id}", ["it was a payment"], field="event_id"
            )
        existing = uow.events.by_key(event.intake_key)
        if existing is None:
            receipt_id = uow.receipts.holding_payment(event.reference)
            row_id = uow.events.add(
                NewEvent(
                    external_key=event.intake_key,
                    kind=event.type,
                    payload=event.model_dump_json(),
                    payload_hash=event.payload_hash(),
                    reference=event.reference,
                    receipt_id=receipt_id,
                )
            )
            if row_id is not None:
                uow.commit()
                return EventIntake(receipt_id, "queued", True, row_id)
            existing = uow.events.by_key(event.intake_key)
            assert existing is not None
        if existing.payload_hash != event.payload_hash():
            raise IdempotencyConflict(
                f"event id {event.event_id}", ["different payload"], field="event_id"
            )
        return EventIntake(existing.receipt_id, existing.status, False, existing.id)


def current_receipt_id(uow: UnitOfWork, reference: str) -> int | None:
    """The receipt that now holds a gateway payment's money: the payment's own receipt, or the
    newest receipt of the rest after partial refunds."""
    return uow.receipts.holding_payment(reference)


# --- processing refunds and disputes -----------------------------------------------------------


@dataclass(frozen=True)
class EventOutcome:
    """What processing a refund or dispute did."""

    status: str  # "done", "waiting" or "failed"
    reason: str | None
    new_receipt: int | None  # the rest of a partially refunded payment, to distribute


def process_event(settings: Settings, event_row: int) -> EventOutcome:
    """Process a persisted refund or dispute, once; idempotent (a done event stays done).

    Waits (status "waiting", retried by the sweep) while the payment it names has not been
    received or distributed yet; fails (for the exception queue) when it asks for more than the
    payment still holds.
    """
    with UnitOfWork(settings.database_url) as uow:
        row = uow.events.lock_row(event_row)
        if row is None:
            raise InputRefused(f"unknown event {event_row}", field="event")
        if row.status in (EventStatus.DONE, EventStatus.FAILED):
            return EventOutcome(row.status, row.status_reason, None)
        event = GatewayEvent.model_validate_json(row.payload)
        receipt_id = current_receipt_id(uow, event.reference)
        receipt = uow.receipts.locked(receipt_id) if receipt_id is not None else None
        outcome = _settle(uow, settings, event, receipt)
        uow.events.settle(
            event_row,
            outcome.status,
            outcome.reason,
            receipt.id if receipt is not None else None,
            datetime.now(UTC) if outcome.status != EventStatus.WAITING else None,
        )
        uow.commit()
        return outcome


def _settle(
    uow: UnitOfWork, settings: Settings, event: GatewayEvent, receipt: Receipt | None
) -> EventOutcome:
    """Carry out what :func:`ledger.domain.receipt.settle` decides for this event."""
    settlement = settle(receipt, event.type, event.event_id, event.reference, event.money)
    if not settlement.reverse:
        return EventOutcome(settlement.status.value, settlement.reason, None)
    assert receipt is not None and settlement.reversal_reason is not None
    calendar = uow.reference.calendar()
    day = calendar.automated_date(event.occurred_at.astimezone(UTC).date())
    placed_on = sorted(uow.receipts.orders_applied_to(receipt.id))
    reverse_locked_receipt(uow, receipt, settlement.reversal_reason, day)
    rest = settlement.rest
    if rest is None:
        return EventOutcome(settlement.status.value, settlement.reason, None)
    # The rest goes where the payment went (docs/rules.md section 14): the order it named, or the
    # orders matching placed it on — named again as remittance, paid oldest first — and it keeps
    # the payment's match.
    named = receipt.requested[:1] if receipt.requested else ()
    request = ReceiptRequest(
        source="gateway",
        external_id=f"{event.key}:rest",
        amount=rest,
        received_date=day,
        customer=receipt.requested_customer or (receipt.customer_id if not named else None),
        allocations=tuple((number, rest) for number, _ in named),
        automated=True,
        replaces=receipt.id,
        remittance=None if named or not placed_on else " ".join(placed_on),
        match=(receipt.match_rule, receipt.match_references) if receipt.match_rule else None,
    )
    intake = intake_receipt(uow, settings, request)
    return EventOutcome(
        settlement.status.value,
        f"{settlement.reason}: {rest} received again as receipt {intake.receipt_id}",
        intake.receipt_id,
    )
