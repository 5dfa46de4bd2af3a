"""The message-driven pipeline on real services: PostgreSQL, Redis (broker and GL stream), RabbitMQ,
and `arledger worker` / `arledger beat` subprocesses.

A signed gateway event ends as a journal on the Redis stream; a lockbox file ends with every
check distributed and every journal published; the same event and the same file twice apply
once; tasks lost from the broker are recovered by the sweep; a pickled message is refused, never
deserialised; a malformed message becomes a poison message in the exception queue.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from config.settings import Settings
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.intake.inputs import validate_load_file
from ledger.intake.lockbox import LockboxItem, write_bai
from ledger.intake.signature import sign
from ledger.outbox.publisher import unpublished_count
from ledger.persistence import schema
from ledger.persistence.db import dispose_engines, unit_of_work
from ledger.queries.check import check_invariants
from ledger.queries.views import exceptions_view, journal_ids
from ledger.services.receipts import load_file, submit_receipt
from tasks import dispatch
from tests.support.databases import reset_postgres
from tests.support.paths import SAMPLE
from tests.support.processes import ARLEDGER, pipeline_env, wait_until
from tests.support.receipts import submit_receipts
from workers.ingress import create_app

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def stream_journals(url: str) -> list[dict]:
    entries = redis.Redis.from_url(url).xrange("arledger:gl")
    return [json.loads(fields[b"journal"]) for _, fields in entries]


def journal_count(settings: Settings) -> int:
    with unit_of_work(settings.database_url) as session:
        return len(journal_ids(session))


def pending(settings: Settings) -> int:
    with unit_of_work(settings.database_url) as session:
        return session.execute(
            select(func.count())
            .select_from(schema.Receipt)
            .where(schema.Receipt.status == "queued")
        ).scalar_one()


@pytest.fixture
def pipeline(pg_run_database: str, clean_redis: str) -> Settings:
    reset_postgres(pg_run_database)
    settings = Settings(
        database_url=pg_run_database,
        broker_url=clean_redis,
        gl_sink=clean_redis,
        webhook_secret=SecretStr("whsec-integration"),
    )
    load_file(settings, validate_load_file(SAMPLE.read_bytes()))
    dispose_engines()
    return settings


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    assert settings.broker_url is not None
    return pipeline_env(settings.database_url, settings.broker_url, settings.gl_sink, **extra)


def sample_lockbox(path: Path, items: int, *, bank_file_id: str = "BANKFILE1") -> Path:
    orders = ["O-100", "O-101", "O-102", "O-404"]
    # Each check names the customer whose order it names (C-3's O-102 bills to C-2): a named
    # order of another customer than the named one is never paid (docs/rules.md section 14).
    customers = ["C-1", "C-2", "C-3", "C-1"]
    checks = (
        LockboxItem(
            batch=f"{1 + i // 50:03d}",
            item=f"{i % 50 + 1:04d}",
            deposit_date=date(2026, 11, 6),
            check_number=f"{10_000 + i}",
            amount=Money.from_minor(1_000 + 7 * i, "USD"),
            customer=customers[i % 4],
            allocations=((orders[i % 4], Money.from_minor(1_000 + 7 * i, "USD")),),
            line=0,
        )
        for i in range(items)
    )
    with path.open("w") as handle:
        write_bai(checks, handle, bank_file_id=bank_file_id, created=date(2026, 11, 6))
    return path


def test_a_signed_gateway_event_ends_as_a_journal_on_the_redis_stream(pipeline, start_worker):
    start_worker(env_for(pipeline))
    client = TestClient(create_app(pipeline))
    body = json.dumps(
        {
            "event_id": "evt_1",
            "type": "payment.succeeded",
            "gateway": "stripe",
            "payment_id": "pi_1",
            "amount": "120.00",
            "currency": "USD",
            "order": "O-101",
            "occurred_at": "2026-11-05T10:00:00Z",
        }
    ).encode()
    response = client.post(
        "/v1/gateway/events",
        content=body,
        headers={"X-Arledger-Signature": sign("whsec-integration", body)},
    )
    assert response.status_code == 202
    receipt_id = response.json()["receipt_id"]
    wait_until(
        lambda: any(
            j["type"] == "RECEIPT" and j["receipt"] == receipt_id
            for j in stream_journals(pipeline.gl_sink)
        ),
        what="the RECEIPT journal on the stream",
    )
    receipt = next(j for j in stream_journals(pipeline.gl_sink) if j["type"] == "RECEIPT")
    assert receipt["lines"][0] == {
        "account": "1000",
        "debit": "120.00",
        "credit": "0.00",
        "order": "O-101",
    }
    # The same event again: 200, nothing new anywhere.
    again = client.post(
        "/v1/gateway/events",
        content=body,
        headers={"X-Arledger-Signature": sign("whsec-integration", body)},
    )
    assert again.status_code == 200 and again.json()["receipt_id"] == receipt_id
    time.sleep(1)
    with unit_of_work(pipeline.database_url) as session:
        assert len(journal_ids(session, journal_type="RECEIPT")) == 1
        assert check_invariants(session) == []


def test_a_lockbox_file_ends_with_every_item_distributed_and_published(
    pipeline, start_worker, tmp_path
):
    start_worker(env_for(pipeline))
    path = sample_lockbox(tmp_path / "bank.txt", 240)
    result = subprocess.run(
        [ARLEDGER, "lockbox", "import", str(path), "--json"],
        env=env_for(pipeline),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["items"], summary["pending_items"], summary["refused_items"]) == (240, 0, 0)
    assert summary["unapplied_items"] == 60  # every fourth check names O-404, which does not exist
    wait_until(
        lambda: (
            len({j["id"] for j in stream_journals(pipeline.gl_sink)}) == journal_count(pipeline)
        ),
        what="every journal on the stream",
    )
    # At least once, in commit order: a repeat (a sink timeout after Redis took the entries)
    # carries the same id, and the first occurrences are every journal in posting order.
    published = list(dict.fromkeys(j["id"] for j in stream_journals(pipeline.gl_sink)))
    with unit_of_work(pipeline.database_url) as session:
        assert published == journal_ids(session)
        assert check_invariants(session) == []

    again = subprocess.run(
        [ARLEDGER, "lockbox", "import", str(path)],
        env=env_for(pipeline),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 2 and "duplicate" in again.stderr
    renamed = tmp_path / "bank-resent.txt"
    renamed.write_bytes(path.read_bytes())
    assert (
        subprocess.run(
            [ARLEDGER, "lockbox", "import", str(renamed)],
            env=env_for(pipeline),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).returncode
        == 2
    )
    assert journal_count(pipeline) == len(published)


def test_a_distribution_task_publishes_its_own_journals_without_a_publish_message(
    pipeline, start_worker
):
    # A worker that does not consume the gl queue, and no beat: only the distribution tasks
    # themselves can have put these journals on the stream.
    start_worker(env_for(pipeline), "worker", "--concurrency", "2", "--queues", "receipts")
    ids = submit_receipts(pipeline, "INLINE", 12)
    dispatch.distribute(pipeline.model_copy(update={"batch_size": 4}), ids)  # three messages
    wait_until(
        lambda: {j["receipt"] for j in stream_journals(pipeline.gl_sink)} >= set(ids),
        what="every RECEIPT journal on the stream",
    )
    broker = redis.Redis.from_url(pipeline.broker_url)
    assert [key for key in broker.keys("gl*") if broker.type(key) == b"list"] == []
    with unit_of_work(pipeline.database_url) as session:
        assert list(dict.fromkeys(j["id"] for j in stream_journals(pipeline.gl_sink))) == (
            journal_ids(session)
        )
        assert check_invariants(session) == []


def test_a_sink_that_fails_after_a_batch_committed_neither_fails_nor_repeats_the_batch(
    pipeline, start_worker
):
    nothing_listens = "redis://127.0.0.1:1/0"
    start_worker(env_for(pipeline.model_copy(update={"gl_sink": nothing_listens})))
    ids = submit_receipts(pipeline, "SINKLESS", 3)
    before = unpublished_count(pipeline)  # the sample's own journals, never published here
    dispatch.distribute(pipeline, ids)
    wait_until(lambda: pending(pipeline) == 0, what="the receipts distributed")
    time.sleep(1)  # room for a retry or a poison message, were the failure the task's
    with unit_of_work(pipeline.database_url) as session:
        assert [item for item in exceptions_view(session) if item["kind"] == "message"] == []
        assert len(journal_ids(session, journal_type="RECEIPT")) == 3
        assert check_invariants(session) == []
    assert unpublished_count(pipeline) == before + 3  # kept in the outbox for the next publish


def test_tasks_lost_from_the_broker_are_recovered_by_the_sweep(pipeline, start_worker):
    ids = submit_receipts(pipeline, "LOST", 30)
    dispatch.distribute(pipeline, ids)  # the messages go to Redis...
    redis.Redis.from_url(pipeline.broker_url).flushdb()  # ...and Redis loses them
    assert pending(pipeline) == 30
    start_worker(env_for(pipeline, ARLEDGER_SWEEP_GRACE_SECONDS="0"))
    time.sleep(1)
    assert pending(pipeline) == 30  # nothing left on the broker to deliver
    dispatch.sweep(pipeline.model_copy(update={"sweep_grace_seconds": 0.0}))
    wait_until(lambda: pending(pipeline) == 0, what="the sweep's redelivery")
    with unit_of_work(pipeline.database_url) as session:
        assert len(journal_ids(session, journal_type="RECEIPT")) == 30
        assert check_invariants(session) == []


def test_beat_publishes_journals_nobody_asked_to_publish(pipeline, start_worker, tmp_path):
    start_worker(env_for(pipeline))
    start_worker(
        env_for(pipeline),
        "beat",
        "--schedule",
        str(tmp_path / "beat-schedule"),
        ready="beat: Starting",
    )
    wait_until(
        lambda: len(stream_journals(pipeline.gl_sink)) == journal_count(pipeline) > 0,
        what="beat's publisher",
    )
    assert [j["type"] for j in stream_journals(pipeline.gl_sink)] == ["SALE", "SALE", "SALE"]


def test_a_pickled_message_is_refused_and_never_deserialised(pipeline, start_worker, tmp_path):
    import pickle

    from kombu import Connection

    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    worker = start_worker(env_for(pipeline))
    with Connection(pipeline.broker_url) as connection:
        producer = connection.Producer()
        producer.publish(
            pickle.dumps(((Exploit(),), {}, {})),
            routing_key="receipts",
            content_type="application/x-python-serialize",
            content_encoding="binary",
            headers={"task": "arledger.distribute_receipts", "id": "evil-1", "lang": "py"},
        )
    wait_until(
        lambda: (
            "ContentDisallowed" in worker.log.read_text()
            or "disallowed" in worker.log.read_text().lower()
        ),
        what="the refusal in the worker log",
    )
    assert not marker.exists()
    # The worker is still serving.
    amount = Money.parse("10.00", "USD")
    intake = submit_receipt(
        pipeline,
        ReceiptRequest(
            "operator", "AFTER", amount, date(2026, 11, 5), allocations=(("O-100", amount),)
        ),
    )
    dispatch.distribute(pipeline, [intake.receipt_id])
    wait_until(lambda: pending(pipeline) == 0, what="the next message")


def test_a_malformed_message_becomes_a_poison_message_in_the_exception_queue(
    pipeline, start_worker
):
    start_worker(env_for(pipeline))
    dispatch.send(pipeline, "arledger.distribute_receipts", [["not", "ids"]])
    dispatch.send(pipeline, "arledger.process_event", [987654])

    def poisoned() -> list[dict]:
        with unit_of_work(pipeline.database_url) as session:
            return [item for item in exceptions_view(session) if item["kind"] == "message"]

    wait_until(lambda: len(poisoned()) == 2, what="two poison messages")
    reasons = {item["task"]: item["reason"] for item in poisoned()}
    assert "malformed message" in reasons["arledger.distribute_receipts"]
    assert "unknown event 987654" in reasons["arledger.process_event"]


def test_the_same_pipeline_runs_on_rabbitmq(pipeline, start_worker, tmp_path):
    from kombu import Connection

    with Connection(RABBITMQ, connect_timeout=5) as connection:
        try:
            connection.ensure_connection(max_retries=3)
        except Exception as exc:
            pytest.fail(
                f"RabbitMQ is required for this test and is not reachable at {RABBITMQ}: {exc}",
                pytrace=False,
            )
        channel = connection.channel()
        for queue in ("receipts", "lockbox", "gl"):
            try:
                channel.queue_purge(queue)
            except Exception:
                channel = connection.channel()
    rabbit = pipeline.model_copy(update={"broker_url": RABBITMQ})
    start_worker(env_for(rabbit))
    path = sample_lockbox(tmp_path / "rabbit.txt", 60, bank_file_id="RABBIT1")
    result = subprocess.run(
        [ARLEDGER, "lockbox", "import", str(path), "--json"],
        env=env_for(rabbit),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pending_items"] == 0
    wait_until(
        lambda: len(stream_journals(pipeline.gl_sink)) == journal_count(pipeline),
        what="every journal on the stream",
    )
    with unit_of_work(pipeline.database_url) as session:
        assert check_invariants(session) == []
