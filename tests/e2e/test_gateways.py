"""Stripe's and Adyen's webhooks as the gateways drive them (docs/rules.md section 12), with
payloads signed by the gateways' own libraries, through the real ASGI app on SQLite and
PostgreSQL. With no broker the work runs after the response, as the embedded default does.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from Adyen.util import generate_notification_sig
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import text

from config.settings import Settings
from ledger.domain.errors import InputRefused
from ledger.intake.gateway import MAX_BODY_BYTES
from ledger.intake.inputs import validate_load_file
from ledger.intake.signature import SIGNATURE_HEADER, sign
from ledger.persistence.db import unit_of_work
from ledger.queries.check import check_invariants
from ledger.queries.views import exceptions_view, journal_ids, order_view
from ledger.services.operations import retry_event
from ledger.services.receipts import load_file
from tasks import dispatch
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
from tests.support.paths import SAMPLE
from workers.ingress import create_app

OLD_SECRET = "whsec_old_secret_being_rolled"


class Gateways:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = TestClient(create_app(settings))

    def stripe(self, event, *, secret=STRIPE_SECRET, timestamp=None, raw=None, signature=None):
        body = raw if raw is not None else stripe_body(event)
        header = signature if signature is not None else stripe_signature(body, secret, timestamp)
        response = self.client.post(
            "/v1/gateway/stripe",
            content=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
        return response.status_code, response.json()

    def adyen(self, *items, raw=None, auth=("adyen", "s3cret")):
        body = raw if raw is not None else adyen_body(*items)
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        response = self.client.post("/v1/gateway/adyen", content=body, headers=headers)
        return response.status_code, response.text

    def balances(self, number):
        with unit_of_work(self.settings.database_url) as session:
            return [line["balance"] for line in order_view(session, number)["lines"]]

    def sound(self):
        with unit_of_work(self.settings.database_url) as session:
            return [str(v) for v in check_invariants(session)]

    def count(self, sql):
        with unit_of_work(self.settings.database_url) as session:
            return session.execute(text(sql)).scalar()

    def stored(self):
        return (
            self.count("SELECT count(*) FROM receipts"),
            self.count("SELECT count(*) FROM intake_events"),
        )


def configured(settings: Settings, **changes) -> Settings:
    return settings.model_copy(
        update={
            "webhook_secret": SecretStr("whsec-native"),
            "stripe_webhook_secret": SecretStr(f"{STRIPE_SECRET}, {OLD_SECRET}"),
            "adyen_hmac_key": SecretStr(ADYEN_HMAC_KEY),
            "adyen_username": "adyen",
            "adyen_password": SecretStr("s3cret"),
            **changes,
        }
    )


@pytest.fixture
def gw(loaded: Settings) -> Gateways:
    return Gateways(configured(loaded))


# --- Stripe ------------------------------------------------------------------------------------


def succeeded(event_id="evt_1", **changes):
    return stripe_event("payment_intent.succeeded", payment_intent(**changes), event_id)


def refunded(event_id, refunded_total, intent="pi_1"):
    return stripe_event("charge.refunded", charge(intent, refunded=refunded_total), event_id)


def test_a_stripe_payment_is_received_on_its_order(gw):
    status, body = gw.stripe(succeeded())
    assert status == 200 and body == {"receipt_id": 1, "status": "queued"}
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]
    assert gw.sound() == []
    # The raw event is kept, under its event id, for audit.
    assert gw.count("SELECT count(*) FROM intake_events WHERE external_key = 'stripe:evt_1'") == 1


def test_one_receipt_per_payment_intent_whatever_events_announce_it(gw):
    gw.stripe(succeeded())
    status, body = gw.stripe(succeeded("evt_again"))
    assert status == 200 and body["receipt_id"] == 1
    status, body = gw.stripe(succeeded())  # Stripe's own retry of the same event
    assert status == 200 and body["receipt_id"] == 1
    assert gw.count("SELECT count(*) FROM receipts") == 1
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]


def test_a_payment_intent_announced_again_with_other_values_is_kept_for_a_clerk_and_moves_nothing(
    gw,
):
    gw.stripe(succeeded())
    # amount_received changed, under a new event id: answered 200 (a 409 would have Stripe send
    # it again for days), the receipt as received, the event in the exception queue.
    changed = succeeded("evt_changed", amount=15000)
    assert gw.stripe(changed) == (200, {"receipt_id": 1, "status": "conflict"})
    assert gw.stripe(changed) == (200, {"receipt_id": 1, "status": "conflict"})  # Stripe's retry
    # The same event id sent again with another body is kept too, once.
    moved = succeeded(order="O-102")
    assert gw.stripe(moved) == (200, {"receipt_id": 1, "status": "conflict"})
    assert gw.stripe(moved)[0] == 200
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]
    assert gw.count("SELECT count(*) FROM receipts") == 1
    assert gw.count("SELECT amount_minor FROM receipts") == 12000
    with unit_of_work(gw.settings.database_url) as session:
        kept = [item for item in exceptions_view(session) if item["kind"] == "event"]
    assert [(k["event"], k["status"], k["receipt"]) for k in kept] == [
        ("stripe:evt_changed", "failed", 1),
        (kept[1]["event"], "failed", 1),
    ]
    assert kept[1]["event"].startswith("stripe:evt_1#")
    assert "amount 120.00 USD then, 150.00 USD now" in kept[0]["reason"]
    assert "order O-101 (120.00) then, O-102 (120.00) now" in kept[1]["reason"]
    # Nothing to retry: the row moves no money; a clerk corrects the receipt by hand.
    with pytest.raises(InputRefused, match="moves no money"):
        retry_event(gw.settings, kept[0]["id"])
    assert gw.sound() == []


def test_the_native_webhook_still_answers_409_to_an_event_id_reused_with_another_payload(gw):
    body = json.dumps(
        {
            "event_id": "evt_n1",
            "type": "payment.succeeded",
            "gateway": "shop",
            "payment_id": "pay_1",
            "amount": "120.00",
            "currency": "USD",
            "order": "O-101",
            "occurred_at": "2026-11-05T10:00:00Z",
        }
    ).encode()
    other = body.replace(b"120.00", b"150.00")
    sent = [
        gw.client.post(
            "/v1/gateway/events",
            content=raw,
            headers={SIGNATURE_HEADER: sign("whsec-native", raw)},
        ).status_code
        for raw in (body, other)
    ]
    assert sent == [202, 409]


def test_the_description_is_remittance_text_for_matching(gw):
    gw.stripe(succeeded(order=None, customer=None, description="Payment for O-101"))
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]


def test_every_configured_secret_is_accepted_during_rotation(gw):
    assert gw.stripe(succeeded(), secret=OLD_SECRET)[0] == 200
    status, body = gw.stripe(succeeded("evt_2", intent="pi_2"), secret="whsec_someone_else")
    assert status == 400 and "signature" in body["error"].lower()


def test_cumulative_refunds_count_their_growth_once_in_any_order_and_however_often(gw):
    gw.stripe(succeeded())
    # 20.00 refunded, then 50.00 in all; Stripe delivers the second before the first, twice.
    assert gw.stripe(refunded("evt_r2", 5000))[0] == 200
    assert gw.stripe(refunded("evt_r2", 5000))[0] == 200
    assert gw.stripe(refunded("evt_r1", 2000))[0] == 200
    assert gw.balances("O-101") == ["75.00", "40.00", "50.00"]
    assert gw.stripe(refunded("evt_r3", 12000))[0] == 200  # the rest
    assert gw.balances("O-101") == ["75.00", "40.00", "120.00"]
    assert gw.sound() == []


def test_a_refund_before_its_payment_waits_and_applies_when_the_payment_arrives(gw):
    status, body = gw.stripe(refunded("evt_r1", 3000))
    assert status == 200 and body == {"receipt_id": None, "status": "queued"}
    with unit_of_work(gw.settings.database_url) as session:
        waiting = [item for item in exceptions_view(session) if item["kind"] == "event"]
    assert [w["status"] for w in waiting] == ["waiting"]
    gw.stripe(succeeded())
    dispatch.sweep(gw.settings)
    assert gw.balances("O-101") == ["75.00", "40.00", "30.00"]
    assert gw.sound() == []


def test_a_dispute_withdraws_only_when_funds_are_withdrawn_and_reinstatement_receives_again(gw):
    gw.stripe(succeeded())
    created = stripe_event("charge.dispute.created", dispute(), "evt_d1")
    assert gw.stripe(created) == (200, {"receipt_id": None, "status": "recorded"})
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]  # nothing moves yet
    gw.stripe(stripe_event("charge.dispute.funds_withdrawn", dispute(), "evt_d2"))
    assert gw.balances("O-101") == ["75.00", "40.00", "120.00"]
    gw.stripe(stripe_event("charge.dispute.funds_reinstated", dispute(status="won"), "evt_d3"))
    gw.stripe(stripe_event("charge.dispute.closed", dispute(status="won"), "evt_d4"))
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]
    assert gw.count("SELECT count(*) FROM receipts") == 2
    assert gw.sound() == []


def test_a_reinstatement_before_its_withdrawal_waits_and_never_counts_the_money_twice(gw):
    gw.stripe(succeeded())
    won = stripe_event("charge.dispute.funds_reinstated", dispute(status="won"), "evt_d3")
    assert gw.stripe(won) == (200, {"receipt_id": 1, "status": "queued"})
    assert gw.stripe(won)[0] == 200  # Stripe's retry
    # The payment's money is on the order once, not twice: the reinstatement waits.
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]
    assert gw.count("SELECT count(*) FROM receipts") == 1
    with unit_of_work(gw.settings.database_url) as session:
        waiting = [item for item in exceptions_view(session) if item["kind"] == "event"]
    assert [w["reason"] for w in waiting] == [
        "the withdrawal dp_1:funds_withdrawn it gives back has not arrived yet"
    ]
    # The withdrawal takes the money and releases the reinstatement, which gives it back.
    gw.stripe(stripe_event("charge.dispute.funds_withdrawn", dispute(), "evt_d2"))
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]
    assert gw.count("SELECT count(*) FROM intake_events WHERE status <> 'done'") == 0
    assert gw.count("SELECT count(*) FROM receipts") == 2
    assert gw.sound() == []


def test_an_inquiry_never_withdraws(gw):
    gw.stripe(succeeded())
    inquiry = dispute("dp_2", status="warning_needs_response")
    assert gw.stripe(stripe_event("charge.dispute.funds_withdrawn", inquiry, "evt_i"))[0] == 200
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]


def test_other_event_types_are_answered_200_ignored_and_recorded(gw):
    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer"}, "evt_c")
    assert gw.stripe(event) == (200, {"receipt_id": None, "status": "ignored"})
    assert gw.stored() == (0, 1)


def test_jpy_amounts_are_whole_yen(settings):
    data = json.loads(SAMPLE.read_text())
    data["orders"].append(
        {
            "number": "O-900",
            "customer": "C-1",
            "org_unit": "ASSN",
            "currency": "JPY",
            "date": "2026-11-02",
            "lines": [{"line": 1, "product": "DONATION", "amount": "5000"}],
        }
    )
    load_file(settings, validate_load_file(json.dumps(data).encode()))
    gw = Gateways(configured(settings))
    status, _ = gw.stripe(
        succeeded(intent="pi_y", amount=5000, currency="jpy", order="O-900", customer="C-1")
    )
    assert status == 200 and gw.balances("O-900") == ["0"]
    status, _ = gw.adyen(adyen_item(value=3000, currency="JPY", merchant_reference="O-900"))
    assert status == 200
    with unit_of_work(gw.settings.database_url) as session:
        amounts = session.execute(text("SELECT amount_minor FROM receipts ORDER BY id")).all()
    assert [a for (a,) in amounts] == [5000, 3000]


@pytest.mark.parametrize("skew", [-400, -100_000])
def test_a_stale_stripe_signature_is_400_and_stores_nothing(gw, skew):
    status, body = gw.stripe(succeeded(), timestamp=int(time.time()) + skew)
    assert status == 400 and "tolerance" in body["error"].lower()
    assert gw.stored() == (0, 0)


@pytest.mark.parametrize("signature", ["", "t=1,v1=abc", "garbage", "v1=00"])
def test_an_unsigned_or_forged_stripe_event_is_400_and_stores_nothing(gw, signature):
    status, body = gw.stripe(succeeded(), signature=signature)
    assert status == 400 and STRIPE_SECRET not in json.dumps(body)
    assert gw.stored() == (0, 0)


def test_a_body_changed_after_signing_is_400(gw):
    body = stripe_body(succeeded())
    header = stripe_signature(body)
    status, _ = gw.stripe(None, raw=body.replace(b"12000", b"99000"), signature=header)
    assert status == 400 and gw.stored() == (0, 0)


@pytest.mark.parametrize(
    "event",
    [
        {"id": "evt_x", "object": "event", "type": "payment_intent.succeeded"},  # no data
        stripe_event("payment_intent.succeeded", {**payment_intent(), "amount_received": "120"}),
        stripe_event("payment_intent.succeeded", {**payment_intent(), "amount_received": 1.5}),
        stripe_event("payment_intent.succeeded", {**payment_intent(), "currency": "xyz"}),
        stripe_event("payment_intent.succeeded", {**payment_intent(), "metadata": ["O-101"]}),
        stripe_event("charge.refunded", {**charge(), "amount_refunded": None}),
        [1, 2],
    ],
)
def test_wrong_types_are_400_and_store_nothing(gw, event):
    status, body = gw.stripe(event)
    assert status == 400 and body["error"]
    assert gw.stored() == (0, 0)


def test_a_huge_body_is_413(gw):
    event = succeeded(description="x" * MAX_BODY_BYTES)
    assert gw.stripe(event)[0] == 413
    assert gw.stored() == (0, 0)


def test_an_unconfigured_gateway_is_503(loaded):
    app = TestClient(create_app(loaded.model_copy(update={"webhook_secret": SecretStr("x")})))
    assert app.post("/v1/gateway/stripe", content=b"{}").status_code == 503
    assert app.post("/v1/gateway/adyen", content=b"{}").status_code == 503


# --- Adyen -------------------------------------------------------------------------------------


def test_an_adyen_authorisation_is_the_money_and_the_answer_is_accepted(gw):
    status, text_ = gw.adyen(adyen_item())
    assert (status, text_) == (200, "[accepted]")
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]
    status, _ = gw.adyen(adyen_item())  # Adyen's retry
    assert status == 200 and gw.count("SELECT count(*) FROM receipts") == 1
    assert gw.sound() == []


def test_adyen_refund_chargeback_and_reversal_name_their_payment_by_original_reference(gw):
    psp = "8535296650153317"
    gw.adyen(adyen_item(psp=psp))
    gw.adyen(adyen_item("REFUND", psp="REF1", value=2000, original=psp))
    assert gw.balances("O-101") == ["75.00", "40.00", "20.00"]
    # Every event of one dispute carries the dispute's own pspReference.
    gw.adyen(adyen_item("CHARGEBACK", psp="CB1", value=10000, original=psp))
    assert gw.balances("O-101") == ["75.00", "40.00", "120.00"]
    gw.adyen(adyen_item("CHARGEBACK_REVERSED", psp="CB1", value=10000, original=psp))
    assert gw.balances("O-101") == ["75.00", "40.00", "20.00"]
    assert gw.sound() == []


def test_an_adyen_chargeback_reversed_before_its_chargeback_waits_for_it(gw):
    psp = "8535296650153317"
    gw.adyen(adyen_item(psp=psp))
    reversed_ = adyen_item("CHARGEBACK_REVERSED", psp="CB1", value=10000, original=psp)
    assert gw.adyen(reversed_) == (200, "[accepted]")
    assert gw.adyen(reversed_) == (200, "[accepted]")  # Adyen's retry
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]  # not received twice
    assert gw.count("SELECT count(*) FROM receipts") == 1
    # Another dispute's chargeback does not release it.
    gw.adyen(adyen_item("CHARGEBACK", psp="CB2", value=2000, original=psp))
    assert gw.balances("O-101") == ["75.00", "40.00", "20.00"]
    assert gw.count("SELECT count(*) FROM intake_events WHERE status = 'waiting'") == 1
    gw.adyen(adyen_item("CHARGEBACK", psp="CB1", value=10000, original=psp))
    assert gw.balances("O-101") == ["75.00", "40.00", "20.00"]
    assert gw.count("SELECT count(*) FROM intake_events WHERE status = 'waiting'") == 0
    assert gw.sound() == []


def test_a_failed_authorisation_is_recorded_and_moves_nothing(gw):
    assert gw.adyen(adyen_item(success="false")) == (200, "[accepted]")
    assert gw.stored() == (0, 1)


def test_with_manual_capture_the_capture_is_the_money(loaded):
    gw = Gateways(configured(loaded, adyen_capture="manual"))
    gw.adyen(adyen_item(psp="P1"))
    assert gw.balances("O-101") == ["75.00", "40.00", "120.00"]
    gw.adyen(adyen_item("CAPTURE", psp="C1", original="P1", value=12000))
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]
    assert gw.count("SELECT count(*) FROM receipts") == 1


def test_a_second_capture_of_one_payment_with_another_amount_is_kept_for_a_clerk(loaded):
    gw = Gateways(configured(loaded, adyen_capture="manual"))
    gw.adyen(adyen_item(psp="P1"))
    gw.adyen(adyen_item("CAPTURE", psp="C1", original="P1", value=12000))
    # Refusing the item would have Adyen send the whole batch again, forever.
    assert gw.adyen(adyen_item("CAPTURE", psp="C2", original="P1", value=9000)) == (
        200,
        "[accepted]",
    )
    assert gw.count("SELECT count(*) FROM receipts") == 1
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]
    with unit_of_work(gw.settings.database_url) as session:
        kept = [item for item in exceptions_view(session) if item["kind"] == "event"]
    assert [(k["event"], k["status"]) for k in kept] == [("adyen:C2:CAPTURE", "failed")]
    assert "amount 120.00 USD then, 90.00 USD now" in kept[0]["reason"]


def test_the_shopper_statement_is_remittance(gw):
    gw.adyen(adyen_item(merchant_reference="web-123", shopper_statement="O-101"))
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]


def test_one_forged_item_refuses_the_whole_batch_before_anything_is_stored(gw):
    good = adyen_item(psp="P1")
    forged = adyen_item(psp="P2", key="00" * 32)
    # The forged item second: the library alone, given the whole body, would pass it.
    status, _ = gw.adyen(good, forged)
    assert status == 401 and gw.stored() == (0, 0)
    tampered = {**adyen_item(psp="P3"), "amount": {"currency": "USD", "value": 1}}
    assert gw.adyen(tampered)[0] == 401
    unsigned = {k: v for k, v in adyen_item(psp="P4").items() if k != "additionalData"}
    assert gw.adyen(unsigned)[0] == 401
    assert gw.stored() == (0, 0)


def test_wrong_basic_credentials_are_401(gw):
    assert gw.adyen(adyen_item(), auth=None)[0] == 401
    assert gw.adyen(adyen_item(), auth=("adyen", "wrong"))[0] == 401
    assert gw.stored() == (0, 0)


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[]", b'{"notificationItems": []}', b'{"notificationItems": [1]}'],
)
def test_bodies_that_are_not_a_notification_are_400(gw, raw):
    assert gw.adyen(raw=raw)[0] == 400
    assert gw.stored() == (0, 0)


def test_an_adyen_refund_for_an_unknown_payment_waits(gw):
    gw.adyen(adyen_item("REFUND", psp="REF9", value=2000, original="UNKNOWN1"))
    with unit_of_work(gw.settings.database_url) as session:
        waiting = [item for item in exceptions_view(session) if item["kind"] == "event"]
        assert journal_ids(session, journal_type="RECEIPT") == []
    assert [w["reason"] for w in waiting] == ["payment adyen:UNKNOWN1 has not been received yet"]


# --- hostile values, validly signed ------------------------------------------------------------

HOSTILE = st.sampled_from(
    [
        None,
        "",
        "x" * 3000,
        -1,
        0,
        10**20,
        1.5,
        [],
        {},
        True,
        "O-101'; DROP TABLE receipts;--",
        "\x00",
    ]
)


@settings_(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(
        ["payment_intent.succeeded", "charge.refunded", "charge.dispute.funds_withdrawn"]
    ),
    field=st.sampled_from(
        [
            "id",
            "amount_received",
            "amount_refunded",
            "amount",
            "currency",
            "metadata",
            "description",
            "payment_intent",
            "created",
            "status",
        ]
    ),
    value=HOSTILE,
)
def test_a_signed_stripe_event_with_any_hostile_value_is_answered_never_crashes(
    gw, kind, field, value
):
    obj = {"payment_intent.succeeded": payment_intent(), "charge.refunded": charge(refunded=500)}
    event = stripe_event(kind, {**obj.get(kind, dispute()), field: value}, f"evt_{kind}_{field}")
    before = gw.stored()
    status, body = gw.stripe(event)
    assert status in (200, 400), body
    if status != 200:
        assert gw.stored() == before and body["error"]


@settings_(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    code=st.sampled_from(["AUTHORISATION", "REFUND", "CHARGEBACK", "CHARGEBACK_REVERSED"]),
    field=st.sampled_from(
        ["merchantReference", "originalReference", "eventDate", "success", "pspReference"]
    ),
    value=HOSTILE,
)
def test_a_signed_adyen_item_with_any_hostile_value_is_answered_never_crashes(
    gw, code, field, value
):
    item = {**adyen_item(code, psp="H1", original="P0"), field: value}
    item.pop("additionalData")
    try:
        signed = {
            **item,
            "additionalData": {
                "hmacSignature": generate_notification_sig(item, ADYEN_HMAC_KEY).decode()
            },
        }
    except (TypeError, KeyError):
        return  # a value the library itself cannot sign: never sent by Adyen
    before = gw.stored()
    status, _ = gw.adyen(signed)
    assert status in (200, 400, 401)
    if status != 200:
        assert gw.stored() == before


def test_an_order_field_that_is_no_order_number_is_read_as_remittance_not_refused(gw):
    # Merchants put any text in these fields: refusing it would lose the money for days.
    assert gw.stripe(succeeded(order="Order O-101 (web shop)", customer="Charles B."))[0] == 200
    assert gw.balances("O-101") == ["75.00", "40.00", "0.00"]
    status, _ = gw.adyen(adyen_item(psp="P7", value=8500, merchant_reference="O-102 via app"))
    assert status == 200 and gw.balances("O-102") == ["0.00", "0.00"]  # named in the text


def test_a_payment_of_nothing_is_recorded_and_moves_nothing(gw):
    assert gw.stripe(succeeded(amount=0)) == (200, {"receipt_id": None, "status": "recorded"})
    assert gw.adyen(adyen_item(value=0)) == (200, "[accepted]")
    assert gw.stored() == (0, 2)
