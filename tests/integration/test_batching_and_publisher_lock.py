"""The two mechanisms that keep the gateway path fast, held to their rules.

Top-up: a receipts task takes the oldest queued receipts with it, in id order, and never waits for
receipts another transaction holds (PostgreSQL, SKIP LOCKED); the messages of the receipts it took
then find nothing left to do. Publisher lock: a publisher that finds another at work waits for it
and delivers what is left instead of giving up; it gives up (PublisherBusy) only after the bounded
wait; and one that is already caught up never queues for the lock at all.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, text

from config.settings import Settings
from ledger.intake.inputs import validate_load_file
from ledger.outbox import publisher
from ledger.outbox.publisher import PublisherBusy, publish_pending, unpublished_count
from ledger.persistence.db import get_engine, unit_of_work
from ledger.persistence.schema import JOURNALS, RECEIPTS
from ledger.queries.check import check_invariants
from ledger.services.receipts import load_file
from tasks import jobs
from tests.support.databases import reset_postgres
from tests.support.paths import SAMPLE
from tests.support.receipts import submit_receipts


def queue_receipts(settings: Settings, count: int, prefix: str = "TOP") -> list[int]:
    return submit_receipts(settings, prefix, count, automated=True)


def statuses(settings: Settings) -> dict[int, str]:
    with unit_of_work(settings.database_url) as session:
        return dict(session.execute(select(RECEIPTS.c.id, RECEIPTS.c.status)).all())


def test_a_receipts_task_takes_the_oldest_queued_receipts_with_it(loaded: Settings):
    ids = queue_receipts(loaded, 5)
    outcome = jobs.distribute(loaded, [ids[-1]], top_up=3)
    assert outcome.result["distributed"] == 4
    now = statuses(loaded)
    assert [now[i] for i in ids] == ["applied"] * 3 + ["queued", "applied"]
    with unit_of_work(loaded.database_url) as session:
        posted = session.execute(
            select(JOURNALS.c.receipt_id)
            .where(JOURNALS.c.receipt_id.is_not(None))
            .order_by(JOURNALS.c.id)
        ).scalars()
        # One batch, rules applied receipt by receipt in id order: oldest money first.
        assert list(dict.fromkeys(posted)) == [ids[0], ids[1], ids[2], ids[4]]
    # The messages of the receipts it took arrive later and find nothing to do.
    again = jobs.distribute(loaded, [ids[0], ids[1]], top_up=0)
    assert again.result["distributed"] == 0
    assert jobs.distribute(loaded, [ids[3]]).result["distributed"] == 1
    with unit_of_work(loaded.database_url) as session:
        assert check_invariants(session) == []


def test_a_redelivered_message_still_tops_up_the_queued_receipts(loaded: Settings):
    # Its own receipt is already applied, so the batch excludes nothing it holds and takes the
    # oldest queued receipts as usual.
    ids = queue_receipts(loaded, 3)
    assert jobs.distribute(loaded, [ids[0]]).result["distributed"] == 1
    outcome = jobs.distribute(loaded, [ids[0]], top_up=5)
    assert outcome.result["distributed"] == 2
    assert [statuses(loaded)[i] for i in ids] == ["applied"] * 3


def test_without_top_up_a_task_distributes_only_its_own_receipts(loaded: Settings):
    ids = queue_receipts(loaded, 3)
    assert jobs.distribute(loaded, [ids[1]]).result["distributed"] == 1
    assert [statuses(loaded)[i] for i in ids] == ["queued", "applied", "queued"]


@pytest.fixture
def pg_loaded(pg_run_database: str) -> Settings:
    reset_postgres(pg_run_database)
    settings = Settings(database_url=pg_run_database, broker_url=None, gl_sink="/dev/null")
    load_file(settings, validate_load_file(SAMPLE.read_bytes()))
    publish_pending(settings, _Discard())
    return settings


class _Discard:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def publish(self, journals: list[dict[str, Any]]) -> None:
        self.received.extend(journals)

    def describe(self) -> str:
        return "a list"


class Holder(threading.Thread):
    """Holds a row lock in its own transaction until told to let go."""

    def __init__(self, url: str, statement: str) -> None:
        super().__init__(daemon=True)
        self.url, self.statement = url, statement
        self.locked = threading.Event()
        self.release = threading.Event()

    def run(self) -> None:
        with get_engine(self.url).connect() as connection:
            connection.execute(text(self.statement))
            self.locked.set()
            self.release.wait(30)
            connection.rollback()

    def __enter__(self) -> Holder:
        self.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.join(10)


def test_top_up_never_waits_for_receipts_another_transaction_holds(pg_loaded: Settings):
    ids = queue_receipts(pg_loaded, 4)
    with Holder(pg_loaded.database_url, f"SELECT id FROM receipts WHERE id = {ids[0]} FOR UPDATE"):
        started = time.monotonic()
        outcome = jobs.distribute(pg_loaded, [ids[3]], top_up=10)
        assert time.monotonic() - started < 5
    assert outcome.result["distributed"] == 3
    assert [statuses(pg_loaded)[i] for i in ids] == ["queued"] + ["applied"] * 3


CURSOR_LOCK = "SELECT published_seq FROM publisher_cursor WHERE id = 1 FOR UPDATE"


def test_a_publisher_waits_for_another_and_delivers_what_is_left(pg_loaded: Settings):
    ids = queue_receipts(pg_loaded, 2)
    jobs.distribute(pg_loaded, ids)
    pending = unpublished_count(pg_loaded)
    assert pending > 0
    sink = _Discard()
    result: dict[str, Any] = {}

    def publish() -> None:
        try:
            result["published"] = publish_pending(pg_loaded, sink)
        except PublisherBusy:
            result["published"] = "busy"

    with Holder(pg_loaded.database_url, CURSOR_LOCK):
        waiting = threading.Thread(target=publish)
        waiting.start()
        time.sleep(0.3)
        assert waiting.is_alive(), "the publisher gave up instead of waiting"
    waiting.join(10)
    assert result["published"] == pending
    assert len(sink.received) == pending
    assert unpublished_count(pg_loaded) == 0


def test_a_publisher_gives_up_after_the_bounded_wait(
    pg_loaded: Settings, monkeypatch: pytest.MonkeyPatch
):
    jobs.distribute(pg_loaded, queue_receipts(pg_loaded, 1))
    monkeypatch.setattr(publisher, "LOCK_WAIT_MS", 200)
    with Holder(pg_loaded.database_url, CURSOR_LOCK):
        started = time.monotonic()
        with pytest.raises(PublisherBusy):
            publish_pending(pg_loaded, _Discard())
        # The patched wait, not the default of 2 s: the round's first statement set it.
        assert time.monotonic() - started < 1.5
    assert unpublished_count(pg_loaded) > 0  # nothing marked published that was not delivered


def test_a_caught_up_publisher_does_not_queue_for_the_lock(pg_loaded: Settings):
    assert unpublished_count(pg_loaded) == 0
    with Holder(pg_loaded.database_url, CURSOR_LOCK):
        started = time.monotonic()
        assert publish_pending(pg_loaded, _Discard()) == 0
        assert time.monotonic() - started < 1
