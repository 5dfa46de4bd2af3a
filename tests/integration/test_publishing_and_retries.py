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
from ledger.queries.views import journal_ids
from ledger.services.receipts import submit_receipt
from tests.support.receipts import receive
from tests.support.sinks import FlakySink


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

    def lost_connection(settings: Settings) -> jobs.Outcome:
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
        jobs, "publish", lambda settings: jobs.Outcome({"published": 0}, publish_later=True)
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
