"""The unit of work and its repositories, on SQLite and PostgreSQL alike.

Each repository hides a dialect branch or a fold; these tests hold that both databases give the
same answers through it: the idempotent intake inserts yield to an earlier intake, a lookup by
list finds exactly what it names, the outbox position reads the same, and a unit of work keeps
nothing it was not told to commit.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from config.settings import Settings
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.outbox.publisher import pending_after
from ledger.persistence import schema
from ledger.persistence.events import NewEvent
from ledger.persistence.files import FileAlreadyRecorded, NewFile
from ledger.persistence.receipts import record_automated
from ledger.persistence.unit_of_work import UnitOfWork, reading
from tests.support.receipts import paying_o100


def gateway(
    n: int, *, customer: str | None = "C-1", reference: str | None = None
) -> ReceiptRequest:
    return paying_o100(
        f"repo-{n}",
        1200 + n,
        automated=True,
        customer=customer,
        reference=reference or f"repo-pay-{n}",
    )


def test_an_automated_insert_yields_to_an_earlier_intake_of_its_key_or_its_payment(
    loaded: Settings,
) -> None:
    first = record_automated(loaded.database_url, gateway(1))
    assert first is not None
    assert record_automated(loaded.database_url, gateway(1)) is None  # the same key
    # Another event id announcing the same payment: the payment reference is taken.
    assert record_automated(loaded.database_url, gateway(2, reference="repo-pay-1")) is None
    with reading(loaded.database_url) as uow:
        stored = uow.receipts.by_intake(gateway(2).external_key, "repo-pay-1")
    assert stored is not None
    assert (stored.id, stored.external_key, stored.status) == (
        first,
        gateway(1).external_key,
        "queued",
    )
    assert stored.payload_hash == gateway(1).payload_hash()


def test_an_automated_insert_yields_to_a_refund_already_in_the_event_inbox(
    loaded: Settings,
) -> None:
    request = gateway(3)
    with UnitOfWork(loaded.database_url) as uow:
        assert uow.events.add(_event(request.external_key)) is not None
        uow.commit()
    assert record_automated(loaded.database_url, request) is None
    with reading(loaded.database_url) as uow:
        assert uow.receipts.by_intake(request.external_key, request.reference) is None


def test_an_automated_receipt_for_an_unknown_customer_is_recorded_without_it(
    loaded: Settings,
) -> None:
    with UnitOfWork(loaded.database_url) as uow:
        receipt_id = uow.receipts.add_automated(gateway(4, customer="C-NOBODY"))
        uow.commit()
    with reading(loaded.database_url) as uow:
        row = uow.session.get(schema.Receipt, receipt_id)
        assert row is not None
        assert (row.customer_id, row.status_reason) == (None, "unknown customer C-NOBODY")


def test_an_operator_insert_yields_to_its_key(loaded: Settings) -> None:
    amount = Money.from_minor(4200, "USD")
    request = ReceiptRequest("operator", "op-repo", amount, date(2026, 11, 5), customer="C-1")
    with UnitOfWork(loaded.database_url) as uow:
        first = uow.receipts.add_operator(request)
        again = uow.receipts.add_operator(request)
        uow.commit()
    assert first is not None and again is None


def test_the_receipt_holding_a_payment_follows_the_receipts_that_replaced_it(
    loaded: Settings,
) -> None:
    original = record_automated(loaded.database_url, gateway(5))
    rest = ReceiptRequest(
        "gateway",
        "repo-5:rest",
        Money.from_minor(100, "USD"),
        date(2026, 11, 5),
        automated=True,
        replaces=original,
    )
    successor = record_automated(loaded.database_url, rest)
    with reading(loaded.database_url) as uow:
        assert uow.receipts.holding_payment("repo-pay-5") == successor
        assert uow.receipts.holding_payment("repo-pay-unknown") is None
        assert uow.receipts.exists_with_key(gateway(5).external_key)
        assert not uow.receipts.exists_with_key("gateway:nothing")


def _event(key: str, reference: str = "repo-pay-x") -> NewEvent:
    return NewEvent(
        external_key=key,
        kind="payment.refunded",
        payload="{}",
        payload_hash="h",
        reference=reference,
        receipt_id=None,
    )


def test_an_event_is_recorded_once_and_swept_after_its_grace(loaded: Settings) -> None:
    with UnitOfWork(loaded.database_url) as uow:
        row = uow.events.add(_event("gateway:gw:evt-repo"))
        assert uow.events.add(_event("gateway:gw:evt-repo")) is None
        uow.commit()
    assert row is not None
    with reading(loaded.database_url) as uow:
        found = uow.events.by_key("gateway:gw:evt-repo")
        assert found is not None and (found.id, found.status) == (row, "queued")
        assert uow.events.by_key("gateway:gw:other") is None
        assert uow.events.pending(datetime.now(UTC) - timedelta(hours=1)) == ()
        assert uow.events.pending(datetime.now(UTC) + timedelta(hours=1)) == (row,)


def test_a_lockbox_file_is_found_by_content_and_by_bank_file_id(loaded: Settings) -> None:
    new = NewFile(sha256="a" * 64, bank_file_id="BANK-1", name="one.txt", format="csv", items=2)
    with UnitOfWork(loaded.database_url) as uow:
        file_id = uow.files.add(new)
        uow.commit()
    with UnitOfWork(loaded.database_url) as uow:
        by_content = uow.files.with_content("a" * 64)
        assert by_content is not None
        assert (by_content.id, by_content.name, by_content.complete) == (file_id, "one.txt", False)
        assert uow.files.with_bank_id("BANK-1") == by_content
        assert uow.files.with_content("b" * 64) is None
        assert uow.files.item_count(file_id) == 2
        uow.files.mark_complete(file_id)
        uow.commit()
    with UnitOfWork(loaded.database_url) as uow:
        again = uow.files.with_content("a" * 64)
        assert again is not None and again.complete
        with pytest.raises(FileAlreadyRecorded):
            uow.files.add(new)


def test_reference_lookups_find_exactly_what_they_name(loaded: Settings) -> None:
    with reading(loaded.database_url) as uow:
        currencies = uow.reference.order_currencies(["O-100", "O-NONE"])
        assert currencies == {"O-100": "USD"}
        assert uow.reference.order_currencies([]) == {}
        assert uow.reference.known_customers({"C-1", "C-2", "C-NONE"}) == {"C-1", "C-2"}
        assert uow.reference.known_customers(set()) == set()
        assert uow.reference.has_customer("C-1") and not uow.reference.has_customer("C-NONE")
        assert uow.reference.customer_parents()["C-3"] == "C-2"


def test_an_upsert_counts_what_it_created_changed_and_left_alone(loaded: Settings) -> None:
    with UnitOfWork(loaded.database_url) as uow:
        existing = uow.reference.existing(schema.Subsystem, "code", ["SUB-NEW"])
        assert existing == {}
        stored = next(iter(uow.reference.existing(schema.Customer, "id", ["C-1"]).values()))
        rows = [
            {"id": "C-1", "name": stored.name, "parent_id": None, "bills_to_parent": False},
            {"id": "C-2", "name": "Renamed", "parent_id": None, "bills_to_parent": False},
            {"id": "C-NEW", "name": "New", "parent_id": None, "bills_to_parent": False},
        ]
        assert tuple(uow.reference.upsert(schema.Customer, "id", rows)) == (1, 1, 1)
        uow.commit()
    with reading(loaded.database_url) as uow:
        assert uow.reference.known_customers({"C-NEW"}) == {"C-NEW"}


def test_the_outbox_cursor_moves_only_with_a_commit(loaded: Settings) -> None:
    with UnitOfWork(loaded.database_url) as uow:
        position = uow.outbox.position_waiting_at_most(2000)
        assert position == uow.outbox.position()
        assert not position.caught_up  # the sample's SALE journals are waiting
        assert uow.outbox.lock_cursor() == position.published == 0
        pending = pending_after(uow, position.published, 1)
        assert pending.commits == 1 and pending.last_seq is not None and pending.journals
        uow.outbox.move_cursor(pending.last_seq)  # not committed
    with UnitOfWork(loaded.database_url) as uow:
        assert uow.outbox.position().published == 0
        waiting = uow.outbox.journal_count_after(0)
        uow.outbox.move_cursor(position.sealed)
        uow.commit()
    assert waiting > 0
    with reading(loaded.database_url) as uow:
        assert uow.outbox.position().caught_up
        assert uow.outbox.journal_count_after(position.sealed) == 0


def test_a_unit_of_work_keeps_only_what_it_committed(loaded: Settings) -> None:
    with UnitOfWork(loaded.database_url) as uow:
        uow.messages.add("arledger.test", "x" * 30000, "kept")
        uow.commit()
        uow.messages.add("arledger.test", "{}", "rolled back on exit")
    with UnitOfWork(loaded.database_url) as uow:
        first = uow.messages.locked(1)
        assert first is not None and first.reason == "kept" and len(first.body) == 20000
        assert uow.messages.locked(2) is None
    with reading(loaded.database_url) as uow, pytest.raises(RuntimeError):
        uow.commit()


def test_joining_a_session_leaves_its_transaction_to_the_caller(loaded: Settings) -> None:
    with UnitOfWork(loaded.database_url) as outer:
        UnitOfWork.joining(outer.session).messages.add("arledger.test", "{}", "joined")
        with UnitOfWork.joining(outer.session) as joined:
            assert joined.session is outer.session
        # Leaving the joined block neither rolled back nor closed the caller's transaction.
        outer.commit()
    with reading(loaded.database_url) as uow:
        message = uow.messages.locked(1)
        assert message is not None and message.reason == "joined"
    with pytest.raises(ValueError):
        UnitOfWork()
