"""Gateway benchmark: signed webhook events at a sustained rate through the real pipeline.

    python benchmarks/gateway.py --rate 200 --seconds 60 [--gateway native|stripe|adyen] [--json]

Generates one open order of three lines per event, then starts the production processes as an
operator does — `arledger serve` (the HTTP ingress), `arledger worker` at concurrency 2 and
`arledger beat` — and a load generator on loopback that sends signed `payment.succeeded` events
open-loop at ``--rate`` per second for ``--seconds``: most pay an order in full, some partly,
some name an order that does not exist (unapplied), and one in twenty is a gateway retry of the
event before it (answered 200, applied once).

``--gateway`` says how the events are sent: ``native`` (the default) as signed
`payment.succeeded` events to ``/v1/gateway/events``; ``stripe`` as `payment_intent.succeeded`
events to ``/v1/gateway/stripe``, signed by stripe-python's own signature helper; ``adyen`` as
one-item `AUTHORISATION` notifications to ``/v1/gateway/adyen``, signed by the Adyen library.
The same orders, amounts, retries and measurements in every mode.

Two latencies per event, both timed from the moment the event was due to be sent (so a stalled
load generator counts against the figures, never for them):
- ack: until the 202 (or, for a retry, the 200) response arrived;
- published: until the event's first journal — the distribution of its receipt — was read back
  from the GL sink (the Redis stream the publisher appends to).

``published_legs_ms`` splits the second by the database's own stamps: to the receipt's row, to
the distributing transaction, its locks and loads, and on to the stream (see ``published_legs``).

``lost`` counts events that were not acknowledged with 2xx, or were acknowledged and whose
journal never reached the sink within ``--drain`` seconds after the last send. The run ends with
the docs/rules.md section 9 invariants checked on the database.

Uses ARLEDGER_DATABASE_URL and ARLEDGER_BROKER_URL when set; otherwise a throwaway database on
the local PostgreSQL (dropped after) and the local Redis (database 12, flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import redis
import stripe
from Adyen.util import generate_notification_sig
from sqlalchemy import func, select

from benchmarks.support import (
    ARLEDGER,
    Environment,
    Process,
    calibration_ms,
    cpu_seconds,
    customer_of,
    environment,
    generate_orders,
    machine,
    order_lines,
    postgres_pids,
    start_worker,
)
from ledger.domain.money import Money
from ledger.intake.signature import SIGNATURE_HEADER, sign
from ledger.outbox.publisher import publish_pending
from ledger.persistence.db import dispose_engines, unit_of_work
from ledger.persistence.schema import COMMITS, JOURNALS, RECEIPTS
from ledger.queries.check import check_invariants

SECRET = "bench-secret"
STRIPE_SECRET = "whsec_bench_secret"
ADYEN_HMAC_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
STREAM = "arledger:gl"
GATEWAYS = ("native", "stripe", "adyen")
PATHS = {
    "native": "/v1/gateway/events",
    "stripe": "/v1/gateway/stripe",
    "adyen": "/v1/gateway/adyen",
}


@dataclass
class Sent:
    """One request of the run: when it was due, when its answer came, what it was."""

    due: float
    body: bytes
    retry: bool
    acked: float | None = None
    status: int | None = None
    receipt_id: int | None = None
    error: str | None = None


def event_body(index: int, occurred_at: str, gateway: str = "native") -> bytes:
    """Event ``index``: pays order B-index in full (three in four), in part, or names no order;
    in the gateway's own format."""
    owed = sum(order_lines(index))
    kind = index % 8
    if kind == 0:
        order, minor = f"NOPE-{index}", 4_200  # unknown order: received, unapplied
    elif kind in (1, 2):
        order, minor = f"B-{index}", owed // 2
    else:
        order, minor = f"B-{index}", owed
    if gateway == "stripe":
        return stripe_body(index, order, minor)
    if gateway == "adyen":
        return adyen_body(index, order, minor)
    return json.dumps(
        {
            "event_id": f"evt_{index}",
            "type": "payment.succeeded",
            "gateway": "bench",
            "payment_id": f"pay_{index}",
            "currency": "USD",
            "amount": str(Money.from_minor(minor, "USD")),
            "order": order,
            "customer": f"C-{customer_of(index)}",
            "occurred_at": occurred_at,
        },
        separators=(",", ":"),
    ).encode()


def stripe_body(index: int, order: str, minor: int) -> bytes:
    """A `payment_intent.succeeded` event as Stripe sends it (trimmed to what arledger reads)."""
    now = int(time.time())
    intent = {
        "id": f"pi_{index}",
        "object": "payment_intent",
        "amount": minor,
        "amount_received": minor,
        "currency": "usd",
        "created": now,
        "description": None,
        "metadata": {"order": order, "customer": f"C-{customer_of(index)}"},
        "status": "succeeded",
    }
    return json.dumps(
        {
            "id": f"evt_{index}",
            "object": "event",
            "created": now,
            "data": {"object": intent},
            "livemode": False,
            "type": "payment_intent.succeeded",
        },
        separators=(",", ":"),
    ).encode()


