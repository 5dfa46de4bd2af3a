"""Adyen's standard notifications (docs/rules.md section 12): every item's HMAC, checked by the
Adyen library, and the items translated into the native intake.

:func:`verify` checks each ``NotificationRequestItem`` with ``Adyen.util.is_valid_hmac_notification``,
one item at a time (given the whole body the library checks only the first item), before
anything is stored; :func:`translate` turns an item into a :class:`~ledger.intake.gateway.Notice`
keyed ``adyen:<pspReference>:<eventCode>``. The payment is the ``AUTHORISATION`` (capture
``auto``) or the ``CAPTURE`` (``manual``), one receipt per payment pspReference; refunds and
chargebacks name their payment by ``originalReference``. Amounts are minor units.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from Adyen.util import is_valid_hmac_notification
from pydantic import ValidationError

from ledger.domain.errors import ArledgerError, InvalidInput
from ledger.domain.money import Money
from ledger.intake.gateway import EventInvalid, LedgerEvent, Notice, event_errors, named
from ledger.intake.inputs import parse_json

GATEWAY = "adyen"
ACCEPTED = "[accepted]"

Capture = Literal["auto", "manual"]


class AdyenRefused(ArledgerError):
    """A notification item whose HMAC signature is missing or wrong (HTTP 401)."""

    exit_code = 2


def items(raw: bytes) -> list[dict[str, Any]]:
    """The ``NotificationRequestItem`` objects of a notification body; raises EventInvalid."""
    try:
        data = parse_json(raw, what="notification")
    except InvalidInput as exc:
        raise EventInvalid(exc.message, [{"field": "", "message": exc.message}]) from None
    entries = data.get("notificationItems") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise EventInvalid(
            "not an Adyen notification",
            [{"field": "notificationItems", "message": "must be a non-empty list"}],
        )
    found = []
    for index, entry in enumerate(entries):
        item = entry.get("NotificationRequestItem") if isinstance(entry, dict) else None
        if not isinstance(item, dict):
            raise EventInvalid(
                "not an Adyen notification",
                [
                    {
                        "field": f"notificationItems.{index}.NotificationRequestItem",
                        "message": "must be an object",
                    }
                ],
            )
        found.append(item)
    return found


def verify(hmac_key: str, notification_items: list[dict[str, Any]]) -> None:
    """Raise AdyenRefused unless every item carries a valid HMAC signature."""
    for index, item in enumerate(notification_items):
        additional = item.get("additionalData")
        if not isinstance(additional, dict) or not additional.get("hmacSignature"):
            raise AdyenRefused(f"item {index}: no additionalData.hmacSignature")
        try:
            # One item at a time: given the whole body, the library checks the first item only.
            valid = is_valid_hmac_notification(item, hmac_key) is True
        except (KeyError, TypeError, ValueError, AttributeError):
            valid = False  # an item shaped so that it cannot even be signed
        if not valid:
            raise AdyenRefused(f"item {index}: HMAC signature does not match")


def translate(item: dict[str, Any], capture: Capture) -> Notice:
    """What a verified item does to the ledger; raises EventInvalid for values arledger refuses."""
    try:
        return _translate(item, capture)
    except EventInvalid:
        raise
    except ValidationError as exc:
        errors = event_errors(exc)
        raise EventInvalid(f"Adyen item: {errors[0]['message']}", errors) from None
    except ArledgerError as exc:
        raise EventInvalid(exc.message, [{"field": "", "message": exc.message}]) from None


def _translate(item: dict[str, Any], capture: Capture) -> Notice:
    psp = _text(item, "pspReference")
    code = _text(item, "eventCode")
    key, kind = f"{GATEWAY}:{psp}:{code}", code
    # The item as received, for audit; a number with a fraction was parsed as Decimal (never a
    # float) and is kept as its text.
    raw = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    original = item.get("originalReference") or None
    payment = original if code != "AUTHORISATION" and isinstance(original, str) else psp
    reference = f"{GATEWAY}:{payment}"
    if item.get("success") != "true":
        return Notice(key, kind, raw, reference, note="success false: no money")
    if code == "AUTHORISATION" and capture == "manual":
        return Notice(key, kind, raw, reference, note="authorised; the CAPTURE is the money")
    if code == "CAPTURE" and capture == "auto":
        return Notice(key, kind, raw, reference, note="captured; the AUTHORISATION was the money")
    kinds = {
        "AUTHORISATION": "payment.succeeded",
        "CAPTURE": "payment.succeeded",
        "REFUND": "payment.refunded",
        "CHARGEBACK": "payment.disputed",
        "CHARGEBACK_REVERSED": "payment.reinstated",
    }
    if code not in kinds:
        return Notice(key, kind, raw, reference, note="ignored")
    paying = kinds[code] == "payment.succeeded"
    additional = item.get("additionalData") or {}
    statement = additional.get("shopperStatement") if isinstance(additional, dict) else None
    amount = item.get("amount")
    if not isinstance(amount, dict):
        raise EventInvalid("Adyen item: no amount", [{"field": "amount", "message": "required"}])
    currency = amount.get("currency")
    value = amount.get("value")
    if not isinstance(currency, str) or not isinstance(value, int) or isinstance(value, bool):
        raise EventInvalid(
            "Adyen item: amount must be {value: integer minor units, currency}",
            [{"field": "amount", "message": "value must be an integer, currency a string"}],
        )
    if value == 0:
        return Notice(key, kind, raw, reference, note="nothing received")
    order, _, remittance = named(
        item.get("merchantReference") if paying else None,
        None,
        statement if paying else None,
    )
    event = LedgerEvent.model_validate(
        {
            "event_id": f"{psp}:{code}",
            "type": kinds[code],
            "gateway": GATEWAY,
            "payment_id": payment,
            "currency": currency.upper(),
            "amount": str(Money.from_minor(value, currency.upper())),
            "order": order,
            "remittance": remittance,
            "occurred_at": _time(item.get("eventDate")),
            # Every event of one dispute carries the dispute's pspReference: a reversal gives
            # back that dispute's CHARGEBACK and waits for it (docs/rules.md section 12).
            "withdrawal": f"{psp}:CHARGEBACK" if code == "CHARGEBACK_REVERSED" else None,
        }
    )
    return Notice(key, kind, raw, reference, event)


def _text(item: dict[str, Any], field: str) -> str:
    value = item.get(field)
    if not isinstance(value, str) or not value:
        raise EventInvalid(
            f"Adyen item: {field} required", [{"field": field, "message": "required"}]
        )
    return value


def _time(value: object) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    raise EventInvalid(
        "Adyen item: eventDate must be an ISO 8601 time",
        [{"field": "eventDate", "message": "must be an ISO 8601 time"}],
    )
