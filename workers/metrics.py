"""``GET /metrics`` of the ingress, in the Prometheus text format (docs/gateways.md, "Watching it").

Two kinds of figures:

- **The webhooks, counted as they are answered** — requests per gateway, answers per gateway
  and HTTP status, and a latency histogram per gateway — by :class:`WebhookMetricsMiddleware`,
  a plain ASGI wrapper around the app: a dictionary lookup, two counter increments and one
  histogram observation per webhook request, nothing for any other path.
- **The ledger, read when scraped** — receipts by source and status, unpublished journals and
  the exceptions waiting with the age of the oldest, the automatic-application rate — by
  :class:`LedgerCollector`, a custom collector that runs :func:`ledger.queries.monitoring.
  ledger_watch` (four statements) on each scrape. Nothing is kept between scrapes, so every
  ingress process gives the same answer and none needs to be told anything by a worker.

``arledger serve --workers N`` runs N processes, and a scrape reaches one of them. So the counts
are kept in prometheus-client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (the
``serve`` command sets it to a fresh directory for N > 1): each process writes its counters to
memory-mapped files there, and the process answering a scrape adds up every process's. The
ledger's figures come from the database, never from those files, so they are not added up
N times.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ledger.queries.monitoring import (
    EXCEPTION_KINDS,
    RATE_WINDOW_DAYS,
    read_ledger_watch,
    receipt_counts_by_status,
)

# Without it every counter and histogram comes with a ``_created`` gauge of its own, doubling
# the series a scrape sends for a timestamp Prometheus does not use. (The multiprocess mode
# never sends them; this makes one process and several say the same.)
disable_created_metrics()

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

# The webhook endpoints and the gateway each one is for; no other path is counted.
GATEWAY_PATHS = {
    "/v1/gateway/events": "native",
    "/v1/gateway/stripe": "stripe",
    "/v1/gateway/adyen": "adyen",
}

# Around the 20 ms the answer must stay under (docs/rules.md section 11), and out to the
# gateways' own timeouts (Stripe and Adyen give up after 10 to 30 s).
LATENCY_BUCKETS = (
    0.0025,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
    30.0,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def multiprocess() -> bool:
    """Whether this process keeps its counts in the shared directory (set before the first
    import of prometheus_client, which chooses how values are stored then)."""
    return bool(os.environ.get(MULTIPROCESS_DIR))


class WebhookMetrics:
    """The webhook counters and histogram, and the registry a scrape reads."""

    def __init__(self, database_url: str) -> None:
        self.registry = CollectorRegistry()
        # In multiprocess mode the counters live in the shared files, which the multiprocess
        # collector reads for every process; registering them too would count this one twice.
        own = None if multiprocess() else self.registry
        if own is None:
            MultiProcessCollector(self.registry)
        self.requests = Counter(
            "arledger_webhook_requests",
            "Webhook requests received, by gateway (native, stripe, adyen).",
            ["gateway"],
            registry=own,
        )
        self.answers = Counter(
            "arledger_webhook_responses",
            "Webhook answers sent, by gateway and HTTP status.",
            ["gateway", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "arledger_webhook_latency_seconds",
            "Time from a webhook request's arrival to the last byte of its answer, by gateway.",
            ["gateway"],
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        # The labelled children, looked up once: a request pays a dictionary lookup, not the
        # label validation of ``labels()``.
        self._requests = {g: self.requests.labels(g) for g in GATEWAY_PATHS.values()}
        self._latency = {g: self.latency.labels(g) for g in GATEWAY_PATHS.values()}
        self._answers: dict[tuple[str, int], Any] = {}
        self.registry.register(LedgerCollector(database_url))

    def received(self, gateway: str) -> None:
        self._requests[gateway].inc()

    def answered(self, gateway: str, status: int, seconds: float) -> None:
        child = self._answers.get((gateway, status))
        if child is None:
            child = self._answers[(gateway, status)] = self.answers.labels(gateway, str(status))
        child.inc()
        self._latency[gateway].observe(seconds)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The scrape's body and content type (the text format, or OpenMetrics when asked).
        Reads the database: run it off the event loop."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class WebhookMetricsMiddleware:
    """Counts each webhook request, its answer's status, and the time to the answer's last byte.

    Plain ASGI rather than a Starlette ``BaseHTTPMiddleware``, which would run every request
    through an extra task and memory stream. Work done after the answer (a background task
    dispatching in-process) is not part of the latency: the gateway is no longer waiting.
    """

    def __init__(self, app: ASGIApp, metrics: WebhookMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway = GATEWAY_PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if gateway is None:
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        started = time.perf_counter()
        metrics.received(gateway)
        status = 500
        answered = False

        async def observing_send(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if (
                message["type"] == "http.response.body"
                and not message.get("more_body", False)
                and not answered
            ):
                answered = True
                metrics.answered(gateway, status, time.perf_counter() - started)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            if not answered:
                # An exception before the answer: the server answers 500 on the app's behalf.
                metrics.answered(gateway, status, time.perf_counter() - started)


class LedgerCollector(Collector):
    """The ledger's figures, read from the database at each scrape (four statements)."""

    def __init__(self, database_url: str, clock: Callable[[], datetime] | None = None) -> None:
        self.database_url = database_url
        self.clock = clock or (lambda: datetime.now(UTC))

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        up = GaugeMetricFamily(
            "arledger_ledger_up", "1 when the ledger's figures below were read from the database."
        )
        watch = read_ledger_watch(self.database_url, now.date())
        if watch is None:
            # The webhook counts still go out; the ledger's figures are missing, and say so.
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        receipts = GaugeMetricFamily(
            "arledger_receipts", "Receipts by source and status.", labels=["source", "status"]
        )
        for (source, status), count in receipt_counts_by_status(watch.receipts).items():
            receipts.add_metric([source, status], count)
        yield receipts

        yield _gauge(
            "arledger_unpublished_journals",
            "Journals committed and not yet published to the GL sink.",
            watch.unpublished.count,
        )
        yield _gauge(
            "arledger_unpublished_journals_oldest_age_seconds",
            "Seconds since the oldest unpublished journal was committed (0 when none waits).",
            watch.unpublished.age_seconds(now),
        )

        waiting = GaugeMetricFamily(
            "arledger_exceptions_waiting",
            "What `arledger exceptions list` shows, by kind: receipts unapplied, unidentified or "
            "failed; gateway events waiting or failed; poison messages.",
            labels=["kind"],
        )
        oldest = GaugeMetricFamily(
            "arledger_exceptions_oldest_age_seconds",
            "Seconds since the oldest waiting exception of each kind arrived (0 when none waits).",
            labels=["kind"],
        )
        for kind in EXCEPTION_KINDS:
            backlog = watch.exceptions[kind]
            waiting.add_metric([kind], backlog.count)
            oldest.add_metric([kind], backlog.age_seconds(now))
        yield waiting
        yield oldest

        window = f"{RATE_WINDOW_DAYS}d"
        outcomes = GaugeMetricFamily(
            "arledger_cash_application_receipts",
            f"Receipts received in the last {RATE_WINDOW_DAYS} days by how they were placed, as "
            "`arledger report cash-application` counts them.",
            labels=["window", "outcome"],
        )
        for outcome in ("receipts", "applied_automatically", "applied_by_operator", "unapplied"):
            outcomes.add_metric([window, outcome], watch.cash_application[outcome])
        yield outcomes
        rate = GaugeMetricFamily(
            "arledger_automatic_application_rate",
            f"Share (0 to 1) of the receipts received in the last {RATE_WINDOW_DAYS} days that "
            "the matching rules placed in full.",
            labels=["window"],
        )
        rate.add_metric([window], watch.automatic_rate)
        yield rate


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge
