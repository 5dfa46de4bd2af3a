"""Stripe events and Adyen items translated into the native intake (docs/rules.md section 12):
pure translation and signature checks with the gateways' own libraries, no database."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC

import pytest
from Adyen.util import is_valid_hmac_notification

from ledger.intake import adyen_webhook, stripe_webhook
from ledger.intake.gateway import EventInvalid
from ledger.intake.inputs import parse_json
from tests.support.gateway_payloads import (
    ADYEN_HMAC_KEY,
    STRIPE_SECRET,
    adyen_body,
    adyen_item,
    charge,
    dispute,
    payment_intent,
    stripe_body,
    stripe_event,
    stripe_signature,
)

pytestmark = pytest.mark.unit


def translated(kind, obj, event_id="evt_1"):
    body = stripe_body(stripe_event(kind, obj, event_id))
    return stripe_webhook.translate(parse_json(body), body)


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (12000, "usd", ("120.00", "USD")),
        (5000, "jpy", ("5000", "JPY")),
        (1234, "kwd", ("1.234", "KWD")),
    ],
)
def test_stripe_minor_units_follow_the_currency(amount, currency, expected):
    notice = translated(
        "payment_intent.succeeded", payment_intent(amount=amount, currency=currency)
    )
    assert notice.event is not None
    assert (notice.event.amount, notice.event.currency) == expected


def test_a_payment_intent_maps_order_customer_and_description():
    notice = translated(
        "payment_intent.succeeded", payment_intent(description="Invoice O-101 and O-100")
    )
    event = notice.event
    assert event is not None
    assert (event.event_id, event.payment_id, event.order, event.customer, event.remittance) == (
        "pi_1",
        "pi_1",
        "O-101",
        "C-2",
        "Invoice O-101 and O-100",
    )
    assert notice.key == "stripe:evt_1" and notice.reference == "stripe:pi_1"


def test_a_refund_is_keyed_by_the_payment_intent_and_the_cumulative_amount():
    event = translated("charge.refunded", charge(refunded=5000)).event
    assert event is not None and event.cumulative
    assert (event.event_id, event.type, event.amount) == (
        "pi_1:refunded:5000",
        "payment.refunded",
        "50.00",
    )


def test_dispute_events_move_money_only_when_funds_move():
    withdrawn = translated("charge.dispute.funds_withdrawn", dispute()).event
    reinstated = translated("charge.dispute.funds_reinstated", dispute(status="won")).event
    assert withdrawn is not None and withdrawn.type == "payment.disputed"
    assert withdrawn.event_id == "dp_1:funds_withdrawn"
    assert reinstated is not None and reinstated.type == "payment.reinstated"
    # Money given back names the withdrawal it gives back, and waits for it.
    assert (withdrawn.withdrawal, reinstated.withdrawal) == (None, "dp_1:funds_withdrawn")
    for kind in ("charge.dispute.created", "charge.dispute.closed"):
        assert translated(kind, dispute()).event is None
    inquiry = dispute(status="warning_needs_response")
    assert translated("charge.dispute.funds_withdrawn", inquiry).event is None


def test_stripe_verification_uses_every_secret_and_names_a_stale_timestamp():
    body = stripe_body(stripe_event("customer.created", {"id": "cus_1"}))
    assert stripe_webhook.verify(["whsec_other", STRIPE_SECRET], stripe_signature(body), body)
    stale = stripe_signature(body, timestamp=int(time.time()) - 301 - 60)
    with pytest.raises(stripe_webhook.StripeRefused, match="(?i)tolerance"):
        stripe_webhook.verify(["whsec_other", STRIPE_SECRET], stale, body)
    with pytest.raises(stripe_webhook.StripeRefused):
        stripe_webhook.verify([STRIPE_SECRET], None, body)


def test_the_adyen_library_given_the_whole_body_checks_only_the_first_item():
    good, forged = adyen_item(psp="P1"), adyen_item(psp="P2", key="11" * 32)
    body = parse_json(adyen_body(good, forged))
    assert is_valid_hmac_notification(body, ADYEN_HMAC_KEY)  # why every item is checked alone
    with pytest.raises(adyen_webhook.AdyenRefused, match="item 1"):
        adyen_webhook.verify(ADYEN_HMAC_KEY, adyen_webhook.items(adyen_body(good, forged)))


@pytest.mark.parametrize(
    ("code", "capture", "kind"),
    [
        ("AUTHORISATION", "auto", "payment.succeeded"),
        ("AUTHORISATION", "manual", None),
        ("CAPTURE", "manual", "payment.succeeded"),
        ("CAPTURE", "auto", None),
        ("REFUND", "auto", "payment.refunded"),
        ("CHARGEBACK", "auto", "payment.disputed"),
        ("CHARGEBACK_REVERSED", "auto", "payment.reinstated"),
        ("REPORT_AVAILABLE", "auto", None),
    ],
)
def test_adyen_event_codes(code, capture, kind):
    original = None if code == "AUTHORISATION" else "PAY1"
    notice = adyen_webhook.translate(adyen_item(code, psp="X1", original=original), capture)
    assert (notice.event.type if notice.event else None) == kind
    assert notice.key == f"adyen:X1:{code}"
    if notice.event is not None:
        assert notice.event.payment_id == ("X1" if code == "AUTHORISATION" else "PAY1")
        # Every event of one dispute has the dispute's pspReference: a reversal waits for the
        # CHARGEBACK of the same pspReference.
        reversal = code == "CHARGEBACK_REVERSED"
        assert notice.event.withdrawal == ("X1:CHARGEBACK" if reversal else None)


def test_an_event_recorded_before_reinstatements_named_their_withdrawal_hashes_as_it_did():
    event = adyen_webhook.translate(adyen_item("REFUND", psp="R1", original="P1"), "auto").event
    assert event is not None and event.withdrawal is None
    # The hash as it was computed before the field existed (an old inbox row's payload_hash).
    before = hashlib.sha256(
        json.dumps(
            {
                **event.model_dump(mode="json", exclude={"withdrawal"}),
                "occurred_at": event.occurred_at.astimezone(UTC).isoformat(),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    assert event.payload_hash() == before


def test_adyen_failed_items_and_bad_amounts():
    assert adyen_webhook.translate(adyen_item(success="false"), "auto").event is None
    item = adyen_item()
    with pytest.raises(EventInvalid):
        adyen_webhook.translate({**item, "amount": {"value": "120", "currency": "USD"}}, "auto")
    with pytest.raises(EventInvalid):
        adyen_webhook.translate({**item, "amount": {"value": 100, "currency": "XYZ"}}, "auto")
    jpy = adyen_webhook.translate(adyen_item(value=3000, currency="JPY"), "auto").event
    assert jpy is not None and jpy.amount == "3000"
