"""The pure parts of the metrics: the age of the oldest waiting thing, the receipt series filled
with zeros, and the webhook middleware's counting (an ASGI app of a few lines, no server, no
database: the ledger's figures are read only when scraped, and nothing here scrapes)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger.persistence.tables import RECEIPT_STATUSES
from ledger.queries.monitoring import Backlog, age_seconds, receipt_counts_by_status
from workers.metrics import WebhookMetrics, WebhookMetricsMiddleware

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


def test_the_age_of_nothing_waiting_is_zero():
    assert age_seconds(None, NOW) == 0
    assert Backlog(0, None).age_seconds(NOW) == 0


def test_an_aware_time_is_aged_in_its_own_zone():
    two_hours_ahead = timezone(timedelta(hours=2))
    assert age_seconds(datetime(2026, 12, 3, 13, 59, 30, tzinfo=two_hours_ahead), NOW) == 30


def test_a_naive_time_from_sqlite_is_read_as_utc():
    assert age_seconds(datetime(2026, 12, 3, 11, 58, 0), NOW) == 120
    assert Backlog(3, datetime(2026, 12, 3, 11, 59, 59)).age_seconds(NOW) == 1


def test_a_database_clock_ahead_of_ours_gives_zero_not_a_negative_age():
    assert age_seconds(NOW + timedelta(seconds=2), NOW) == 0


def test_every_status_of_every_source_seen_is_counted_zero_where_none_is():
    counts = receipt_counts_by_status({("lockbox", "applied"): 5, ("gateway", "failed"): 1})
    assert len(counts) == 2 * len(RECEIPT_STATUSES)
    assert counts[("lockbox", "applied")] == 5
    assert counts[("gateway", "failed")] == 1
    assert counts[("lockbox", "failed")] == 0
    assert {
        value
        for key, value in counts.items()
        if key not in {("lockbox", "applied"), ("gateway", "failed")}
    } == {0}
    assert receipt_counts_by_status({}) == {}


def samples(counter) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in counter.collect()
        for sample in family.samples
    }


async def _answer(scope, receive, send):
    await send({"type": "http.response.start", "status": 202, "headers": []})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    await send({"type": "http.response.body", "body": b"}"})


async def _fail(scope, receive, send):
    raise RuntimeError("a bug before any answer")


def call(app, path: str) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "path": path, "method": "POST"}, receive, send))
    return sent


def test_a_webhook_answer_is_counted_once_by_gateway_and_status_after_its_last_byte():
    metrics = WebhookMetrics("sqlite://")
    app = WebhookMetricsMiddleware(_answer, metrics)
    assert len(call(app, "/v1/gateway/stripe")) == 3
    call(app, "/v1/gateway/stripe")
    call(app, "/v1/gateway/events")
    assert (
        samples(metrics.requests)[("arledger_webhook_requests_total", (("gateway", "stripe"),))]
        == 2
    )
    answers = samples(metrics.answers)
    assert answers == {
        ("arledger_webhook_responses_total", (("gateway", "stripe"), ("status", "202"))): 2,
        ("arledger_webhook_responses_total", (("gateway", "native"), ("status", "202"))): 1,
    }
    latency = samples(metrics.latency)
    assert latency[("arledger_webhook_latency_seconds_count", (("gateway", "stripe"),))] == 2
    assert latency[("arledger_webhook_latency_seconds_count", (("gateway", "adyen"),))] == 0


def test_other_paths_are_not_counted():
    metrics = WebhookMetrics("sqlite://")
    app = WebhookMetricsMiddleware(_answer, metrics)
    call(app, "/health")
    call(app, "/metrics")
    call(app, "/v1/gateway/stripe/extra")
    assert set(samples(metrics.requests).values()) == {0}
    assert samples(metrics.answers) == {}


def test_a_request_that_raises_before_answering_counts_as_a_500():
    metrics = WebhookMetrics("sqlite://")
    app = WebhookMetricsMiddleware(_fail, metrics)
    with pytest.raises(RuntimeError):
        call(app, "/v1/gateway/adyen")
    assert samples(metrics.answers) == {
        ("arledger_webhook_responses_total", (("gateway", "adyen"), ("status", "500"))): 1
    }
    assert (
        samples(metrics.latency)[
            ("arledger_webhook_latency_seconds_count", (("gateway", "adyen"),))
        ]
        == 1
    )
