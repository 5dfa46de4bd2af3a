"""Stripe's webhook (docs/rules.md section 12): its signature, checked by stripe-python, and its
events translated into the native intake.

:func:`verify` runs ``stripe.Webhook.construct_event`` with every configured secret (rotation:
any one may sign) and Stripe's own 300-second tolerance; :func:`translate` turns the verified
event into a :class:`~ledger.intake.gateway.Notice`. A PaymentIntent's payment is keyed by the
PaymentIntent (one receipt whatever event ids announce it); a refund by the PaymentIntent and the
cumulative ``amount_refunded`` (the refund is its growth, counted when processed); a dispute's
money by the dispute id and the event type. Amounts are integer minor units of the currency.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import stripe
from pydantic import ValidationError

from ledger.domain.errors import ArledgerError, InvalidInput
from ledger.domain.money import Money
from ledger.intake.gateway import EventInvalid, LedgerEvent, Notice, event_errors, named
from ledger.intake.inputs import parse_json

SIGNATURE_HEADER = "Stripe-Signature"
TOLERANCE_SECONDS = 300
GATEWAY = "stripe"


class StripeRefused(ArledgerError):
    """A missing, wrong or stale Stripe signature (HTTP 400, Stripe's convention)."""

    exit_code = 2


def verify(secrets: Sequence[str], header: str | None, raw: bytes) -> dict[str, Any]:
    """The event ``raw`` carries, once one of ``secrets`` signs it; raises StripeRefused."""
    if not header:
        raise StripeRefused(f"missing {SIGNATURE_HEADER} header")
    try:
        payload = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EventInvalid("body is not UTF-8", [{"field": "", "message": "not UTF-8"}]) from None
    # Parsed exactly first (a number with a fraction is never a float): stripe-python itself
    # assumes an object, and an amount must be an integer of minor units.
    try:
        data = parse_json(payload, what="body")
    except InvalidInput as exc:
        raise EventInvalid(exc.message, [{"field": "", "message": exc.message}]) from None
    if not isinstance(data, dict):
        raise EventInvalid("not a Stripe event", [{"field": "", "message": "not an object"}])
    reasons = []
    for secret in secrets:
        try:
            stripe.Webhook.construct_event(payload, header, secret, tolerance=TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError as exc:
            # The library's message names the reason (no match, stale timestamp), never a secret.
            reasons.append(str(exc.user_message or exc))
            continue
        except ValueError:
            raise EventInvalid(
                "body is not JSON", [{"field": "", "message": "not a JSON document"}]
            ) from None
        return data
    # A stale timestamp is named as such: it is the one reason a sender can act upon.
    stale = [reason for reason in reasons if "tolerance" in reason.lower()]
    last = (stale or reasons or ["signature does not match"])[0]
    raise StripeRefused(last)


def translate(data: dict[str, Any], raw: bytes) -> Notice:
    """What a verified Stripe event does to the ledger; raises EventInvalid for a body that is
    not a Stripe event, or whose values the native intake refuses."""
    event_id, kind, obj, created = _envelope(data)
    key = f"{GATEWAY}:{event_id}"
    text = raw.decode("utf-8")
    try:
        return _translate(key, kind, obj, created, text)
    except ValidationError as exc:
        raise EventInvalid(
            f"Stripe {kind} event cannot be taken: {event_errors(exc)[0]['message']}",
            event_errors(exc, "data.object."),
        ) from None
    except EventInvalid:
        raise
    except ArledgerError as exc:
        raise EventInvalid(
            exc.message, [{"field": "data.object", "message": exc.message}]
        ) from None


def _translate(key: str, kind: str, obj: dict[str, Any], created: datetime, raw: str) -> Notice:
    recorded = kind
    if kind == "payment_intent.succeeded":
        intent_id = _text(obj, "id")
        metadata = obj.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise InvalidInput("metadata must be an object")
        if _minor(obj, "amount_received") == 0:
            return Notice(key, recorded, raw, f"{GATEWAY}:{intent_id}", note="nothing received")
        order, customer, remittance = named(
            metadata.get("order"), metadata.get("customer"), obj.get("description")
        )
        event = LedgerEvent.model_validate(
            {
                # The PaymentIntent is the key: one receipt per PaymentIntent, whatever event ids
                # announce it, dated when it was created so that every announcement agrees.
                "event_id": intent_id,
                "type": "payment.succeeded",
                "gateway": GATEWAY,
                "payment_id": intent_id,
                "currency": _currency(obj),
                "amount": _amount(obj, "amount_received"),
                "order": order,
                "customer": customer,
                "remittance": remittance,
                "occurred_at": _time(obj.get("created"), created),
            }
        )
        return Notice(key, recorded, raw, event.reference, event)
    if kind == "charge.refunded":
        intent = obj.get("payment_intent")
        if not intent:
            return Notice(key, recorded, raw, note="a charge without a PaymentIntent")
        event = LedgerEvent(
            event_id=f"{_id(intent)}:refunded:{_minor(obj, 'amount_refunded')}",
            type="payment.refunded",
            gateway=GATEWAY,
            payment_id=_id(intent),
            currency=_currency(obj),
            amount=_amount(obj, "amount_refunded"),
            occurred_at=created,
            cumulative=True,
        )
        return Notice(key, recorded, raw, event.reference, event)
    if kind in ("charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"):
        dispute = _text(obj, "id")
        disputed = obj.get("payment_intent")
        status = str(obj.get("status") or "")
        if not disputed:
            return Notice(key, recorded, raw, note="a dispute without a PaymentIntent")
        if status.startswith("warning_"):
            # An inquiry never takes funds: whatever arrives for it is only recorded.
            return Notice(key, recorded, raw, f"{GATEWAY}:{_id(disputed)}", note="an inquiry")
        withdrawn = kind.endswith("funds_withdrawn")
        event = LedgerEvent(
            event_id=f"{dispute}:{'funds_withdrawn' if withdrawn else 'funds_reinstated'}",
            type="payment.disputed" if withdrawn else "payment.reinstated",
            gateway=GATEWAY,
            payment_id=_id(disputed),
            currency=_currency(obj),
            amount=_amount(obj, "amount"),
            occurred_at=created,
            # Money given back waits for the withdrawal it gives back (docs/rules.md section 12).
            withdrawal=None if withdrawn else f"{dispute}:funds_withdrawn",
        )
        return Notice(key, recorded, raw, event.reference, event)
    if kind in ("charge.dispute.created", "charge.dispute.closed"):
        announced = obj.get("payment_intent")
        reference = f"{GATEWAY}:{_id(announced)}" if announced else None
        return Notice(key, recorded, raw, reference, note=f"dispute {obj.get('status')}")
    return Notice(key, recorded, raw, note="ignored")


def _envelope(data: dict[str, Any]) -> tuple[str, str, dict[str, Any], datetime]:
    errors = []
    event_id, kind = data.get("id"), data.get("type")
    inner = data.get("data")
    obj = inner.get("object") if isinstance(inner, dict) else None
    if data.get("object") != "event":
        errors.append({"field": "object", "message": 'must be "event"'})
    if not isinstance(event_id, str) or not event_id:
        errors.append({"field": "id", "message": "must be the event id"})
    if not isinstance(kind, str) or not kind:
        errors.append({"field": "type", "message": "must be the event type"})
    if not isinstance(obj, dict):
        errors.append({"field": "data.object", "message": "must be an object"})
    created = data.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        errors.append({"field": "created", "message": "must be a unix timestamp"})
    if errors:
        raise EventInvalid("not a Stripe event", errors)
    assert isinstance(event_id, str) and isinstance(kind, str) and isinstance(obj, dict)
    assert isinstance(created, int)
    return event_id, kind, obj, _time(created, None)


def _text(obj: dict[str, Any], field: str) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"data.object.{field} must be a string")
    return value


def _id(value: object) -> str:
    """An id Stripe may send expanded (an object with ``id``) or not (the id)."""
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise InvalidInput("an id must be a string")
    return value


def _currency(obj: dict[str, Any]) -> str:
    return _text(obj, "currency").upper()


def _minor(obj: dict[str, Any], field: str) -> int:
    value = obj.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"data.object.{field} must be an integer of minor units")
    return value


def _amount(obj: dict[str, Any], field: str) -> str:
    """Stripe's integer minor units as the native decimal string: 1234 USD is 12.34, JPY 1234."""
    return str(Money.from_minor(_minor(obj, field), _currency(obj)))


def _time(value: object, default: datetime | None) -> datetime:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**37:
        return datetime.fromtimestamp(value, UTC)
    if default is None:
        raise EventInvalid("not a Stripe event", [{"field": "created", "message": "not a time"}])
    return default
