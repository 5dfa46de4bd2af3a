"""The GL outbox publisher (docs/rules.md section 7): journals to the general ledger, in commit order.

Journals are written in the same transaction as the subledger change; each posting transaction is
one ledger commit, numbered in commit order (see ``ledger.persistence.journals.seal_commit``). The publisher holds
the cursor row's lock, reads the commits after the cursor in sequence order, hands their journals
— exactly the objects ``gl journals --json`` prints — to the sink, and only then moves the cursor.
A sink that fails raises before the cursor moves: the same journals go again next time, in the
same order, so delivery is at least once and never out of order. Consumers drop repeats by the
journal ``id`` every object carries.

Sinks: a JSON-lines file (one journal per line, UTF-8, appended and fsynced) or the Redis stream
``arledger:gl`` (one entry per journal, the journal JSON in field ``journal``).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import orjson

from config.settings import Settings
from ledger.persistence.outbox import Pending, Written
from ledger.persistence.unit_of_work import UnitOfWork, reading

STREAM = "arledger:gl"


class Sink(Protocol):
    """Where journals go. ``publish`` returns only once the sink holds them all."""

    def publish(self, journals: list[dict[str, Any]]) -> None: ...

    def describe(self) -> str: ...


class FileSink:
    """Appends one JSON object per line; flushed and fsynced before the cursor moves."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def publish(self, journals: list[dict[str, Any]]) -> None:
        if not journals:
            return
        payload = b"".join(
            orjson.dumps(journal, option=orjson.OPT_APPEND_NEWLINE) for journal in journals
        )
        with self.path.open("ab") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())

    def describe(self) -> str:
        return f"file {self.path}"


class RedisStreamSink:
    """XADDs each journal to the stream ``arledger:gl`` with the JSON in field ``journal``."""

    def __init__(self, url: str, stream: str = STREAM) -> None:
        import redis  # noqa: PLC0415 - only this sink needs the client

        self.url = url
        self.stream = stream
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def publish(self, journals: list[dict[str, Any]]) -> None:
        if not journals:
            return
        pipeline = self.client.pipeline(transaction=False)
        for journal in journals:
            pipeline.xadd(self.stream, {"journal": orjson.dumps(journal)})
        pipeline.execute()

    def describe(self) -> str:
        parsed = urlparse(self.url)
        return f"Redis stream {self.stream} at {parsed.hostname}:{parsed.port or 6379}{parsed.path}"


def sink_for(settings: Settings) -> Sink:
    """The sink ``ARLEDGER_GL_SINK`` names: ``redis://…``, ``file://…`` or a plain path."""
    target = settings.gl_sink
    if target.startswith(("redis://", "rediss://", "unix://")):
        return _redis_sink(target)
    if target.startswith("file://"):
        return FileSink(unquote(urlparse(target).path))
    return FileSink(target)


@cache
def _redis_sink(url: str) -> RedisStreamSink:
    # One client per process and URL, its connection pool reused from one publish to the next (a
    # connection per publish cost more than the XADDs); redis-py renews the pool after a fork.
    return RedisStreamSink(url)


# How long a publisher waits for another to finish before leaving the work to it (and asking
# again a moment later): long enough to cover a batch, short enough never to hold a worker.
LOCK_WAIT_MS = 2000


class PublisherBusy(Exception):
    """Another publisher holds the cursor; it delivers what is pending, in order."""


def publish_pending(
    settings: Settings,
    sink: Sink | None = None,
    *,
    max_commits: int = 500,
    written: Written | None = None,
) -> int:
    """Publish every unpublished journal, a bounded number of commits per transaction, and
    return how many journals went out. Raises whatever the sink raises, having marked nothing
    that the sink did not take.

    ``written`` is the commit this process has just made. When it is the next one the cursor
    waits for, its journals go as they were written, not read back; any other position reads.

    When another publisher is at work this one waits for it (up to ``LOCK_WAIT_MS``) and then
    publishes what is left — usually the commit that asked for this publish, a few milliseconds
    old — instead of leaving it for a later round. Raises PublisherBusy only when the other
    publisher holds the cursor longer than that (a slow sink); it delivers what is pending.
    """
    sink = sink or sink_for(settings)
    published = 0
    while True:
        taken = _publish_some(settings, sink, max_commits, written)
        written = None  # the first round published it, or found it delivered or behind others
        if taken is None:
            if published:
                return published
            raise PublisherBusy()
        commits, journals = taken
        published += journals
        # A round that took fewer commits than it could have left nothing behind that was there
        # when it looked. What commits after that asks for a publish of its own, so another round
        # here would only open a transaction to find the cursor caught up.
        if commits < max_commits:
            return published


def pending_after(uow: UnitOfWork, cursor: int, max_commits: int) -> Pending:
    """The journals of up to ``max_commits`` commits after ``cursor``, as ``gl journals --json``
    prints them. Read by the read model, which persistence must not import (it sits above it)."""
    # Imported here: the read models are slow to import, and only a publisher needs them.
    from ledger.queries.views import journals_after  # noqa: PLC0415

    return Pending(*journals_after(uow.session, cursor, max_commits))


def _publish_some(
    settings: Settings, sink: Sink, max_commits: int, written: Written | None
) -> tuple[int, int] | None:
    """One round: (commits, journals) delivered, or None when another publisher kept the
    cursor's lock longer than ``LOCK_WAIT_MS``."""
    with UnitOfWork(settings.database_url) as uow:
        # Every commit this process made is visible here; when the cursor has reached the clock,
        # they are all delivered already and there is no reason to queue for the cursor's lock.
        if uow.outbox.position_waiting_at_most(LOCK_WAIT_MS).caught_up:
            return 0, 0
        cursor = uow.outbox.lock_cursor()
        if cursor is None:
            return None
        if written is not None and cursor == written.seq - 1:
            # Sequence numbers are dense and given in commit order: the next commit is this one.
            pending = Pending(written.journals(), written.seq, 1)
        else:
            pending = pending_after(uow, cursor, max_commits)
        if pending.last_seq is None:
            return 0, 0
        sink.publish(pending.journals)
        uow.outbox.move_cursor(pending.last_seq)
        uow.commit()
        return pending.commits, len(pending.journals)


def unpublished_count(settings: Settings) -> int:
    """Journals committed but not yet delivered (0 is cheap to see: the cursor caught up with the
    clock)."""
    with reading(settings.database_url) as uow:
        position = uow.outbox.position()
        if position.caught_up:
            return 0
        return uow.outbox.journal_count_after(position.published)
