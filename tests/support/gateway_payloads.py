"""Stripe events and Adyen notifications shaped like the gateways' documented payloads, signed
with the gateways' own libraries (never a hand-written HMAC)."""

from __future__ import annotations

import json
import time
from typing import Any

import stripe
from Adyen.util import generate_notification_sig

STRIPE_SECRET = "whsec_test_0123456789abcdef"
ADYEN_HMAC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"


def stripe_event(
    kind: str, obj: dict[str, Any], event_id: str = "evt_1", created: int | None = None
) -> dict[str, Any]:
    """A Stripe event (API object ``event``) around ``obj``."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()) if created is None else created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def payment_intent(
    intent: str = "pi_1",
    amount: int = 12000,
    currency: str = "usd",
    order: str | None = "O-101",
    customer: str | None = "C-2",
    description: str | None = None,
    created: int = 1793872800,  # 2026-11-05
) -> dict[str, Any]:
    metadata = {key: value for key, value in (("order", order), ("customer", customer)) if value}
    return {
        "id": intent,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount,
        "currency": currency,
        "created": created,
        "customer": "cus_Q1",
        "description": description,
        "latest_charge": f"ch_{intent}",
        "metadata": metadata,
        "status": "succeeded",
    }


def charge(
    intent: str = "pi_1", amount: int = 12000, refunded: int = 0, currency: str = "usd"
) -> dict[str, Any]:
    return {
        "id": f"ch_{intent}",
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "currency": currency,
        "payment_intent": intent,
        "refunded": refunded == amount,
        "status": "succeeded",
    }


def dispute(
    dispute_id: str = "dp_1",
    intent: str = "pi_1",
    amount: int = 12000,
    status: str = "needs_response",
    currency: str = "usd",
) -> dict[str, Any]:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "charge": f"ch_{intent}",
        "currency": currency,
        "is_charge_refundable": status.startswith("warning_"),
        "payment_intent": intent,
        "reason": "fraudulent",
        "status": status,
    }


def stripe_body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, indent=2).encode()  # Stripe sends pretty-printed JSON


def stripe_signature(body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header, as stripe-python computes it."""
    return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)


def adyen_item(
    code: str = "AUTHORISATION",
    psp: str = "8535296650153317",
    value: int = 12000,
    currency: str = "USD",
    merchant_reference: str = "O-101",
    original: str | None = None,
    success: str = "true",
    shopper_statement: str | None = None,
    key: str = ADYEN_HMAC_KEY,
    event_date: str = "2026-11-05T10:00:00+01:00",
) -> dict[str, Any]:
    """One ``NotificationRequestItem`` signed with ``key`` by the Adyen library."""
    item: dict[str, Any] = {
        "amount": {"currency": currency, "value": value},
        "eventCode": code,
        "eventDate": event_date,
        "merchantAccountCode": "ArledgerECOM",
        "merchantReference": merchant_reference,
        "paymentMethod": "visa",
        "pspReference": psp,
        "reason": "",
        "success": success,
    }
    if original is not None:
        item["originalReference"] = original
    signature = generate_notification_sig(item, key).decode()
    item["additionalData"] = {"hmacSignature": signature}
    if shopper_statement is not None:
        item["additionalData"]["shopperStatement"] = shopper_statement
    return item


def adyen_body(*items: dict[str, Any]) -> bytes:
    return json.dumps(
        {"live": "false", "notificationItems": [{"NotificationRequestItem": i} for i in items]}
    ).encode()
