"""Stripe's and Adyen's events through the services (docs/rules.md section 12), on SQLite and
PostgreSQL: the same intake as the native event, the gateway's event kept with its raw body, and
cumulative refunds processed at the same moment counted once.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from config.settings import Settings
from ledger.intake import adyen_webhook, stripe_webhook
from ledger.intake.inputs import parse_json, validate_load_file
from ledger.persistence.db import dispose_engines, unit_of_work
from ledger.persistence.schema import INTAKE_EVENTS, RECEIPTS
from ledger.queries.check import check_invariants
from ledger.queries.views import order_view
from ledger.services.events import process_event
from ledger.services.gateways import submit_notice, submit_notices
from ledger.services.receipts import load_file
from tasks import dispatch
from tests.support.databases import reset_postgres
from tests.support.gateway_payloads import (
    ADYEN_HMAC_KEY,
    adyen_item,
    charge,
    payment_intent,
    stripe_body,
    stripe_event,
)
from tests.support.paths import SAMPLE

pytestmark = pytest.mark.integration


def stripe_notice(kind, obj, event_id):
    body = stripe_body(stripe_event(kind, obj, event_id))
    return stripe_webhook.translate(parse_json(body), body)


def balances(settings: Settings, number: str) -> list[str]:
    with unit_of_work(settings.database_url) as session:
        return [line["balance"] for line in order_view(session, number)["lines"]]


def test_a_stripe_payment_is_a_native_gateway_receipt_and_its_event_is_kept(loaded):
    notice = stripe_notice("payment_intent.succeeded", payment_intent(), "evt_1")
    intake = submit_notice(loaded, notice)
    assert intake.created and intake.work() == ([intake.receipt_id], [])
    again = submit_notice(loaded, notice)
    assert not again.created and again.receipt_id == intake.receipt_id
    with unit_of_work(loaded.database_url) as session:
        receipt = session.execute(select(RECEIPTS)).one()
        kept = session.execute(select(INTAKE_EVENTS)).one()
    # The native keys: source gateway, keyed by the PaymentIntent, tied to it by reference.
    assert (receipt.source, receipt.external_key, receipt.reference) == (
        "gateway",
        "gateway:stripe:pi_1",
        "stripe:pi_1",
    )
    assert (kept.source, kept.external_key, kept.kind, kept.status) == (
        "stripe",
        "stripe:evt_1",
        "payment_intent.succeeded",
        "done",
    )
    assert kept.payload == notice.raw  # the body as Stripe sent it
    assert kept.receipt_id == intake.receipt_id


def test_an_adyen_item_keeps_its_raw_item_and_moves_money_by_the_native_intake(loaded):
    item = adyen_item()
    adyen_webhook.verify(ADYEN_HMAC_KEY, [item])
    intake = submit_notice(loaded, adyen_webhook.translate(item, "auto"))
    dispatch.intake(loaded, *intake.work())
    assert balances(loaded, "O-101") == ["75.00", "40.00", "0.00"]
    with unit_of_work(loaded.database_url) as session:
        key = session.execute(select(RECEIPTS.c.external_key)).scalar_one()
    assert key == "gateway:adyen:8535296650153317:AUTHORISATION"


def test_cumulative_refunds_processed_at_the_same_moment_count_once(pg_run_database):
    """Three refund events (20, 50 and 35 refunded in all) processed at once on PostgreSQL:
    the payment's row lock makes them count 50 in all, whatever order they take."""
    reset_postgres(pg_run_database)
    settings = Settings(database_url=pg_run_database)
    load_file(settings, validate_load_file(SAMPLE.read_bytes()))
    payment = submit_notice(
        settings, stripe_notice("payment_intent.succeeded", payment_intent(), "evt_p")
    )
    dispatch.intake(settings, *payment.work())
    rows = []
    for event_id, total in (("evt_a", 2000), ("evt_b", 5000), ("evt_c", 3500)):
        intake = submit_notice(
            settings, stripe_notice("charge.refunded", charge(refunded=total), event_id)
        )
        rows += intake.work()[1]
    dispose_engines()
    barrier = threading.Barrier(len(rows))
    errors: list[BaseException] = []

    def run(row: int) -> None:
        barrier.wait()
        try:
            process_event(settings, row)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(row,)) for row in rows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    dispatch.sweep(settings.model_copy(update={"sweep_grace_seconds": 0.0}))
    assert balances(settings, "O-101") == ["75.00", "40.00", "50.00"]
    with unit_of_work(settings.database_url) as session:
        assert [str(v) for v in check_invariants(session)] == []


@pytest.fixture
def refusing_inbox(pg_run_database):
    """PostgreSQL refusing, by a trigger, to record a gateway event whose key says "refused": a
    crash between the intake and the raw body's write, made real."""
    reset_postgres(pg_run_database)
    settings = Settings(database_url=pg_run_database)
    load_file(settings, validate_load_file(SAMPLE.read_bytes()))
    with unit_of_work(pg_run_database) as session:
        session.execute(
            text(
                """
                CREATE FUNCTION refuse_evt() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.external_key ILIKE '%refused%' THEN
                        RAISE EXCEPTION 'the raw body cannot be written';
                    END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER refuse_evt BEFORE INSERT ON intake_events
                    FOR EACH ROW EXECUTE FUNCTION refuse_evt();
                """
            )
        )
        session.commit()
    yield settings
    with unit_of_work(pg_run_database) as session:
        session.execute(
            text("DROP TRIGGER refuse_evt ON intake_events; DROP FUNCTION refuse_evt()")
        )
        session.commit()


@pytest.mark.parametrize(
    ("kind", "obj"),
    [
        ("payment_intent.succeeded", payment_intent()),  # the receipt's one-commit path
        ("charge.refunded", charge(refunded=2000)),  # the inbox's, in a unit of work
    ],
)
def test_an_intake_is_never_kept_without_the_raw_body_of_its_event(refusing_inbox, kind, obj):
    settings = refusing_inbox
    with pytest.raises(DBAPIError, match="raw body cannot be written"):
        submit_notice(settings, stripe_notice(kind, obj, "evt_refused"))
    with unit_of_work(settings.database_url) as session:
        assert session.execute(text("SELECT count(*) FROM receipts")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM intake_events")).scalar() == 0
    # Stripe's retry, the database healthy again, records both.
    intake = submit_notice(settings, stripe_notice(kind, obj, "evt_retried"))
    assert intake.created
    with unit_of_work(settings.database_url) as session:
        kept = session.execute(select(INTAKE_EVENTS.c.external_key)).scalars().all()
    assert "stripe:evt_retried" in kept


def test_one_adyen_notification_is_one_transaction(refusing_inbox):
    """The items a notification carries are kept all or none: when one cannot be written, no
    other is, and Adyen's retry of the batch finds nothing half done."""
    settings = refusing_inbox
    payment = adyen_webhook.translate(adyen_item(psp="P1"), "auto")
    refund = adyen_webhook.translate(
        adyen_item("REFUND", psp="REFUSED1", value=2000, original="P1"), "auto"
    )
    with pytest.raises(DBAPIError, match="raw body cannot be written"):
        submit_notices(settings, [payment, refund])
    with unit_of_work(settings.database_url) as session:
        assert session.execute(text("SELECT count(*) FROM receipts")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM intake_events")).scalar() == 0
