"""The native gateway event (docs/rules.md section 6): its wire model, validation and intake command.

A gateway event is JSON: ``event_id``, ``type`` (``payment.succeeded``, ``payment.refunded``,
``payment.disputed``), ``gateway``, ``payment_id``, ``amount`` (a decimal string), ``currency``,
``order``, ``customer``, ``remittance`` (free text) and ``payer_account`` (optional) and
``occurred_at``. :func:`parse_event` validates a body
exactly (a JSON number is refused for an amount, a float is never made); :func:`receipt_request`
turns a payment into the intake command every channel produces.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from ledger.domain.errors import ArledgerError, InvalidInput
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.intake.inputs import CurrencyCode, DecimalString, format_validation_error, parse_json

MAX_BODY_BYTES = 64 * 1024

EventId = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:#/-]+$")]
REFERENCE_PATTERN = r"^[A-Za-z0-9_.:#/-]+$"
Reference = Annotated[str, Field(min_length=1, max_length=64, pattern=REFERENCE_PATTERN)]
Remittance = Annotated[str, Field(min_length=1, max_length=2000)]
PayerAccount = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9 ./:-]+$")]


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
    remittance: Remittance | None = None
    payer_account: PayerAccount | None = None
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
        return self.intake_key_of(self.gateway, self.event_id)

    @staticmethod
    def intake_key_of(gateway: str, event_id: str) -> str:
        """The intake key of the event ``event_id`` of ``gateway``."""
        return f"gateway:{gateway}:{event_id}"

    @property
    def reference(self) -> str:
        return f"{self.gateway}:{self.payment_id}"

    def payload_hash(self) -> str:
        return _hash(self.model_dump(mode="json"), self.occurred_at)


def _hash(canonical: dict[str, object], occurred_at: datetime) -> str:
    canonical["occurred_at"] = occurred_at.astimezone(UTC).isoformat()
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


class LedgerEvent(GatewayEvent):
    """What the event inbox keeps: a native event, or what a gateway adapter translated into one.

    Two things only an adapter produces (the native webhook still takes exactly
    :class:`GatewayEvent`): ``payment.reinstated``, disputed money received again (Stripe's
    ``charge.dispute.funds_reinstated``, Adyen's ``CHARGEBACK_REVERSED``), and a ``cumulative``
    refund, whose amount is the payment's total refunded so far (Stripe's ``amount_refunded``):
    the refund is its growth since the refunds already counted. A reinstatement names the
    ``withdrawal`` it gives back (the dispute's ``payment.disputed`` event id) and waits for it.
    """

    type: Literal[  # type: ignore[assignment]
        "payment.succeeded", "payment.refunded", "payment.disputed", "payment.reinstated"
    ]
    cumulative: bool = False
    # A reinstatement: the event id of the dispute withdrawal it gives back, which it waits for.
    withdrawal: EventId | None = None

    def payload_hash(self) -> str:
        if self.withdrawal is None:
            # Hashed as before the field existed: an event recorded then and sent again now is a
            # repeat, not a conflict.
            return _hash(self.model_dump(mode="json", exclude={"withdrawal"}), self.occurred_at)
        return super().payload_hash()


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
        remittance=event.remittance,
        payer_account=event.payer_account,
    )


@dataclass(frozen=True)
class Notice:
    """One event of a real gateway (Stripe, Adyen) as arledger records it (docs/rules.md
    section 12).

    ``key`` and ``kind`` name it in the inbox (``stripe:<event id>``, ``adyen:<pspReference>:
    <eventCode>``; ``charge.refunded``, ``REFUND``), ``raw`` is its JSON as received, kept for audit,
    and ``event`` the native event it moves money by — None when it is only recorded, ``note``
    saying why.
    """

    key: str
    kind: str
    raw: str
    reference: str | None = None
    event: LedgerEvent | None = None
    note: str | None = None


def named(order: object, customer: object, remittance: object) -> tuple[object, object, str | None]:
    """A real gateway's order, customer and remittance text as the native event takes them.

    A gateway lets its merchants put any text in its order field (Stripe's ``metadata.order``,
    Adyen's ``merchantReference``). Text that is not an order number of ours is not refused —
    refusing would have the gateway resend the money for days and the ledger never receive it —
    but read as remittance, where matching looks for order numbers (section 14). A customer id
    that cannot be one is dropped. A value that is not text at all is left for validation.
    """
    text = remittance if isinstance(remittance, str) and remittance else None
    if isinstance(order, str) and order and not _fits(order):
        text = f"{order} {text}" if text else order
        order = None
    if isinstance(customer, str) and customer and not _fits(customer):
        customer = None
    return (
        order or None,  # a value that is not text is left for validation to refuse
        customer or None,
        text[:REMITTANCE_LIMIT] if text else None,
    )


def _fits(reference: str) -> bool:
    return len(reference) <= 64 and re.fullmatch(REFERENCE_PATTERN, reference) is not None


REMITTANCE_LIMIT = 2000


def event_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """A validation error's field errors, as a 400 lists them."""
    return [
        {
            "field": prefix + ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "invalid")).removeprefix("Value error, "),
        }
        for error in exc.errors(include_url=False)
    ]
