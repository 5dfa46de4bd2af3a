"""Gateway events (SPEC section 7): validation, signatures, intake and processing.

A ``payment.succeeded`` event is money: its intake is a receipt, keyed by gateway + event id and
tied to the gateway's payment id (one receipt per payment, whatever event ids announce it). A
``payment.refunded`` or ``payment.disputed`` event is persisted in the event inbox under the same
kind of key, then processed: for the whole remaining amount it reverses the payment's receipt;
for part of it, the receipt is reversed and the rest received again as a new receipt that
replaces it, distributed by the same rules. A refund that arrives before its payment waits and
is retried.

Signatures: ``X-Arledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``,
compared in constant time; a timestamp more than five minutes from now is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from config.settings import Settings
from ledger import schema
from ledger.db import is_postgres, unit_of_work
from ledger.errors import ArledgerError, IdempotencyConflict, InputRefused, InvalidInput
from ledger.inputs import CurrencyCode, DecimalString, format_validation_error, parse_json
from ledger.money import Money
from ledger.repository import load_calendar
from ledger.schema import INTAKE_EVENTS, RECEIPTS
from ledger.services import (
    ReceiptRequest,
    intake_receipt,
    reverse_locked_receipt,
    submit_automated,
)

SIGNATURE_HEADER = "X-Arledger-Signature"
REPLAY_WINDOW_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024

EventId = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:#/-]+$")]
Reference = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:#/-]+$")]


class GatewayEvent(BaseModel):
    """A gateway event as the webhook takes it; every field validated, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: EventId
    type: Literal["payment.succeeded", "payment.refunded", "payment.disputed"]
    gateway: Reference
    payment_id: EventId
    # currency before amount: the amount's validator needs it to count decimals.
    currency: CurrencyCode
    amount: DecimalString
    order: Reference | None = None
    customer: Reference | None = None
    occurred_at: datetime

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError(
                "occurred_at must carry a time zone (ISO 8601, e.g. 2026-11-05T10:00:00Z)"
            )
        return value

    @field_validator("amount")
    @classmethod
    def _amount_fits(cls, amount: str, info: ValidationInfo) -> str:
        currency = info.data.get("currency")
        if currency is None:
            return amount  # the currency's own error is reported
        try:
            money = Money.parse(amount, currency)
        except ArledgerError as exc:
            raise ValueError(exc.message) from None
        if not money.is_positive:
            raise ValueError(f"amount must be greater than zero, got {amount}")
        return amount

    @property
    def money(self) -> Money:
        return Money.parse(self.amount, self.currency)

    @property
    def key(self) -> str:
        return f"{self.gateway}:{self.event_id}"

    @property
    def intake_key(self) -> str:
        """The key the event is persisted under, in either inbox: a payment's receipt or the
        event inbox. One form for both, so an event id is never reused across them."""
        return f"gateway:{self.key}"

    @property
    def reference(self) -> str:
        return f"{self.gateway}:{self.payment_id}"

    def payload_hash(self) -> str:
        canonical = self.model_dump(mode="json")
        canonical["occurred_at"] = self.occurred_at.astimezone(UTC).isoformat()
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


class EventInvalid(InvalidInput):
    """A gateway event that failed validation, with every field error (HTTP 400 lists them)."""

    def __init__(self, message: str, errors: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.errors = errors


def parse_event(raw: bytes | str) -> GatewayEvent:
    """Validate an event body exactly: JSON numbers are refused for amounts, floats never made."""
    data = parse_json(raw, what="event")
    if not isinstance(data, dict):
        raise EventInvalid(
            "event must be a JSON object", [{"field": "", "message": "must be a JSON object"}]
        )
    try:
        return GatewayEvent.model_validate(data)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(part) for part in error.get("loc", ())),
                "message": str(error.get("msg", "invalid")).removeprefix("Value error, "),
            }
            for error in exc.errors(include_url=False)
        ]
        raise EventInvalid(f"event: {format_validation_error(exc)}", errors) from None


# --- signatures --------------------------------------------------------------------------------