def adyen_body(index: int, order: str, minor: int) -> bytes:
    """A one-item `AUTHORISATION` notification, signed with the Adyen library."""
    item = {
        "amount": {"currency": "USD", "value": minor},
        "eventCode": "AUTHORISATION",
        "eventDate": datetime.now(UTC).isoformat(),
        "merchantAccountCode": "ArledgerBench",
        "merchantReference": order,
        "pspReference": f"PSP{index:012d}",
        "success": "true",
    }
    item["additionalData"] = {
        "hmacSignature": generate_notification_sig(item, ADYEN_HMAC_KEY).decode()
    }
    return json.dumps(
        {"live": "false", "notificationItems": [{"NotificationRequestItem": item}]},
        separators=(",", ":"),
    ).encode()


def headers_for(gateway: str, body: bytes) -> dict[str, str]:
    """The request's headers, the signature made at send time (it carries a timestamp)."""
    if gateway == "stripe":
        signature = stripe.WebhookSignature.generate_signature_header(body.decode(), STRIPE_SECRET)
        return {"Stripe-Signature": signature, "Content-Type": "application/json"}
    if gateway == "adyen":
        return {"Content-Type": "application/json"}  # the signature is in the body
    return {SIGNATURE_HEADER: sign(SECRET, body), "Content-Type": "application/json"}


def new_answer(gateway: str, status: int | None) -> bool:
    """Whether an answer says the event was new: the native webhook answers a new event 202, the
    gateways' own webhooks 200 whatever it was."""
    return status == (202 if gateway == "native" else 200)


class StreamReader(threading.Thread):
    """Reads the GL stream as the general ledger would, noting when each receipt's first journal
    arrives."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.first_seen: dict[int, float] = {}
        self.journals = 0
        self.journal_ids: set[int] = set()
        self.stopping = threading.Event()
        # Start after what is already there: the set-up's own journals are not the run's.
        last = self.client.xrevrange(STREAM, count=1)
        self.last_id = last[0][0] if last else b"0-0"

    def run(self) -> None:
        while not self.stopping.is_set():
            answer = self.client.xread({STREAM: self.last_id}, block=200, count=1000)
            now = time.perf_counter()
            for _, entries in answer:
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    journal = json.loads(fields[b"journal"])
                    self.journals += 1
                    self.journal_ids.add(journal["id"])
                    if journal["receipt"] is not None:
                        self.first_seen.setdefault(journal["receipt"], now)


class Connection:
    """One keep-alive HTTP/1.1 connection to the ingress. A minimal client on purpose: a general
    one (httpx) spends more CPU per request than the server under test once hundreds are queued,
    and would then measure itself."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n"
            f"{head}\r\n".encode()
            + body
        )
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, closing = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "connection" and "close" in value.lower():
                closing = True
        payload = await self.reader.readexactly(length)
        if closing:
            self.writer.close()
            self.reader = self.writer = None
        return status, payload


async def send_all(
    host: str,
    port: int,
    rate: float,
    seconds: float,
    connections: int = 64,
    gateway: str = "native",
) -> tuple[list[Sent], float]:
    """Send ``rate`` events per second for ``seconds``, open loop: each request is due at its
    time whether or not earlier ones have been answered, and waits for a free connection (of
    ``connections``) if none is — that wait counts in its latency."""
    total = int(rate * seconds)
    sent: list[Sent] = []
    queue: asyncio.Queue[Sent | None] = asyncio.Queue()

    async def connection_loop() -> None:
        connection = Connection(host, port)
        while (record := await queue.get()) is not None:
            headers = headers_for(gateway, record.body)
            try:
                status, payload = await connection.post(PATHS[gateway], record.body, headers)
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                record.error = f"{type(exc).__name__}: {exc}"
                connection = Connection(host, port)
                continue
            record.acked = time.perf_counter()
            record.status = status
            if status in (200, 202) and gateway != "adyen":
                record.receipt_id = json.loads(payload).get("receipt_id")
            else:
                record.error = payload[:200].decode(errors="replace")

    loops = [asyncio.create_task(connection_loop()) for _ in range(connections)]
    start = time.perf_counter() + 0.2
    previous = b""
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        # One request in twenty is the gateway retrying the event before it.
        if n % 20 == 19 and previous:
            record = Sent(due, previous, retry=True)
        else:
            occurred = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            record = Sent(due, event_body(n, occurred, gateway), retry=False)
            previous = record.body
        sent.append(record)
        queue.put_nowait(record)
    for _ in loops:
        queue.put_nowait(None)
    await asyncio.gather(*loops)
    return sent, time.perf_counter() - start


