"""Gateway events (docs/rules.md section 6): intake of the native event and processing of refunds and disputes.

A ``payment.succeeded`` event is money: its intake is a receipt, keyed by gateway + event id and
tied to the gateway's payment id (one receipt per payment, whatever event ids announce it). A
``payment.refunded`` or ``payment.disputed`` event is persisted in the event inbox under the same
kind of key, then processed: for the whole remaining amount it reverses the payment's receipt;
for part of it, the receipt is reversed and the rest received again as a new receipt that
replaces it, distributed by the same rules. A refund that arrives before its payment waits and
is retried.

Two kinds only the Stripe and Adyen adapters produce (docs/rules.md section 12): a cumulative
refund refunds its growth over what was already counted for the payment, and a
``payment.reinstated`` receives disputed money again as a new receipt on the payment's orders,
once the withdrawal it gives back has been taken (it waits for it, and the withdrawal releases
it). The events of one payment are processed one at a time, under its first receipt's row lock.

"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from config.settings import Settings
from ledger.domain.errors import IdempotencyConflict, InputRefused
from ledger.domain.money import Money
from ledger.domain.receipt import EventStatus, Receipt, ReceiptStatus, reinstatement, settle
from ledger.intake.commands import ReceiptRequest
from ledger.intake.gateway import GatewayEvent, LedgerEvent, receipt_request
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
        # A new payment, the webhook's common case, is one statement and a commit.
        payment = submit_automated(settings, receipt_request(event))
        return EventIntake(payment.receipt_id, payment.status, payment.created)
    with UnitOfWork(settings.database_url) as uow:
        intake = intake_event(uow, settings, event)
        uow.commit()
        return intake


def intake_event(uow: UnitOfWork, settings: Settings, event: GatewayEvent) -> EventIntake:
    """:func:`submit_event` in the caller's unit of work (the caller commits)."""
    if event.type == "payment.succeeded":
        payment = intake_receipt(uow, settings, receipt_request(event))
        return EventIntake(payment.receipt_id, payment.status, payment.created)
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
    released: tuple[int, ...] = ()  # reinstatements that waited for this withdrawal, to process


def process_event(settings: Settings, event_row: int) -> EventOutcome:
    """Process a persisted refund or dispute, once; idempotent (a done event stays done).

    Waits (status "waiting", retried by the sweep) while the payment it names has not been
    received or distributed yet; fails (for the exception queue) when it asks for more than the
    payment still holds.
    """
    with UnitOfWork(settings.database_url, by_key=True) as uow:
        row = uow.events.lock_row(event_row)
        if row is None:
            raise InputRefused(f"unknown event {event_row}", field="event")
        if row.status in (EventStatus.DONE, EventStatus.FAILED):
            return EventOutcome(row.status, row.status_reason, None)
        event = LedgerEvent.model_validate_json(row.payload)
        # Every event of one payment waits here for the others: the payment's first receipt is
        # locked before the one now holding its money is looked up, so two refunds never both
        # reverse the same receipt nor both count the same growth of a cumulative refund.
        uow.receipts.lock_payment(event.reference)
        receipt_id = current_receipt_id(uow, event.reference)
        receipt = uow.receipts.locked(receipt_id) if receipt_id is not None else None
        if event.type == "payment.reinstated":
            outcome = _reinstate(uow, settings, event, receipt)
        elif event.cumulative:
            outcome = _refund_growth(uow, settings, event, receipt)
        else:
            outcome = _settle(uow, settings, event, receipt)
        uow.events.settle(
            event_row,
            outcome.status,
            outcome.reason,
            receipt.id if receipt is not None else None,
            datetime.now(UTC) if outcome.status != EventStatus.WAITING else None,
        )
        if event.type == "payment.disputed" and outcome.status == EventStatus.DONE:
            # Read under the payment's lock, as a distribution reads the refunds waiting on it:
            # a reinstatement that decided to wait for this withdrawal has committed by now.
            outcome = replace(outcome, released=uow.events.waiting_reinstatements(event.reference))
        uow.commit()
        return outcome