class SignatureRefused(ArledgerError):
    """A missing, malformed, wrong or stale signature (HTTP 401). Never names the secret."""

    exit_code = 2


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value a gateway sends with ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, now: float | None = None) -> None:
    """Raise SignatureRefused unless ``header`` signs ``body`` with ``secret`` within the window."""
    if not header:
        raise SignatureRefused(f"missing {SIGNATURE_HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    timestamps = parts.get("t", [])
    if len(timestamps) != 1 or not timestamps[0].isdigit() or len(timestamps[0]) > 12:
        raise SignatureRefused("malformed signature: t=<unix seconds> expected")
    t = int(timestamps[0])
    current = time.time() if now is None else now
    if abs(current - t) > REPLAY_WINDOW_SECONDS:
        raise SignatureRefused("signature timestamp is more than 5 minutes from now")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    # Any of several v1 values may match (a gateway rotating its secret sends two).
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureRefused("signature does not match")


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


def submit_event(settings: Settings, event: GatewayEvent) -> EventIntake:
    """Persist a gateway event (the inbox) or recognise a repeat; raises IdempotencyConflict for
    an event id reused with a different payload."""
    if event.type == "payment.succeeded":
        intake = submit_automated(settings, receipt_request(event))
        return EventIntake(intake.receipt_id, intake.status, intake.created)
    with unit_of_work(settings.database_url) as session:
        if session.execute(
            select(RECEIPTS.c.id).where(RECEIPTS.c.external_key == event.intake_key)
        ).first():
            raise IdempotencyConflict(
                f"event id {event.event_id}", ["it was a payment"], field="event_id"
            )
        existing = _event_row(session, event.intake_key)
        if existing is None:
            receipt_id = current_receipt_id(session, event.reference)
            values: dict[str, Any] = {
                "source": "gateway",
                "external_key": event.intake_key,
                "kind": event.type,
                "payload": event.model_dump_json(),
                "payload_hash": event.payload_hash(),
                "reference": event.reference,
                "status": "queued",
                "receipt_id": receipt_id,
            }
            insert = postgresql.insert if is_postgres(session) else sqlite.insert
            row_id = session.execute(
                insert(INTAKE_EVENTS)
                .values(**values)
                .on_conflict_do_nothing()
                .returning(INTAKE_EVENTS.c.id)
            ).scalar()
            if row_id is not None:
                session.commit()
                return EventIntake(receipt_id, "queued", True, row_id)
            existing = _event_row(session, event.intake_key)
            assert existing is not None
        if existing.payload_hash != event.payload_hash():
            raise IdempotencyConflict(
                f"event id {event.event_id}", ["different payload"], field="event_id"
            )
        return EventIntake(existing.receipt_id, existing.status, False, existing.id)


def receipt_request(event: GatewayEvent) -> ReceiptRequest:
    money = event.money
    return ReceiptRequest(
        source="gateway",
        external_id=event.key,
        amount=money,
        received_date=event.occurred_at.astimezone(UTC).date(),
        customer=event.customer,
        allocations=((event.order, money),) if event.order else (),
        automated=True,
        reference=event.reference,
    )


def _event_row(session: Session, key: str) -> Any:
    return session.execute(select(INTAKE_EVENTS).where(INTAKE_EVENTS.c.external_key == key)).first()


def current_receipt_id(session: Session, reference: str) -> int | None:
    """The receipt that now holds a gateway payment's money: the payment's own receipt, or the
    newest receipt of the rest after partial refunds."""
    receipt_id = session.execute(
        select(RECEIPTS.c.id).where(RECEIPTS.c.reference == reference)
    ).scalar()
    while receipt_id is not None:
        successor = session.execute(
            select(RECEIPTS.c.id).where(RECEIPTS.c.replaces_id == receipt_id)
        ).scalar()
        if successor is None:
            return int(receipt_id)
        receipt_id = successor
    return None


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
    with unit_of_work(settings.database_url) as session:
        row = session.execute(
            select(INTAKE_EVENTS).where(INTAKE_EVENTS.c.id == event_row).with_for_update()
        ).first()
        if row is None:
            raise InputRefused(f"unknown event {event_row}", field="event")
        if row.status in ("done", "failed"):
            return EventOutcome(row.status, row.status_reason, None)
        event = GatewayEvent.model_validate_json(row.payload)
        receipt_id = current_receipt_id(session, event.reference)
        receipt = (
            session.execute(
                select(schema.Receipt).where(schema.Receipt.id == receipt_id).with_for_update()
            ).scalar_one_or_none()
            if receipt_id is not None
            else None
        )
        outcome = _settle(session, settings, event, receipt)
        session.execute(
            update(INTAKE_EVENTS)
            .where(INTAKE_EVENTS.c.id == event_row)
            .values(
                status=outcome.status,
                status_reason=outcome.reason,
                receipt_id=receipt.id if receipt is not None else None,
                processed_at=datetime.now(UTC) if outcome.status != "waiting" else None,
            )
        )
        session.commit()
        return outcome


def _settle(
    session: Session, settings: Settings, event: GatewayEvent, receipt: schema.Receipt | None
) -> EventOutcome:
    what = "refund" if event.type == "payment.refunded" else "dispute"
    if receipt is None or receipt.status == "queued":
        return EventOutcome("waiting", f"payment {event.reference} has not been received yet", None)
    if receipt.status == "failed":
        return EventOutcome(
            "waiting",
            f"payment {event.reference} failed to distribute: {receipt.status_reason}",
            None,
        )
    if receipt.status == "reversed":
        return EventOutcome("done", f"payment {event.reference} was already reversed", None)
    held = Money.from_minor(receipt.amount_minor, receipt.currency)
    asked = event.money
    if asked.currency != held.currency:
        return EventOutcome(
            "failed", f"{what} is in {asked.currency}, the payment in {held.currency}", None
        )
    if asked > held:
        return EventOutcome(
            "failed", f"{what} of {asked} exceeds the {held} the payment still holds", None
        )
    calendar = load_calendar(session)
    day = calendar.automated_date(event.occurred_at.astimezone(UTC).date())
    reverse_locked_receipt(session, receipt, f"{what} {event.event_id}", day)
    if asked == held:
        return EventOutcome("done", None, None)
    original = json.loads(receipt.request)
    rest = held - asked
    request = ReceiptRequest(
        source="gateway",
        external_id=f"{event.key}:rest",
        amount=rest,
        received_date=day,
        customer=original.get("customer"),
        allocations=tuple((o["order"], rest) for o in original["orders"][:1]),
        automated=True,
        replaces=receipt.id,
    )
    intake = intake_receipt(session, settings, request)
    return EventOutcome(
        "done",
        f"partial {what}: {rest} received again as receipt {intake.receipt_id}",
        intake.receipt_id,
    )
