"""Round trips on the webhook's path, on SQLite and PostgreSQL.

A gateway batch holds a few receipts, so what it costs is mostly statements, not rows. These
tests pin the folds that keep it down: on PostgreSQL a posting inserts its ledger commit and
reserves the ids of every table it writes in one round trip, and a publish round's first look
also sets its lock wait; a publish that finds less than a full round pending does not open a
second transaction only to find the cursor caught up.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from config.settings import Settings
from ledger.outbox.publisher import publish_pending
from ledger.persistence.db import get_engine, is_postgres, unit_of_work
from ledger.persistence.repository import allocate_id_blocks, allocate_ids, open_commit
from ledger.persistence.schema import COMMITS, JOURNAL_LINES, JOURNALS
from tests.support.receipts import receive
from tests.support.sinks import FlakySink


@contextmanager
def statements(settings: Settings) -> Iterator[list[str]]:
    """The SQL texts run on this database while the block runs."""
    seen: list[str] = []
    engine = get_engine(settings.database_url)

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_ids_for_several_tables_come_ascending_and_fresh(loaded: Settings) -> None:
    with unit_of_work(loaded.database_url) as session:
        wanted = [(JOURNALS, 3), (COMMITS, 0), (JOURNAL_LINES, 5)]
        first = allocate_id_blocks(session, wanted)
        second = allocate_id_blocks(session, wanted)
    for block, again, (_, count) in zip(first, second, wanted, strict=True):
        assert len(block) == len(again) == count
        assert block == sorted(block)
        assert again == sorted(again)
        assert not set(block) & set(again)
        if block:
            assert min(again) > max(block)


def test_ids_for_several_tables_are_one_round_trip_on_postgresql(loaded: Settings) -> None:
    with unit_of_work(loaded.database_url) as session:
        allocate_id_blocks(session, [(COMMITS, 1)])  # learns the sequences' names, once
        with statements(loaded) as seen:
            blocks = allocate_id_blocks(session, [(COMMITS, 1), (JOURNALS, 4), (JOURNAL_LINES, 9)])
        postgres = is_postgres(session)
    assert [len(block) for block in blocks] == [1, 4, 9]
    # SQLite reads each table's highest id; PostgreSQL asks every sequence in one statement.
    assert len(seen) == (1 if postgres else 3)


def test_a_posting_opens_its_commit_with_its_ids_in_one_round_trip_on_postgresql(
    loaded: Settings,
) -> None:
    with unit_of_work(loaded.database_url) as session:
        allocate_id_blocks(session, [(JOURNALS, 1), (JOURNAL_LINES, 1)])  # learns the names, once
        with statements(loaded) as seen:
            commit_id, blocks = open_commit(
                session, [(JOURNALS, 2), (COMMITS, 0), (JOURNAL_LINES, 5)]
            )
        postgres = is_postgres(session)
        opened = session.execute(select(COMMITS.c.seq).where(COMMITS.c.id == commit_id)).one()
        after = allocate_id_blocks(session, [(JOURNALS, 1), (JOURNAL_LINES, 1)])
        next_commit = allocate_ids(session, COMMITS, 1)[0]
    assert [len(block) for block in blocks] == [2, 0, 5]
    assert all(block == sorted(block) for block in blocks)
    assert min(after[0]) > max(blocks[0]) and min(after[1]) > max(blocks[2])
    assert opened.seq is None  # inserted, not yet sealed
    assert next_commit > commit_id
    # SQLite: the commits' highest id, the insert, then each table's highest id.
    assert len(seen) == (1 if postgres else 4)


def test_a_publish_round_sets_its_lock_wait_in_its_first_statement(loaded: Settings) -> None:
    receive(loaded, 1)
    sink = FlakySink(set())
    with statements(loaded) as seen:
        assert publish_pending(loaded, sink) == len(sink.received) > 0
    ran = [sql for sql in seen if not sql.startswith("BEGIN")]
    assert not [sql for sql in ran if sql.lstrip().upper().startswith("SET")]
    with unit_of_work(loaded.database_url) as session:
        postgres = is_postgres(session)
    assert ("set_config" in ran[0]) is postgres


def test_a_publish_that_empties_the_outbox_takes_one_round(loaded: Settings) -> None:
    receive(loaded, 3)
    sink = FlakySink(set())
    with statements(loaded) as seen:
        published = publish_pending(loaded, sink)
    assert published == len(sink.received) > 0
    # The round starts by comparing the cursor with the clock; a second round would do so again.
    rounds = [sql for sql in seen if "last_seq" in sql and "published_seq" in sql]
    assert len(rounds) == 1
    with statements(loaded) as seen:
        assert publish_pending(loaded, sink) == 0
    # Caught up: one look and no lock taken (SQLite's BEGIN IMMEDIATE aside).
    assert [sql for sql in seen if not sql.startswith("BEGIN")] == [rounds[0]]


def test_a_full_round_is_followed_by_another(loaded: Settings) -> None:
    receive(loaded, 3)
    sink = FlakySink(set())
    with statements(loaded) as seen:
        publish_pending(loaded, sink, max_commits=1)
    rounds = [sql for sql in seen if "last_seq" in sql and "published_seq" in sql]
    # Three distributions plus the set-up's own commits, one per round, then one to see the end.
    with unit_of_work(loaded.database_url) as session:
        commits = session.execute(select(func.count()).select_from(COMMITS)).scalar_one()
    assert len(rounds) == commits + 1
