"""The HTTP ingress (docs/rules.md sections 6 and 12): the signed gateway webhook, Stripe's and
Adyen's webhooks, and the health endpoint.

``POST /v1/gateway/events`` takes the raw body (at most 64 KiB, refused with 413 beyond), checks
the HMAC signature and its five-minute window (401), validates the event (400 with field
errors), persists it (the inbox) and answers — 202 with ``{"receipt_id", "status"}`` once
persisted, 200 with the same body for a repeat of the same event, 409 for an event id reused
with another payload — then dispatches the work: with a broker, a sender thread batches the ids
of what was persisted into task messages (see BatchSender); with none configured, the work runs
in-process after the response has gone. ``GET /health`` answers 200 when the database is
reachable. ``POST /v1/gateway/stripe`` and ``POST /v1/gateway/adyen`` take the gateways' own
webhooks (docs/gateways.md) and end in the same intake. ``GET /metrics`` serves the webhook
counts and the ledger's figures in the Prometheus text format (``workers.metrics``). The app
refuses to start without ``ARLEDGER_WEBHOOK_SECRET``; the secret never appears in a response or
a log line.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from config.settings import Settings, get_settings
from ledger.domain.errors import Conflict, InputRefused
from ledger.intake import adyen_webhook, stripe_webhook
from ledger.intake.gateway import MAX_BODY_BYTES, EventInvalid, GatewayEvent, parse_event
from ledger.intake.signature import SIGNATURE_HEADER, SignatureRefused, verify
from ledger.persistence.db import POOL_SIZE, ping
from ledger.services.events import EventIntake, submit_event
from ledger.services.gateways import submit_notice, submit_notices
from tasks import dispatch
from workers.metrics import WebhookMetrics, WebhookMetricsMiddleware
from workers.runtime import freeze_startup_heap

T = TypeVar("T")

_RECEIPT_BODY = {
    "type": "object",
    "properties": {"receipt_id": {"type": ["integer", "null"]}, "status": {"type": "string"}},
    "required": ["receipt_id", "status"],
}
_ERROR_BODY = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["error"],
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


class MissingWebhookSecret(RuntimeError):
    """The ingress cannot verify signatures without a secret, so it does not start."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    if settings.webhook_secret is None or not settings.webhook_secret.get_secret_value():
        raise MissingWebhookSecret("ARLEDGER_WEBHOOK_SECRET is required to start the HTTP ingress")
    secret = settings.webhook_secret.get_secret_value()
    sender = BatchSender(settings) if settings.broker_url else None
    # Database work runs on as many threads as the engine keeps connections. Under a burst a
    # request waits here for a thread; with more threads than connections it would wait for an
    # overflow connection opened and closed for it, a new PostgreSQL backend every time.
    database = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="ingress-db")

    async def in_database_thread(function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(database, function, *args)

    app = FastAPI(
        title="arledger ingress",
        version="1",
        description="Signed payment-gateway webhook of arledger (docs/rules.md section 6).",
    )
    metrics = WebhookMetrics(settings.database_url)
    app.add_middleware(WebhookMetricsMiddleware, metrics=metrics)

    @app.get(
        "/health",
        responses={
            200: _json({"type": "object"}, "the database answers"),
            503: _json({"type": "object"}, "it does not"),
        },
    )
    async def health() -> JSONResponse:
        reachable = await in_database_thread(ping, settings.database_url)
        return JSONResponse(
            {"status": "ok" if reachable else "database unreachable"},
            status_code=200 if reachable else 503,
        )

    @app.get(
        "/metrics",
        responses={
            200: {
                "description": "the Prometheus text format (docs/gateways.md, Watching it)",
                "content": {"text/plain": {}},
            }
        },
    )
    async def metrics_endpoint(request: Request) -> Response:
        # The ledger's figures are read from the database: on its threads, not the event loop.
        body, content_type = await in_database_thread(
            metrics.exposition, request.headers.get("accept")
        )
        return Response(body, headers={"Content-Type": content_type})

    @app.post(
        "/v1/gateway/events",
        status_code=202,
        responses={
            202: _json(_RECEIPT_BODY, "persisted; processing follows"),
            200: _json(_RECEIPT_BODY, "a repeat of an event already received"),
            400: _json(_ERROR_BODY, "invalid event, with field errors"),
            401: _json(_ERROR_BODY, "missing, wrong or stale signature"),
            409: _json(_ERROR_BODY, "event id reused with a different payload"),
            413: _json(_ERROR_BODY, "body over 64 KiB"),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": GatewayEvent.model_json_schema()}},
            },
            "parameters": [
                {
                    "name": SIGNATURE_HEADER,
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]+$"},
                    "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">',
                }
            ],
        },
    )
    async def gateway_event(request: Request, background: BackgroundTasks) -> JSONResponse:
        raw = await _body(request)
        if raw is None:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            verify(secret, request.headers.get(SIGNATURE_HEADER), raw)
        except SignatureRefused as exc:
            return _error(401, exc.message)
        try:
            event = parse_event(raw)
        except EventInvalid as exc:
            return _error(400, exc.message, exc.errors)
        except InputRefused as exc:
            return _error(400, exc.message, [{"field": exc.field or "", "message": exc.message}])
        try:
            intake: EventIntake = await in_database_thread(submit_event, settings, event)
        except Conflict as exc:
            return _error(409, exc.message)
        except InputRefused as exc:
            return _error(400, exc.message, [{"field": exc.field or "", "message": exc.message}])
        if intake.created:
            if sender is not None:
                sender.add(intake)
            else:
                background.add_task(dispatch.intake, settings, *intake.work())
        return JSONResponse(
            intake.body(), status_code=202 if intake.created else 200, background=background
        )

    def dispatch_intake(intakes: list[EventIntake], background: BackgroundTasks) -> None:
        """Send on what was persisted, as the native webhook does."""
        receipts: list[int] = []
        events: list[int] = []
        for intake in intakes:
            if not intake.created:
                continue
            if sender is not None:
                sender.add(intake)
            else:
                more_receipts, more_events = intake.work()
                receipts += more_receipts
                events += more_events
        if receipts or events:
            background.add_task(dispatch.intake, settings, receipts, events)

    stripe_secrets = settings.stripe_secrets()

    @app.post(
        "/v1/gateway/stripe",
        responses={
            200: _json(
                _RECEIPT_BODY,
                "persisted (or a repeat, an event type arledger ignores, or a re-announcement "
                "contradicting what was received: status conflict, kept for the exception queue)",
            ),
            400: _json(_ERROR_BODY, "bad or stale signature, or not a Stripe event"),
            413: _json(_ERROR_BODY, "body over 64 KiB"),
            503: _json(_ERROR_BODY, "ARLEDGER_STRIPE_WEBHOOK_SECRET is not set"),
        },
    )
    async def stripe_event(request: Request, background: BackgroundTasks) -> JSONResponse:
        """Stripe's webhook (docs/gateways.md): verified by stripe-python with every secret."""
        if not stripe_secrets:
            return _error(503, "the Stripe webhook is not configured")
        raw = await _body(request)
        if raw is None:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            data = stripe_webhook.verify(
                stripe_secrets, request.headers.get(stripe_webhook.SIGNATURE_HEADER), raw
            )
            notice = stripe_webhook.translate(data, raw)
        except stripe_webhook.StripeRefused as exc:
            return _error(400, exc.message)
        except EventInvalid as exc:
            return _error(400, exc.message, exc.errors)
        try:
            # A re-announcement that contradicts what was received is answered 200 too (status
            # conflict): a 409 would have Stripe send it again for days.
            intake: EventIntake = await in_database_thread(submit_notice, settings, notice)
        except InputRefused as exc:
            return _error(400, exc.message, [{"field": exc.field or "", "message": exc.message}])
        dispatch_intake([intake], background)
        return JSONResponse(intake.body(), status_code=200, background=background)

    adyen_key = settings.adyen_hmac_key.get_secret_value() if settings.adyen_hmac_key else None
    adyen_credentials = _basic_credentials(settings)

    @app.post(
        "/v1/gateway/adyen",
        responses={
            200: {"description": "every item persisted", "content": {"text/plain": {}}},
            400: _json(_ERROR_BODY, "not an Adyen notification, or values arledger refuses"),
            401: _json(_ERROR_BODY, "wrong Basic credentials or an item's HMAC does not match"),
            413: _json(_ERROR_BODY, "body over 64 KiB"),
            503: _json(_ERROR_BODY, "ARLEDGER_ADYEN_HMAC_KEY is not set"),
        },
    )
    async def adyen_notification(request: Request, background: BackgroundTasks) -> Response:
        """Adyen's standard notification (docs/gateways.md): every item's HMAC checked, one item
        at a time, before anything is stored; ``[accepted]`` once every item is persisted."""
        if adyen_key is None:
            return _error(503, "the Adyen webhook is not configured")
        if adyen_credentials is not None and not _basic_matches(
            request.headers.get("authorization"), adyen_credentials
        ):
            response = _error(401, "Basic credentials required")
            response.headers["WWW-Authenticate"] = 'Basic realm="arledger"'
            return response
        raw = await _body(request)
        if raw is None:
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            items = adyen_webhook.items(raw)
            adyen_webhook.verify(adyen_key, items)
            notices = [adyen_webhook.translate(item, settings.adyen_capture) for item in items]
        except adyen_webhook.AdyenRefused as exc:
            return _error(401, exc.message)
        except EventInvalid as exc:
            return _error(400, exc.message, exc.errors)
        try:
            intakes = await in_database_thread(submit_notices, settings, notices)
        except InputRefused as exc:
            return _error(400, exc.message, [{"field": exc.field or "", "message": exc.message}])
        dispatch_intake(intakes, background)
        return PlainTextResponse(adyen_webhook.ACCEPTED, background=background)

    return app


