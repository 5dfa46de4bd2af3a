"""Round trips on the webhook's path, on SQLite and PostgreSQL: budgets, not exact counts.

A gateway batch holds a few receipts, so what it costs is mostly statements, not rows. These
tests hold each step to at most the statements it takes today (an intake, a batch, a publish),
so a refactor of persistence may take fewer but never more, and pin the folds that keep them
down: on PostgreSQL a posting inserts its ledger commit and reserves the ids of every table it
writes in one round trip, and a publish round's first look also sets its lock wait; a publish
that finds less than a full round pending does not open a second transaction only to find the
cursor caught up. SQLite's ``BEGIN IMMEDIATE`` is not counted: PostgreSQL's BEGIN is implicit.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from config.settings import Settings
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.intake.gateway import GatewayEvent
from ledger.outbox.publisher import publish_pending, unpublished_count
from ledger.persistence.bulk import allocate_id_blocks, allocate_ids, open_commit
from ledger.persistence.db import is_postgres, unit_of_work
from ledger.persistence.schema import COMMITS, JOURNAL_LINES, JOURNALS
from ledger.services.distribution import distribute_receipts
from ledger.services.events import submit_event
from ledger.services.operations import sweep
from ledger.services.receipts import submit_automated, submit_receipt
from tests.support.databases import statements
from tests.support.receipts import paying_o100, receive
from tests.support.sinks import FlakySink


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
    assert len(seen) <= (1 if postgres else 3)


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
    assert len(seen) <= (1 if postgres else 4)


def test_a_publish_round_sets_its_lock_wait_in_its_first_statement(loaded: Settings) -> None:
    receive(loaded, 1)
    sink = FlakySink(set())
    with statements(loaded) as seen:
        assert publish_pending(loaded, sink) == len(sink.received) > 0
    ran = seen
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
    # Caught up: at most one look, and no lock taken.
    assert len(seen) <= 1
    assert not [sql for sql in seen if "FOR UPDATE" in sql.upper()]


def test_a_full_round_is_followed_by_another(loaded: Settings) -> None:
    receive(loaded, 3)
    sink = FlakySink(set())
    with statements(loaded) as seen:
        publish_pending(loaded, sink, max_commits=1)
    rounds = [sql for sql in seen if "last_seq" in sql and "published_seq" in sql]
    # Three distributions plus the set-up's own commits, one per round, then one to see the end.
    with unit_of_work(loaded.database_url) as session:
        commits = session.execute(select(func.count()).select_from(COMMITS)).scalar_one()
    assert len(rounds) <= commits + 1
    assert unpublished_count(loaded) == 0  # every full round was followed by another


# --- budgets: at most today's statements per intake, batch and publish --------------------------
# Measured at the commit that introduced the unit of work (the same on both databases unless
# said); a change that needs more is a performance regression to justify, not a test to rewrite.


def _gateway_receipt(n: int) -> ReceiptRequest:
    return paying_o100(f"budget-{n}", 700 + n, automated=True, reference=f"budget-pay-{n}")


def test_a_new_automated_intake_is_at_most_one_statement(loaded: Settings) -> None:
    submit_automated(loaded, _gateway_receipt(0))  # the engine's first connection, once
    with statements(loaded) as seen:
        intakes = [submit_automated(loaded, _gateway_receipt(n)) for n in (1, 2, 3)]
    assert all(intake.created for intake in intakes)
    assert len(seen) <= 3


def test_a_repeated_automated_intake_is_at_most_two_statements(loaded: Settings) -> None:
    first = submit_automated(loaded, _gateway_receipt(1))
    with statements(loaded) as seen:
        again = submit_automated(loaded, _gateway_receipt(1))
    assert (again.receipt_id, again.created) == (first.receipt_id, False)
    assert len(seen) <= 2


def test_an_operator_intake_stays_within_its_budget(loaded: Settings) -> None:
    def operator(n: int) -> ReceiptRequest:
        return paying_o100(f"op-{n}", 900 + n)

    submit_receipt(loaded, operator(0))
    with statements(loaded) as new:
        assert submit_receipt(loaded, operator(1)).created
    with statements(loaded) as repeat:
        assert not submit_receipt(loaded, operator(1)).created
    assert len(new) <= 6  # the key, the customer, the order, the calendar, the insert (was 6)
    assert len(repeat) <= 1


def test_a_refund_intake_stays_within_its_budget(loaded: Settings) -> None:
    refund = GatewayEvent(
        event_id="evt-budget",
        type="payment.refunded",
        gateway="gw",
        payment_id="pay-budget",
        currency="USD",
        amount="1.00",
        occurred_at=datetime(2026, 11, 5, tzinfo=UTC),
    )
    with statements(loaded) as seen:
        assert submit_event(loaded, refund).created
    assert len(seen) <= 4


def test_a_gateway_batch_and_its_publish_stay_within_their_budgets(loaded: Settings) -> None:
    submit_automated(loaded, _gateway_receipt(0))
    publish_pending(loaded, FlakySink(set()))  # the sample's own journals, out of the way
    ids = [submit_automated(loaded, _gateway_receipt(n)).receipt_id for n in (1, 2, 3)]
    with statements(loaded) as batch:
        distribute_receipts(loaded, ids)
    sink = FlakySink(set())
    with statements(loaded) as publish:
        assert publish_pending(loaded, sink) == len(sink.received) > 0
    with unit_of_work(loaded.database_url) as session:
        postgres = is_postgres(session)
    # SQLite reads each table's highest id where PostgreSQL asks the sequences at once.
    assert len(batch) <= (12 if postgres else 18)
    assert len(publish) <= 7


def test_a_sweep_is_at_most_two_statements(loaded: Settings) -> None:
    with statements(loaded) as seen:
        sweep(loaded)
    assert len(seen) <= 2


def _messy_receipt(n: int) -> ReceiptRequest:
    """A receipt that names no order: only remittance, a payer account, or a customer."""
    amount = Money.parse("1.00", "USD")
    kind = n % 3
    return ReceiptRequest(
        source="lockbox",
        external_id=f"messy-{n}",
        amount=amount,
        received_date=datetime(2026, 11, 5, tzinfo=UTC).date(),
        automated=True,
        remittance=f"INV o-{100 + n % 3:04d}" if kind == 0 else None,
        payer_account=f"ACCT-{n}" if kind == 1 else None,
        customer="C-2" if kind == 2 else None,
    )


def test_matching_a_batch_costs_the_same_statements_for_3_receipts_or_30(
    loaded: Settings,
) -> None:
    """Matching reads the orders of every receipt of a batch together: no statement per receipt."""
    costs = []
    for size, start in ((3, 0), (30, 100)):
        ids = [
            submit_automated(loaded, _messy_receipt(n)).receipt_id
            for n in range(start, start + size)
        ]
        with statements(loaded) as batch:
            distribute_receipts(loaded, ids)
        costs.append(len(batch))
    small, large = costs
    assert large <= small
