"""The event inbox: refunds and disputes recorded under their gateway key, then processed; a
real gateway's own events kept with their raw body (a new payment's together with its receipt,
in one transaction: :func:`record_payment_notice`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ledger.persistence.db import get_engine, is_postgres
from ledger.persistence.receipts import events_waiting_on, insert_automated
from ledger.persistence.schema import INTAKE_EVENTS, IntakeEvent

if TYPE_CHECKING:  # annotations only, as in ledger.persistence.receipts
    from ledger.intake.commands import ReceiptRequest


@dataclass(frozen=True)
class InboxEvent:
    """An event recorded in the inbox: what a repeat of its intake is compared with."""

    id: int
    payload_hash: str
    receipt_id: int | None
    status: str


@dataclass(frozen=True)
class NewEvent:
    """An event to record, as the intake validated it."""

    external_key: str
    kind: str
    payload: str  # the event, JSON
    payload_hash: str
    reference: str
    receipt_id: int | None
    source: str = "gateway"


class EventRepository:
    """Inbox events in one unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def by_key(self, key: str) -> InboxEvent | None:
        row = self._session.execute(
            select(
                INTAKE_EVENTS.c.id,
                INTAKE_EVENTS.c.payload_hash,
                INTAKE_EVENTS.c.receipt_id,
                INTAKE_EVENTS.c.status,
            ).where(INTAKE_EVENTS.c.external_key == key)
        ).first()
        if row is None:
            return None
        return InboxEvent(int(row.id), row.payload_hash, row.receipt_id, row.status)

    def add(self, event: NewEvent) -> int | None:
        """Record a queued event; its row id, or None when its key is already in the inbox."""
        return self._insert(event, status="queued")

    def record(self, event: NewEvent, reason: str | None) -> int | None:
        """Record a gateway's event as received, processed already (it moves no money itself, or
        its money went through the intake under its own key); its row id, or None when its key is
        in the inbox already."""
        return self._insert(event, status="done", status_reason=reason, processed_at=func.now())

    def record_conflict(self, event: NewEvent, reason: str) -> int | None:
        """Record a gateway's event that contradicts what was received under the same key
        (docs/rules.md section 12): failed, with the reason, for the exception queue; it moves
        nothing. Its row id, or None when its key is in the inbox already."""
        return self._insert(event, status="failed", status_reason=reason, processed_at=func.now())

    def _insert(self, event: NewEvent, **state: Any) -> int | None:
        return insert_event(self._session.connection(), event, **state)

    def done_payloads(self, reference: str, kind: str) -> list[str]:
        """The payloads of the events of this kind done for a gateway payment."""
        return list(
            self._session.execute(
                select(INTAKE_EVENTS.c.payload).where(
                    INTAKE_EVENTS.c.reference == reference,
                    INTAKE_EVENTS.c.kind == kind,
                    INTAKE_EVENTS.c.status == "done",
                )
            ).scalars()
        )

    def waiting_reinstatements(self, reference: str) -> tuple[int, ...]:
        """The reinstatements of a gateway payment waiting (for their withdrawal), in id order."""
        return tuple(
            int(i)
            for i in self._session.execute(
                select(INTAKE_EVENTS.c.id)
                .where(
                    INTAKE_EVENTS.c.reference == reference,
                    INTAKE_EVENTS.c.kind == "payment.reinstated",
                    INTAKE_EVENTS.c.status == "waiting",
                )
                .order_by(INTAKE_EVENTS.c.id)
            ).scalars()
        )

    def pending(self, cutoff: datetime) -> tuple[int, ...]:
        """Events to (re)process, in id order: every waiting one, and queued ones recorded at or
        before ``cutoff``."""
        return tuple(
            int(i)
            for i in self._session.execute(
                select(INTAKE_EVENTS.c.id)
                .where(
                    (INTAKE_EVENTS.c.status == "waiting")
                    | (
                        (INTAKE_EVENTS.c.status == "queued")
                        & (INTAKE_EVENTS.c.created_at <= cutoff)
                    )
                )
                .order_by(INTAKE_EVENTS.c.id)
            ).scalars()
        )

    def locked(self, event_row: int) -> IntakeEvent | None:
        """An inbox event, locked for a status change (assigning its status writes it)."""
        return self._session.get(IntakeEvent, event_row, with_for_update=True)

    def waiting_on(self, references: Sequence[str]) -> list[int]:
        """The refunds and disputes, queued or waiting, that name these gateway payments."""
        return events_waiting_on(self._session, references)

    def lock_row(self, event_row: int) -> Any:
        """An inbox event's row (``status``, ``status_reason``, ``payload``, …), locked until the
        transaction ends; None when there is no such event."""
        return self._session.execute(
            select(INTAKE_EVENTS).where(INTAKE_EVENTS.c.id == event_row).with_for_update()
        ).first()

    def settle(
        self,
        event_row: int,
        status: str,
        reason: str | None,
        receipt_id: int | None,
        processed_at: datetime | None,
    ) -> None:
        """Record what processing an event did."""
        self._session.execute(
            update(INTAKE_EVENTS)
            .where(INTAKE_EVENTS.c.id == event_row)
            .values(
                status=status,
                status_reason=reason,
                receipt_id=receipt_id,
                processed_at=processed_at,
            )
        )


def insert_event(connection: Connection, event: NewEvent, **state: Any) -> int | None:
    """Insert an inbox row with ``state`` (its status and what goes with it); its id, or None
    when its key is in the inbox already."""
    dialect_insert = postgresql.insert if is_postgres(connection) else sqlite.insert
    return connection.execute(
        dialect_insert(INTAKE_EVENTS)
        .values(
            source=event.source,
            external_key=event.external_key,
            kind=event.kind,
            payload=event.payload,
            payload_hash=event.payload_hash,
            reference=event.reference,
            receipt_id=event.receipt_id,
            **state,
        )
        .on_conflict_do_nothing()
        .returning(INTAKE_EVENTS.c.id)
    ).scalar()


def record_payment_notice(
    url: str, request: ReceiptRequest, notice: NewEvent, reason: str | None
) -> int | None:
    """A gateway's new payment in one transaction on a plain connection: its receipt
    (``insert_automated``) and the gateway's own event with its raw body, recorded done and tied
    to the receipt, then one commit — neither is ever kept without the other. The receipt's id,
    or None, writing nothing, when the receipt's key or payment is taken already (a repeat or a
    conflict, for the caller's unit of work to sort out)."""
    with get_engine(url).begin() as connection:
        receipt_id = insert_automated(connection, request)
        if receipt_id is not None:
            insert_event(
                connection,
                replace(notice, receipt_id=receipt_id),
                status="done",
                status_reason=reason,
                processed_at=func.now(),
            )
        return receipt_id