def _refund_growth(
    uow: UnitOfWork, settings: Settings, event: LedgerEvent, receipt: Receipt | None
) -> EventOutcome:
    """A cumulative refund (Stripe's ``amount_refunded``): the refund is its growth over the
    largest cumulative figure already counted for the payment, so however often and in whatever
    order the events come, each unit refunded is counted once."""
    if receipt is None or receipt.status is ReceiptStatus.QUEUED:
        return _settle(uow, settings, event, receipt)  # waits for its payment
    counted = [
        LedgerEvent.model_validate_json(payload)
        for payload in uow.events.done_payloads(event.reference, "payment.refunded")
    ]
    before = max(
        (done.money for done in counted if done.cumulative and done.currency == event.currency),
        default=Money.zero(event.currency),
    )
    total = event.money
    if total <= before:
        return EventOutcome(
            EventStatus.DONE.value, f"refunded total {total} was counted already ({before})", None
        )
    return _settle(uow, settings, event, receipt, total - before)


def _reinstate(
    uow: UnitOfWork, settings: Settings, event: LedgerEvent, receipt: Receipt | None
) -> EventOutcome:
    """Disputed money received again: a new receipt on the orders the payment was for, once
    the payment is distributed and the withdrawal it gives back has been taken."""
    withdrawn = (
        uow.events.by_key(LedgerEvent.intake_key_of(event.gateway, event.withdrawal))
        if event.withdrawal is not None
        else None
    )
    decided = reinstatement(
        receipt,
        event.reference,
        event.withdrawal,
        EventStatus(withdrawn.status) if withdrawn is not None else None,
    )
    if decided.status is not EventStatus.DONE:
        return EventOutcome(decided.status.value, decided.reason, None)
    first_id = uow.receipts.payment_receipt(event.reference)
    assert receipt is not None and first_id is not None  # a receipt holds the payment
    first = uow.receipts.locked(first_id)
    calendar = uow.reference.calendar()
    day = calendar.automated_date(event.occurred_at.astimezone(UTC).date())
    # When the dispute took all the payment still held, the money given back holds it now: a
    # later refund follows the chain to it instead of finding a reversed receipt.
    replaces = receipt.id if receipt.status is ReceiptStatus.REVERSED else None
    intake = intake_receipt(
        uow, settings, _again(uow, first, event.money, f"{event.key}:reinstated", day, replaces)
    )
    return EventOutcome(
        EventStatus.DONE.value,
        f"{event.money} received again as receipt {intake.receipt_id}",
        intake.receipt_id,
    )


def _again(
    uow: UnitOfWork,
    receipt: Receipt,
    amount: Money,
    external_id: str,
    day: date,
    replaces: int | None,
) -> ReceiptRequest:
    """Money of a payment received again (the rest of a partial refund, a reinstated dispute):
    it goes where the payment went (docs/rules.md section 14) — the order it named, or the
    orders matching placed it on, named again as remittance, paid oldest first — and it keeps
    the payment's match."""
    placed_on = sorted(uow.receipts.orders_applied_to(receipt.id))
    named = receipt.requested[:1] if receipt.requested else ()
    return ReceiptRequest(
        source="gateway",
        external_id=external_id,
        amount=amount,
        received_date=day,
        customer=receipt.requested_customer or (receipt.customer_id if not named else None),
        allocations=tuple((number, amount) for number, _ in named),
        automated=True,
        replaces=replaces,
        remittance=None if named or not placed_on else " ".join(placed_on),
        match=(receipt.match_rule, receipt.match_references) if receipt.match_rule else None,
    )


def _settle(
    uow: UnitOfWork,
    settings: Settings,
    event: GatewayEvent,
    receipt: Receipt | None,
    asked: Money | None = None,
) -> EventOutcome:
    """Carry out what :func:`ledger.domain.receipt.settle` decides for this event (for
    ``asked``, when that is not the event's amount)."""
    asked = event.money if asked is None else asked
    settlement = settle(receipt, event.type, event.event_id, event.reference, asked)
    if not settlement.reverse:
        return EventOutcome(settlement.status.value, settlement.reason, None)
    assert receipt is not None and settlement.reversal_reason is not None
    calendar = uow.reference.calendar()
    day = calendar.automated_date(event.occurred_at.astimezone(UTC).date())
    rest = settlement.rest
    # Where the payment went is read before the reversal undoes it.
    request = (
        _again(uow, receipt, rest, f"{event.key}:rest", day, receipt.id)
        if rest is not None
        else None
    )
    reverse_locked_receipt(uow, receipt, settlement.reversal_reason, day)
    if rest is None or request is None:
        return EventOutcome(settlement.status.value, settlement.reason, None)
    intake = intake_receipt(uow, settings, request)
    return EventOutcome(
        settlement.status.value,
        f"{settlement.reason}: {rest} received again as receipt {intake.receipt_id}",
        intake.receipt_id,
    )
