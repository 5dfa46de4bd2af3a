"""GL publishing under sink failures, and task retries on transient database errors.

A sink that fails delays publishing but never loses or reorders a journal: what reaches the sink
is every journal, in commit order, possibly with repeats of the same ids (at least once). A task
that meets a deadlock or a lost connection is retried with a short backoff by a real Celery
worker (``celery.contrib.testing.worker.start_worker``) until it succeeds.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date
from pathlib import Path

import pytest
import redis
from sqlalchemy.exc import OperationalError

from config.settings import Settings
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.outbox.publisher import (
    FileSink,
    RedisStreamSink,
    publish_pending,
    sink_for,
    unpublished_count,
)
from ledger.persistence.db import unit_of_work
from ledger.queries.views import journal_ids, journals_after
from ledger.services.distribution import distribute_receipts
from ledger.services.receipts import WriteOffRequest, create_write_off, submit_receipt
from tests.support.databases import statements
from tests.support.receipts import receive
from tests.support.sinks import FlakySink

NOV = date(2026, 11, 5)


def all_ids(settings: Settings) -> list[int]:
    with unit_of_work(settings.database_url) as session:
        return journal_ids(session)


def test_a_failing_sink_delays_publishing_but_never_loses_or_reorders_a_journal(loaded: Settings):
    receive(loaded, 12)
    sink = FlakySink(fail_on={1, 3})
    for _ in range(6):
        with contextlib.suppress(ConnectionError):
            publish_pending(loaded, sink, max_commits=4)
    received = [j["id"] for j in sink.received]
    expected = all_ids(loaded)
    first_seen = list(dict.fromkeys(received))
    assert first_seen == expected  # nothing lost, nothing out of order
    assert set(received) == set(expected) and len(received) > len(
        expected
    )  # repeats carry the same ids
    assert unpublished_count(loaded) == 0


def test_the_file_sink_appends_one_journal_object_per_line(loaded: Settings, tmp_path: Path):
    receive(loaded, 3)
    sink = FileSink(tmp_path / "gl.jsonl")
    assert publish_pending(loaded, sink) == len(all_ids(loaded))
    lines = (tmp_path / "gl.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == all_ids(loaded)
    assert publish_pending(loaded, sink) == 0  # published journals are not sent again


def test_an_unwritable_file_sink_keeps_the_journals_for_later(loaded: Settings, tmp_path: Path):
    receive(loaded, 2)
    blocked = tmp_path / "no-such-dir" / "gl.jsonl"
    with pytest.raises(OSError):
        publish_pending(loaded, FileSink(blocked))
    assert unpublished_count(loaded) == len(all_ids(loaded))
    blocked.parent.mkdir()
    publish_pending(loaded, FileSink(blocked))
    assert [json.loads(line)["id"] for line in blocked.read_text().splitlines()] == all_ids(loaded)


def test_an_unreachable_redis_stream_keeps_the_journals_then_delivers_them_in_order(
    loaded: Settings, redis_url: str
):
    redis.Redis.from_url(redis_url).delete("arledger:gl")
    receive(loaded, 4)
    with pytest.raises(redis.ConnectionError):
        publish_pending(loaded, RedisStreamSink("redis://127.0.0.1:1/0"))
    assert unpublished_count(loaded) > 0
    publish_pending(loaded, sink_for(loaded.model_copy(update={"gl_sink": redis_url})))
    entries = redis.Redis.from_url(redis_url).xrange("arledger:gl")
    assert [json.loads(fields[b"journal"])["id"] for _, fields in entries] == all_ids(loaded)
    redis.Redis.from_url(redis_url).delete("arledger:gl")


def test_sinks_are_chosen_from_the_setting(tmp_path: Path):
    assert isinstance(sink_for(Settings(gl_sink=str(tmp_path / "a.jsonl"))), FileSink)
    assert sink_for(Settings(gl_sink=f"file://{tmp_path}/b.jsonl")).path == tmp_path / "b.jsonl"  # type: ignore[attr-defined]
    assert isinstance(sink_for(Settings(gl_sink="redis://127.0.0.1:6379/3")), RedisStreamSink)


def test_a_task_meeting_transient_database_errors_is_retried_by_a_real_worker(
    loaded: Settings, monkeypatch
):
    from celery.contrib.testing.worker import start_worker

    from tasks import jobs
    from tasks.celery_tasks import register
    from workers.celery_app import celery_app

    calls: list[list[int]] = []
    real = jobs.distribute

    def flaky(settings: Settings, receipt_ids: list[int], **options: int) -> jobs.Outcome:
        calls.append(receipt_ids)
        if len(calls) <= 2:
            raise OperationalError("SELECT", {}, Exception("deadlock detected"))
        return real(settings, receipt_ids, **options)

    monkeypatch.setattr(jobs, "distribute", flaky)
    monkeypatch.setattr("tasks.celery_tasks.get_settings", lambda: loaded)
    monkeypatch.setattr("tasks.dispatch.publish", lambda settings, **_: None)
    amount = Money.parse("25.00", "USD")
    intake = submit_receipt(
        loaded,
        ReceiptRequest(
            "operator", "RETRY-1", amount, date(2026, 11, 5), allocations=(("O-100", amount),)
        ),
    )
    app = celery_app(loaded.model_copy(update={"broker_url": "memory://"}))
    register(app)
    app.conf.update(task_default_queue="receipts", broker_connection_retry_on_startup=False)
    with start_worker(
        app, perform_ping_check=False, queues=["receipts"], pool="solo", shutdown_timeout=10
    ):
        app.send_task("arledger.distribute_receipts", args=[[intake.receipt_id]], queue="receipts")
        import time

        deadline = time.monotonic() + 30
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    assert len(calls) == 3  # two transient failures, then success
    with unit_of_work(loaded.database_url) as session:
        assert len(journal_ids(session, journal_type="RECEIPT")) == 1


def test_tasks_retry_only_transient_errors_with_short_backoff():
    from ledger.persistence.db import TRANSIENT_ERRORS
    from tasks.celery_tasks import ArledgerTask

    assert OperationalError in TRANSIENT_ERRORS and ConnectionError in TRANSIENT_ERRORS
    # No countdown beyond a few seconds (docs/rules.md section 8).
    assert ArledgerTask.retry_backoff_max <= 5
    assert ArledgerTask.autoretry_for == TRANSIENT_ERRORS


def test_a_workers_publish_that_fails_after_its_batch_hands_over_to_the_gl_task(
    loaded: Settings, clean_redis: str, monkeypatch
):
    from tasks import dispatch, jobs

    def lost_connection(settings: Settings, written: object = None) -> jobs.Outcome:
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(jobs, "publish", lost_connection)
    broker = redis.Redis.from_url(clean_redis)
    settings = loaded.model_copy(update={"broker_url": clean_redis})

    result = dispatch.publish(settings, here=True)  # what a worker runs after its batch commits

    assert result == {"published": 0, "error": "OperationalError"}  # the batch is not failed
    messages = [json.loads(raw) for raw in broker.lrange("gl", 0, -1)]
    # One publish_gl message: the task that retries with backoff, where the batch would not.
    assert [m["headers"]["task"] for m in messages] == ["arledger.publish_gl"]


def test_a_publish_that_finds_the_cursor_held_asks_again_within_a_few_seconds(
    loaded: Settings, clean_redis: str, monkeypatch
):
    from datetime import UTC, datetime

    from tasks import dispatch, jobs

    monkeypatch.setattr(
        jobs,
        "publish",
        lambda settings, written=None: jobs.Outcome({"published": 0}, publish_later=True),
    )
    broker = redis.Redis.from_url(clean_redis)
    settings = loaded.model_copy(update={"broker_url": clean_redis})

    asked_at = datetime.now(UTC)
    dispatch.publish(settings, here=True)

    (message,) = [json.loads(raw) for raw in broker.lrange("gl", 0, -1)]
    assert message["headers"]["task"] == "arledger.publish_gl"
    # docs/rules.md section 8: never an ETA or countdown beyond a few seconds.
    eta = datetime.fromisoformat(message["headers"]["eta"])
    assert 0 < (eta - asked_at).total_seconds() <= 2


# --- a worker publishes the batch it wrote ------------------------------------------------------


def _mixed_batch(settings: Settings) -> list[int]:
    """Queued receipts whose batch writes every kind of journal a distribution writes: payments,
    a reversal of a write-off a later overpayment pays back, unapplied money with and without an
    order, a split check."""
    create_write_off(settings, WriteOffRequest("O-100", 1, "25.00", "BAD_DEBT", posting_date=NOV))
    usd = lambda text: Money.parse(text, "USD")  # noqa: E731
    requests = [
        # O-100 owes 325.00 after the write-off: 340.00 pays it, reverses the write-off, and
        # leaves the rest unapplied on the order's customer.
        ReceiptRequest("operator", "W-1", usd("340.00"), NOV, allocations=(("O-100", usd("340.00")),)),
        ReceiptRequest("operator", "W-2", usd("30.00"), NOV, allocations=(("O-101", usd("30.00")),)),
        ReceiptRequest(
            "operator", "W-3", usd("50.00"), NOV,
            allocations=(("O-101", usd("20.00")), ("O-102", usd("30.00"))), customer="C-2",
        ),
        ReceiptRequest("operator", "W-4", usd("12.00"), NOV, allocations=(("O-404", usd("12.00")),)),
    ]  # fmt: skip
    return [submit_receipt(settings, request).receipt_id for request in requests]


def test_a_worker_publishes_the_batch_it_wrote_exactly_as_a_read_of_it(loaded: Settings):
    """The batch's journals go as written, in the three statements of the cursor alone, and are
    the objects a read of that commit gives (``gl journals --json``), byte for byte."""
    ids = _mixed_batch(loaded)
    publish_pending(loaded, FlakySink(set()))  # the sample's and the write-off's journals
    batch = distribute_receipts(loaded, ids)
    assert batch.written is not None
    sink = FlakySink(set())
    with statements(loaded) as seen:
        published = publish_pending(loaded, sink, written=batch.written)
    with unit_of_work(loaded.database_url) as session:
        read, last, commits = journals_after(session, batch.written.seq - 1, 1)
    assert (last, commits) == (batch.written.seq, 1)
    assert published == len(sink.received) == len(read)
    assert [json.dumps(j) for j in sink.received] == [json.dumps(j) for j in read]
    kinds = {journal["type"] for journal in read}
    assert {"RECEIPT", "WRITE_OFF_REVERSAL", "UNAPPLIED"} <= kinds, kinds
    assert any(journal["write_off"] is not None for journal in read)
    assert len(seen) <= 3  # where the cursor is, its lock, its move: no read of the journals
    assert unpublished_count(loaded) == 0


def test_a_batch_behind_another_unpublished_commit_is_read_with_it_in_commit_order(
    loaded: Settings,
):
    """Written journals are only a shortcut for the next commit: a batch behind others is read
    back with them, in order; one already delivered is not sent again."""
    ids = _mixed_batch(loaded)
    publish_pending(loaded, FlakySink(set()))
    first = distribute_receipts(loaded, ids[:2])
    second = distribute_receipts(loaded, _mixed_batch_more(loaded))
    assert first.written is not None and second.written is not None
    sink = FlakySink(set())
    publish_pending(loaded, sink, written=second.written)
    with unit_of_work(loaded.database_url) as session:
        expected, last, commits = journals_after(session, first.written.seq - 1, 10)
    assert (last, commits) == (second.written.seq, 2)
    assert [j["id"] for j in sink.received] == [j["id"] for j in expected]
    assert sink.received == expected
    again = FlakySink(set())
    assert publish_pending(loaded, again, written=second.written) == 0
    assert again.received == []


def _mixed_batch_more(settings: Settings) -> list[int]:
    amount = Money.parse("5.00", "USD")
    request = ReceiptRequest("operator", "W-5", amount, NOV, allocations=(("O-102", amount),))
    return [submit_receipt(settings, request).receipt_id]
