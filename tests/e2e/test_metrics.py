"""``GET /metrics`` as Prometheus scrapes it (docs/gateways.md, "Watching it"): real webhook
requests on the three gateways — Stripe's and Adyen's signed by their own libraries — then the
scrape parsed with prometheus_client's parser and every figure checked to the unit.

In-process first (FastAPI's test client over the real app, SQLite and PostgreSQL, no broker:
the work runs after each answer); then ``arledger serve --workers 2`` as an operator starts it,
where the counts of both processes must add up in every scrape, whichever process answers it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from config.settings import Settings
from ledger.intake.inputs import validate_load_file
from ledger.intake.signature import sign
from ledger.outbox.publisher import publish_pending
from ledger.persistence.db import unit_of_work
from ledger.queries.views import exceptions_view
from ledger.services.receipts import load_file
from tests.support.databases import reset_postgres
from tests.support.gateway_payloads import (
    ADYEN_HMAC_KEY,
    STRIPE_SECRET,
    adyen_body,
    adyen_item,
    charge,
    payment_intent,
    stripe_body,
    stripe_event,
    stripe_signature,
)
from tests.support.metrics import Scrape
from tests.support.paths import SAMPLE
from tests.support.processes import ARLEDGER, Process, pipeline_env, wait_until
from workers.ingress import create_app

NATIVE_SECRET = "whsec-metrics"
OTHER_ADYEN_KEY = "00" * 32


def native(event_id: str, when: datetime, **changes: str) -> bytes:
    body = {
        "event_id": event_id,
        "type": "payment.succeeded",
        "gateway": "checkout",
        "payment_id": f"pay_{event_id}",
        "amount": "350.00",
        "currency": "USD",
        "order": "O-100",
        "customer": "C-1",
        "occurred_at": when.isoformat(),
        **changes,
    }
    return json.dumps({k: v for k, v in body.items() if v}).encode()


class Ingress:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = TestClient(create_app(settings))

    def native(self, body: bytes, secret: str = NATIVE_SECRET) -> int:
        return self.client.post(
            "/v1/gateway/events", content=body, headers={"X-Arledger-Signature": sign(secret, body)}
        ).status_code

    def stripe(self, event: dict, signature: str | None = None) -> int:
        body = stripe_body(event)
        header = signature or stripe_signature(body)
        return self.client.post(
            "/v1/gateway/stripe", content=body, headers={"Stripe-Signature": header}
        ).status_code

    def adyen(self, *items: dict) -> int:
        return self.client.post("/v1/gateway/adyen", content=adyen_body(*items)).status_code

    def scrape(self) -> Scrape:
        response = self.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return Scrape(response.text)

    def count(self, sql: str) -> int:
        with unit_of_work(self.settings.database_url) as session:
            return int(session.execute(text(sql)).scalar_one())


@pytest.fixture
def ingress(loaded: Settings) -> Ingress:
    return Ingress(
        loaded.model_copy(
            update={
                "webhook_secret": SecretStr(NATIVE_SECRET),
                "stripe_webhook_secret": SecretStr(STRIPE_SECRET),
                "adyen_hmac_key": SecretStr(ADYEN_HMAC_KEY),
            }
        )
    )


def test_a_scrape_counts_every_webhook_answer_by_gateway_and_status(ingress: Ingress):
    started = time.time()
    now = datetime.now(UTC)
    # Native: a payment, its repeat, a forged signature, a payment naming no order or customer.
    assert ingress.native(native("evt_m1", now)) == 202
    assert ingress.native(native("evt_m1", now)) == 200
    assert ingress.native(native("evt_m2", now), secret="not-the-secret") == 401
    assert ingress.native(native("evt_m3", now, amount="12.00", order="", customer="")) == 202
    # Stripe: a payment of all of O-101, a forged signature, a refund of a payment not yet seen.
    paid = stripe_event(
        "payment_intent.succeeded",
        payment_intent("pi_m1", amount=23500, created=int(now.timestamp())),
        "evt_s1",
    )
    assert ingress.stripe(paid) == 200
    assert ingress.stripe(paid, signature=stripe_signature(b"{}")) == 400
    assert ingress.stripe(stripe_event("charge.refunded", charge("pi_m9", 5000, 1000), "s2")) == 200
    # Adyen: a payment of line 1 of O-102, and a batch whose HMAC is another key's.
    assert (
        ingress.adyen(
            adyen_item(
                psp="8535296650150001",
                value=6000,
                merchant_reference="O-102",
                event_date=now.isoformat(),
            )
        )
        == 200
    )
    assert ingress.adyen(adyen_item(psp="8535296650150002", key=OTHER_ADYEN_KEY)) == 401

    scrape = ingress.scrape()

    assert scrape.families["arledger_webhook_requests"] == "counter"
    assert scrape.families["arledger_webhook_latency_seconds"] == "histogram"
    requests = {"native": 4, "stripe": 3, "adyen": 2}
    for gateway, count in requests.items():
        assert scrape.value("arledger_webhook_requests_total", gateway=gateway) == count
        assert scrape.value("arledger_webhook_latency_seconds_count", gateway=gateway) == count
        assert (
            scrape.value("arledger_webhook_latency_seconds_bucket", gateway=gateway, le="+Inf")
            == count
        )
        assert scrape.value("arledger_webhook_latency_seconds_sum", gateway=gateway) > 0
    answers = {
        frozenset(labels): value
        for labels, value in scrape.series("arledger_webhook_responses_total").items()
    }
    assert answers == {
        frozenset({("gateway", "native"), ("status", "202")}): 2,
        frozenset({("gateway", "native"), ("status", "200")}): 1,
        frozenset({("gateway", "native"), ("status", "401")}): 1,
        frozenset({("gateway", "stripe"), ("status", "200")}): 2,
        frozenset({("gateway", "stripe"), ("status", "400")}): 1,
        frozenset({("gateway", "adyen"), ("status", "200")}): 1,
        frozenset({("gateway", "adyen"), ("status", "401")}): 1,
    }

    # Receipts (every gateway's are source "gateway"): the native, Stripe and Adyen payments
    # placed on their orders, the native one naming nothing unidentified. Every status of a
    # source is there, 0 where no receipt has it.
    receipts = scrape.series("arledger_receipts")
    assert len(receipts) == 6
    assert {labels: value for labels, value in receipts.items() if value} == {
        frozenset({("source", "gateway"), ("status", "applied")}): 3,
        frozenset({("source", "gateway"), ("status", "unidentified")}): 1,
    }
    assert scrape.total("arledger_receipts") == ingress.count("SELECT count(*) FROM receipts")

    # The exception queue, as `exceptions list` shows it: the unidentified receipt and the
    # refund waiting for its payment.
    with unit_of_work(ingress.settings.database_url) as session:
        listed = [item["kind"] for item in exceptions_view(session)]
    assert sorted(listed) == ["event", "receipt"]
    for kind, waiting in (("receipt", 1), ("event", 1), ("message", 0)):
        assert scrape.value("arledger_exceptions_waiting", kind=kind) == waiting
    for kind in ("receipt", "event"):
        age = scrape.value("arledger_exceptions_oldest_age_seconds", kind=kind)
        # Older than nothing, younger than this test (SQLite keeps whole seconds: up to one more).
        assert 0 < age <= time.time() - started + 1, age
    assert scrape.value("arledger_exceptions_oldest_age_seconds", kind="message") == 0

    # Three of the four receipts of the last seven days placed by the matching rules.
    assert scrape.value("arledger_cash_application_receipts", window="7d", outcome="receipts") == 4
    assert (
        scrape.value(
            "arledger_cash_application_receipts", window="7d", outcome="applied_automatically"
        )
        == 3
    )
    assert scrape.value("arledger_cash_application_receipts", window="7d", outcome="unapplied") == 1
    assert scrape.value("arledger_automatic_application_rate", window="7d") == 0.75

    # Each distribution published its journals (the embedded default publishes after a batch).
    assert scrape.value("arledger_unpublished_journals") == 0
    assert scrape.value("arledger_unpublished_journals_oldest_age_seconds") == 0
    assert scrape.value("arledger_ledger_up") == 1
    # Scraping is not a webhook: nothing above moved.
    assert ingress.scrape().value("arledger_webhook_requests_total", gateway="native") == 4


def test_unpublished_journals_and_their_age_until_the_publisher_catches_up(settings: Settings):
    ingress = Ingress(settings.model_copy(update={"webhook_secret": SecretStr(NATIVE_SECRET)}))
    started = time.time()
    # The sample's SALE journals, committed by the load and not published.
    load_file(settings, validate_load_file(SAMPLE.read_bytes()))
    journals = ingress.count("SELECT count(*) FROM journals")
    assert journals > 0
    time.sleep(0.01)  # PostgreSQL stamps a commit with its transaction's start
    scrape = ingress.scrape()
    assert scrape.value("arledger_unpublished_journals") == journals
    age = scrape.value("arledger_unpublished_journals_oldest_age_seconds")
    # Older than nothing, younger than this test (SQLite keeps whole seconds: up to one more).
    assert 0 < age <= time.time() - started + 1, age
    # Nothing has come in: no webhook counted, no receipt, an empty exception queue, no rate.
    assert scrape.total("arledger_webhook_requests_total") == 0
    assert scrape.series("arledger_receipts") == {}
    assert scrape.total("arledger_exceptions_waiting") == 0
    assert scrape.value("arledger_automatic_application_rate", window="7d") == 0

    assert publish_pending(ingress.settings) == journals
    after = ingress.scrape()
    assert after.value("arledger_unpublished_journals") == 0
    assert after.value("arledger_unpublished_journals_oldest_age_seconds") == 0


def test_a_scrape_whose_database_is_away_still_sends_the_webhook_counts(tmp_path: Path):
    settings = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/nowhere",
        broker_url=None,
        gl_sink=str(tmp_path / "gl.jsonl"),
        webhook_secret=SecretStr(NATIVE_SECRET),
    )
    client = TestClient(create_app(settings))
    assert client.post("/v1/gateway/events", content=b"{}").status_code == 401
    response = client.get("/metrics")
    assert response.status_code == 200
    scrape = Scrape(response.text)
    assert scrape.value("arledger_ledger_up") == 0
    assert scrape.value("arledger_webhook_responses_total", gateway="native", status="401") == 1
    assert "arledger_receipts" not in scrape.families


def test_serve_with_two_processes_adds_up_both_processes_counts_in_every_scrape(
    pg_run_database: str, redis_url: str, tmp_path: Path
):
    reset_postgres(pg_run_database)
    env = pipeline_env(pg_run_database, redis_url, str(tmp_path / "gl.jsonl"))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port = _free_port()
    server = Process(
        [ARLEDGER, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        env,
        tmp_path / "serve.log",
    )
    try:
        server.wait_for("Application startup complete")
        wait_until(
            lambda: server.log.read_text().count("Application startup complete") >= 2,
            timeout=60,
            what="both server processes",
        )
        directory = _shared_directory(server)
        assert directory is not None and directory.name.startswith("arledger-metrics-")
        base = f"http://127.0.0.1:{port}"
        sent = 0
        for n in range(24):
            # A new connection each time, so that either process may take it.
            body = native(f"evt_p{n}", datetime.now(UTC), order="", customer="")
            secret = env["ARLEDGER_WEBHOOK_SECRET"] if n % 4 else "forged"
            answer = httpx.post(
                f"{base}/v1/gateway/events",
                content=body,
                headers={"X-Arledger-Signature": sign(secret, body)},
                timeout=10,
            )
            assert answer.status_code == (202 if n % 4 else 401)
            sent += 1
        for _ in range(10):
            scrape = Scrape(httpx.get(f"{base}/metrics", timeout=10).text)
            assert scrape.value("arledger_webhook_requests_total", gateway="native") == sent
            assert (
                scrape.value("arledger_webhook_responses_total", gateway="native", status="202")
                == 18
            )
            assert (
                scrape.value("arledger_webhook_responses_total", gateway="native", status="401")
                == 6
            )
            assert scrape.value("arledger_webhook_latency_seconds_count", gateway="native") == sent
            # The ledger's figures come from the database once, not once per process.
            assert scrape.value("arledger_receipts", source="gateway", status="queued") == 18
    finally:
        server.stop()
    assert not directory.exists()  # serve removes the directory it made


def _shared_directory(server: Process) -> Path | None:
    """The PROMETHEUS_MULTIPROC_DIR the server's processes were started with."""
    for pid in server.tree()[1:]:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                return Path(os.fsdecode(entry.split(b"=", 1)[1]))
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