def adyen_receipts(database_url: str, sent: list[Sent]) -> None:
    """Adyen is answered ``[accepted]``, with no receipt id: find each item's receipt by its key
    (``gateway:adyen:<pspReference>:AUTHORISATION``) once the run has sent everything."""
    keys: dict[str, list[Sent]] = {}
    for record in sent:
        if record.status == 200:
            item = json.loads(record.body)["notificationItems"][0]["NotificationRequestItem"]
            keys.setdefault(f"gateway:adyen:{item['pspReference']}:AUTHORISATION", []).append(
                record
            )
    with unit_of_work(database_url) as session:
        rows = session.execute(
            select(RECEIPTS.c.external_key, RECEIPTS.c.id).where(
                RECEIPTS.c.external_key.in_(list(keys))
            )
        ).all()
    for key, receipt_id in rows:
        for record in keys[key]:  # the item and Adyen's retry of it
            record.receipt_id = int(receipt_id)


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (no interpolation): a value that was actually observed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(url: str, server: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the ingress never became healthy; see {server.log}")


def run(
    env: Environment,
    rate: float,
    seconds: float,
    drain: float,
    workdir: Path,
    server_processes: int = 2,
    gateway: str = "native",
) -> dict:
    events = int(rate * seconds)
    started = time.monotonic()
    generate_orders(env, events)
    publish_pending(env.settings)  # the set-up's journals are published before the clock starts
    generation = time.monotonic() - started
    dispose_engines()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    worker = start_worker(env, workdir)
    beat = Process(
        [ARLEDGER, "beat", "--loglevel", "WARNING", "--schedule", str(workdir / "beat-schedule")],
        env.env(),
        workdir / "beat.log",
    )
    server = Process(
        [ARLEDGER, "serve", "--port", str(port), "--workers", str(server_processes)],
        env.env(
            ARLEDGER_STRIPE_WEBHOOK_SECRET=STRIPE_SECRET, ARLEDGER_ADYEN_HMAC_KEY=ADYEN_HMAC_KEY
        ),
        workdir / "serve.log",
    )
    reader = StreamReader(env.sink_url)
    try:
        wait_healthy(url, server)
        reader.start()
        before = {
            "worker": cpu_seconds(worker.tree()),
            "server": cpu_seconds(server.tree()),
            "beat": cpu_seconds(beat.tree()),
            "postgres": cpu_seconds(postgres_pids()),
        }
        calibration = {"before": calibration_ms()}
        # The database stamps times by the wall clock; the run times by perf_counter.
        wall_offset = time.time() - time.perf_counter()
        sent, send_seconds = asyncio.run(
            send_all("127.0.0.1", port, rate, seconds, gateway=gateway)
        )
        if gateway == "adyen":
            adyen_receipts(env.database_url, sent)
        accepted = [
            r for r in sent if not r.retry and new_answer(gateway, r.status) and r.receipt_id
        ]
        deadline = time.perf_counter() + drain
        while time.perf_counter() < deadline:
            if all(r.receipt_id in reader.first_seen for r in accepted):
                break
            time.sleep(0.1)
        cpu = {
            "worker": cpu_seconds(worker.tree()) - before["worker"],
            "server": cpu_seconds(server.tree()) - before["server"],
            "beat": cpu_seconds(beat.tree()) - before["beat"],
            "postgres": cpu_seconds(postgres_pids()) - before["postgres"],
        }
        server_peak, worker_peak = server.tree_peak_mb(), worker.tree_peak_mb()
        calibration["after"] = calibration_ms()
    finally:
        reader.stopping.set()
        for process in (server, beat, worker):
            process.stop()
    reader.join(timeout=5)
    if any(r.status not in (200, 202) for r in sent):
        # The requests that failed are the ones to explain: show what the ingress logged.
        print(server.log.read_text(errors="replace")[-4000:], file=sys.stderr)
    with unit_of_work(env.database_url) as session:
        violations = check_invariants(session)
        legs = published_legs(session, accepted, reader.first_seen, wall_offset)
    acks = [r.acked - r.due for r in sent if r.acked is not None and r.status in (200, 202)]
    published = [
        reader.first_seen[r.receipt_id] - r.due
        for r in accepted
        if r.receipt_id in reader.first_seen
    ]
    failed = [r for r in sent if r.status not in (200, 202)]
    retries = [r for r in sent if r.retry]
    unpublished = [r for r in accepted if r.receipt_id not in reader.first_seen]
    return {
        "events": events - len(retries),
        "requests": len(sent),
        "retries": len(retries),
        "retries_answered_200": sum(1 for r in retries if r.status == 200),
        # A retry and its original race each other; whichever lands second is answered 200 with
        # the first one's receipt. Either way: one receipt per event.
        "distinct_receipts": len({r.receipt_id for r in sent if r.receipt_id is not None}),
        "rate": rate,
        "achieved_rate": round(len(sent) / send_seconds, 1),
        "ack_p50_ms": ms(percentile(acks, 0.50)),
        "ack_p99_ms": ms(percentile(acks, 0.99)),
        "ack_max_ms": ms(max(acks, default=None)),
        "published_p50_ms": ms(percentile(published, 0.50)),
        "published_p99_ms": ms(percentile(published, 0.99)),
        "published_max_ms": ms(max(published, default=None)),
        "lost": len(failed) + len(unpublished),
        "failed_requests": len(failed),
        "first_failures": sorted({r.error or str(r.status) for r in failed})[:5],
        "journals_on_stream": reader.journals,
        "invariant_violations": len(violations),
        "server_peak_mb": round(server_peak, 1),
        "worker_peak_mb": round(worker_peak, 1),
        "generation_seconds": round(generation, 1),
        "cpu_seconds": {name: round(value, 2) for name, value in cpu.items()},
        "published_legs_ms": legs,
        # The same fixed CPU work timed just before the load and just after it: how fast this
        # machine was at the time (see benchmarks.support.calibration_ms).
        "calibration_ms": calibration,
    }


LEGS = ("to_intake", "to_distribution", "distribution_locks_and_loads", "to_published")


def published_legs(
    session, accepted: list[Sent], first_seen: dict[int, float], wall_offset: float
) -> dict:
    """Where the time from due to published goes, per event, from the database's own stamps:
    the receipt's row written (``receipts.created_at``, the intake transaction's start), the
    distributing transaction begun (its commit's ``committed_at``), the orders locked and loaded
    (``receipts.processed_at``), and the journal read from the stream. Percentiles of each leg,
    and the mean of each over the slowest 1 % of events by published latency."""
    rows = session.execute(
        select(
            RECEIPTS.c.id,
            RECEIPTS.c.created_at,
            RECEIPTS.c.processed_at,
            func.min(COMMITS.c.committed_at),
        )
        .join(JOURNALS, JOURNALS.c.receipt_id == RECEIPTS.c.id)
        .join(COMMITS, COMMITS.c.id == JOURNALS.c.commit_id)
        .where(RECEIPTS.c.id.in_([r.receipt_id for r in accepted]))
        .group_by(RECEIPTS.c.id)
    ).all()
    stamps = {row[0]: row[1:] for row in rows}
    per_event: list[tuple[float, dict[str, float]]] = []
    for record in accepted:
        if record.receipt_id not in first_seen or record.receipt_id not in stamps:
            continue
        created, processed, begun = (stamp.timestamp() for stamp in stamps[record.receipt_id])
        due = record.due + wall_offset
        seen = first_seen[record.receipt_id] + wall_offset
        per_event.append(
            (
                seen - due,
                {
                    "to_intake": created - due,
                    "to_distribution": begun - created,
                    "distribution_locks_and_loads": processed - begun,
                    "to_published": seen - processed,
                },
            )
        )
    if not per_event:
        return {}
    per_event.sort(key=lambda item: item[0])
    slowest = [legs for _, legs in per_event[-max(1, len(per_event) // 100) :]]
    return {
        leg: {
            "p50": ms(percentile([legs[leg] for _, legs in per_event], 0.50)),
            "p99": ms(percentile([legs[leg] for _, legs in per_event], 0.99)),
            "slowest_1pct_mean": ms(sum(legs[leg] for legs in slowest) / len(slowest)),
        }
        for leg in LEGS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="events per second")
    parser.add_argument("--seconds", type=float, default=60, help="how long to send")
    parser.add_argument(
        "--drain", type=float, default=60, help="seconds to wait for the last journals"
    )
    parser.add_argument(
        "--server-processes", type=int, default=2, help="`arledger serve --workers` (default 2)"
    )
    parser.add_argument(
        "--gateway",
        choices=GATEWAYS,
        default="native",
        help="send native events, Stripe events or Adyen notifications (default native)",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    env = environment()
    try:
        with tempfile.TemporaryDirectory(prefix="arledger-gateway-") as directory:
            report = {
                **run(
                    env,
                    args.rate,
                    args.seconds,
                    args.drain,
                    Path(directory),
                    args.server_processes,
                    args.gateway,
                ),
                "gateway": args.gateway,
            }
            report["machine"] = machine()
    finally:
        env.close()
    print(
        f"{report['gateway']}: {report['events']} events at {report['achieved_rate']}/s: answer p50 {report['ack_p50_ms']} ms,"
        f" p99 {report['ack_p99_ms']} ms; published p50 {report['published_p50_ms']} ms,"
        f" p99 {report['published_p99_ms']} ms; lost {report['lost']}",
        file=sys.stderr,
    )
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