async def _body(request: Request) -> bytes | None:
    """The raw body, or None when it is larger than the limit (413)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def _basic_credentials(settings: Settings) -> bytes | None:
    """The Authorization header value Adyen must send, when Basic credentials are configured."""
    if not settings.adyen_username:
        return None
    password = settings.adyen_password.get_secret_value() if settings.adyen_password else ""
    token = base64.b64encode(f"{settings.adyen_username}:{password}".encode()).decode()
    return f"Basic {token}".encode()


def _basic_matches(header: str | None, expected: bytes) -> bool:
    return header is not None and hmac.compare_digest(header.strip().encode(), expected)


def app_from_environment() -> FastAPI:
    """The app built from ``ARLEDGER_*`` variables: what each process of ``serve --workers N``
    runs."""
    app = create_app(get_settings())
    freeze_startup_heap()
    return app


log = logging.getLogger(__name__)


# How long the sender lets ids gather after the first one arrives before it sends them. It is
# added to the time to publish, never to the answer; each message is a worker task, a
# distribution and a publish round whatever it carries, so fewer, fuller messages cost less
# (the measured steps: docs/performance.md, "The folds").
GATHER_SECONDS = 0.050


class BatchSender:
    """Sends the tasks for persisted events from one thread, in batches, off the request path.

    A request only appends its receipt id (or event row) here and answers; this thread sends
    whatever has gathered since its last send as one message. Under load that is many receipts
    per message — one worker transaction for all of them — and an answer is never held up by
    the broker. The durability point is the database commit before the 202: should this process
    die before sending, or the broker refuse, the periodic sweep finds the intake still queued
    and sends it again (docs/rules.md section 8).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.receipts: list[int] = []
        self.events: list[int] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, intake: EventIntake) -> None:
        with self.lock:
            receipts, events = intake.work()
            self.receipts += receipts
            self.events += events
            if self.thread is None:  # started with the first event: no thread in idle test apps
                self.thread = threading.Thread(target=self._run, name="ingress-sender", daemon=True)
                self.thread.start()
        self.wake.set()

    def _run(self) -> None:
        while True:
            self.wake.wait()
            # Let the ids of the next few requests gather: a message costs the sender and the
            # worker the same whatever it carries.
            time.sleep(GATHER_SECONDS)
            self.wake.clear()
            self.send_pending()

    def send_pending(self) -> None:
        with self.lock:
            receipts, self.receipts = self.receipts, []
            events, self.events = self.events, []
        try:
            dispatch.intake(self.settings, receipts, events)
        except Exception as exc:  # the broker is away: the sweep sends these again
            log.warning(
                "could not send %d receipts and %d events to the broker (%s); the sweep will",
                len(receipts),
                len(events),
                exc,
            )


def _error(status: int, message: str, fields: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse(body, status_code=status)
