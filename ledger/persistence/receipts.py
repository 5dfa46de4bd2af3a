"""Receipts: the intake inbox (one row per receipt under its source-derived key) and its reads.

Two ways in. An automated receipt (gateway, bank) is one cached SQL statement that resolves the
customer and org unit, inserts and yields to any earlier intake; :func:`record_automated` runs it
alone on a plain connection, the webhook's path. An operator receipt, validated by the service
first, is a plain insert that yields on the same unique keys. Lockbox checks are inserted in bulk
with ids reserved up front.

The receipt rules' SQL lives here too: receipts read as :class:`ledger.domain.receipt.Receipt`
aggregates (locked, in id order, with the distribution's statements built once), their status
written back, the journals a receipt caused, and the per-type journal totals from which
:class:`ledger.domain.receipt.ReceiptSplit` derives applied / unapplied / reversed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    String,
    Text,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ledger.domain.errors import UnknownReceipt
from ledger.domain.matching import Suggestion
from ledger.domain.money import Money
from ledger.domain.receipt import (
    CAUSED_BY_RECEIPT,
    EventStatus,
    Receipt,
    ReceiptSplit,
    ReceiptStatus,
    bank_receipt_key,
)
from ledger.persistence.bulk import allocate_ids, bulk_insert, bulk_update
from ledger.persistence.db import among_param, get_engine, is_postgres, plain_rows
from ledger.persistence.derived import receipt_splits
from ledger.persistence.schema import INTAKE_EVENTS, JOURNALS, ORDERS, ORG_UNITS, RECEIPTS

if TYPE_CHECKING:  # annotations only: the lockbox parsers are slow to import for a read command
    from ledger.intake.commands import ReceiptRequest
    from ledger.intake.lockbox import LockboxItem


@dataclass(frozen=True)
class StoredIntake:
    """A receipt already recorded: what a repeat of its intake is compared with."""

    id: int
    external_key: str
    payload_hash: str
    request: str  # the request as recorded, JSON
    status: str


@dataclass(frozen=True)
class KeyedReceipt:
    """A receipt found by its intake key: its id, status and amount."""

    id: int
    status: str
    amount: Money


def receipt_columns(request: ReceiptRequest) -> dict[str, Any]:
    """The columns both intake paths write straight from the request."""
    return {
        "source": request.source,
        "external_key": request.external_key,
        "payload_hash": request.payload_hash(),
        "org_unit": request.org_unit,
        "currency": request.amount.currency,
        "amount_minor": request.amount.minor,
        "received_date": request.received_date,
        "automated": request.automated,
        "request": request.payload_json(),
        "reference": request.reference,
        "replaces_id": request.replaces,
        "match_rule": request.match[0] if request.match else None,
        "match_references": json.dumps(list(request.match[1])) if request.match else None,
    }


# An automated receipt naming a customer or org unit this ledger does not know is still recorded:
# the names stay in its request, the columns are left empty (distribution marks it unidentified)
# and the reason says which customer was unknown. One statement resolves both names, inserts, and
# yields to an earlier intake of the same key or payment, and to a refund or dispute already in
# the event inbox under the same key (an event id names one event, whichever inbox holds it).
# Written as SQL once, not built per call (docs/performance.md, "The folds"). Portable to
# PostgreSQL and SQLite (3.35+; the WHERE also keeps SQLite from reading ON CONFLICT as a join).
_AUTOMATED_INSERT = text(
    """
    INSERT INTO receipts (source, external_key, payload_hash, customer_id, org_unit, currency,
        amount_minor, received_date, automated, request, status, status_reason, reference,
        replaces_id, match_rule, match_references)
    SELECT :source, :external_key, :payload_hash,
        (SELECT id FROM customers WHERE id = :customer),
        (SELECT code FROM org_units WHERE code = :org_unit),
        :currency, :amount_minor, :received_date, :automated, :request, 'queued',
        CASE WHEN NOT EXISTS (SELECT 1 FROM customers WHERE id = :customer)
             THEN :unknown_customer END,
        :reference, :replaces_id, :match_rule, :match_references
    WHERE NOT EXISTS (SELECT 1 FROM intake_events WHERE external_key = :external_key)
    ON CONFLICT DO NOTHING
    RETURNING id
    """
).bindparams(
    bindparam("source", type_=String),
    bindparam("external_key", type_=String),
    bindparam("payload_hash", type_=String),
    bindparam("customer", type_=String),
    bindparam("org_unit", type_=String),
    bindparam("currency", type_=String),
    bindparam("amount_minor", type_=BigInteger),
    bindparam("received_date", type_=Date),
    bindparam("automated", type_=Boolean),
    bindparam("request", type_=Text),
    bindparam("unknown_customer", type_=Text),
    bindparam("reference", type_=String),
    bindparam("replaces_id", type_=BigInteger),
    bindparam("match_rule", type_=String),
    bindparam("match_references", type_=Text),
)


def insert_automated(connection: Connection, request: ReceiptRequest) -> int | None:
    """The statement of ``record_automated``, on the caller's connection and transaction."""
    params = {
        **receipt_columns(request),
        "customer": request.customer,
        "unknown_customer": (
            f"unknown customer {request.customer}" if request.customer is not None else None
        ),
    }
    return connection.execute(_AUTOMATED_INSERT, params).scalar()


def record_automated(url: str, request: ReceiptRequest) -> int | None:
    """Record an automated receipt in a transaction of its own: its id, or None when the key, the
    payment or an inbox event already holds it.

    One statement and a commit on a plain connection, no session: on the webhook's path an ORM
    session around it cost more CPU than the statement.
    """
    with get_engine(url).begin() as connection:
        return insert_automated(connection, request)


class LockedBatch(NamedTuple):
    """The queued receipts a distribution locked, and the gateway payments they hold."""

    receipts: list[Receipt]
    payment_references: list[str]


class ReceiptRepository:
    """Receipts in one unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_automated(self, request: ReceiptRequest) -> int | None:
        """``record_automated`` in this transaction."""
        return insert_automated(self._session.connection(), request)

    def add_operator(self, request: ReceiptRequest) -> int | None:
        """Insert a validated operator receipt, queued; None when its key is taken."""
        dialect_insert = postgresql.insert if is_postgres(self._session) else sqlite.insert
        statement = (
            dialect_insert(RECEIPTS)
            .values(
                **receipt_columns(request),
                customer_id=request.customer,
                status="queued",
                status_reason=None,
            )
            .on_conflict_do_nothing()  # the external key, or the gateway payment reference
            .returning(RECEIPTS.c.id)
        )
        return self._session.execute(statement).scalar()

    def by_intake(self, key: str, reference: str | None) -> StoredIntake | None:
        """The receipt recorded under this intake key, or for this gateway payment."""
        condition = RECEIPTS.c.external_key == key
        if reference is not None:
            condition = condition | (RECEIPTS.c.reference == reference)
        row = self._session.execute(
            select(
                RECEIPTS.c.id,
                RECEIPTS.c.external_key,
                RECEIPTS.c.payload_hash,
                RECEIPTS.c.request,
                RECEIPTS.c.status,
            )
            .where(condition)
            .order_by(RECEIPTS.c.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        return StoredIntake(
            int(row.id), row.external_key, row.payload_hash, row.request, row.status
        )

    def exists_with_key(self, key: str) -> bool:
        return (
            self._session.execute(
                select(RECEIPTS.c.id).where(RECEIPTS.c.external_key == key)
            ).first()
            is not None
        )

    def payment_receipt(self, reference: str) -> int | None:
        """The receipt a gateway payment was first received as, if it has been."""
        receipt_id = self._session.execute(
            select(RECEIPTS.c.id).where(RECEIPTS.c.reference == reference)
        ).scalar()
        return None if receipt_id is None else int(receipt_id)

    def lock_payment(self, reference: str) -> None:
        """Lock a gateway payment's first receipt (if received) until the transaction ends: the
        refunds and disputes of one payment are processed one after the other."""
        self._session.execute(
            select(RECEIPTS.c.id).where(RECEIPTS.c.reference == reference).with_for_update()
        )

    def holding_payment(self, reference: str) -> int | None:
        """The receipt that now holds a gateway payment's money: the payment's own receipt, or
        the newest receipt of the rest after partial refunds."""
        receipt_id = self._session.execute(
            select(RECEIPTS.c.id).where(RECEIPTS.c.reference == reference)
        ).scalar()
        while receipt_id is not None:
            successor = self._session.execute(
                select(RECEIPTS.c.id).where(RECEIPTS.c.replaces_id == receipt_id)
            ).scalar()
            if successor is None:
                return int(receipt_id)
            receipt_id = successor
        return None

    def queued_since_before(self, cutoff: datetime) -> tuple[int, ...]:
        """Queued receipts recorded at or before ``cutoff``, in id order."""
        return tuple(
            int(i)
            for i in self._session.execute(
                select(RECEIPTS.c.id)
                .where(RECEIPTS.c.status == "queued", RECEIPTS.c.created_at <= cutoff)
                .order_by(RECEIPTS.c.id)
            ).scalars()
        )

    def by_keys(self, keys: Collection[str]) -> dict[str, KeyedReceipt]:
        """The receipts recorded under any of these intake keys, by key."""
        return {
            row.external_key: KeyedReceipt(
                int(row.id), row.status, Money.from_minor(row.amount_minor, row.currency)
            )
            for row in self._session.execute(
                select(
                    RECEIPTS.c.id,
                    RECEIPTS.c.external_key,
                    RECEIPTS.c.status,
                    RECEIPTS.c.amount_minor,
                    RECEIPTS.c.currency,
                ).where(RECEIPTS.c.external_key.in_(list(keys)))
            )
        }

    def add_lockbox_checks(
        self, file_id: int, sha256: str, items: Sequence[LockboxItem], known: Collection[str]
    ) -> list[int]:
        """Insert a lockbox file's checks as queued receipts, in bulk; their ids, in order.

        A check naming a customer not in ``known`` keeps the name in its request only, with the
        reason, as an automated receipt does.
        """
        ids = allocate_ids(self._session, RECEIPTS, len(items))
        rows = [
            _lockbox_row(receipt_id, file_id, sha256, item, known)
            for receipt_id, item in zip(ids, items, strict=True)
        ]
        bulk_insert(self._session, RECEIPTS, rows)
        return ids

    def lock_queued(self, receipt_ids: Collection[int], top_up: int) -> LockedBatch:
        """``lock_queued_receipts`` as aggregates, with the gateway payments they hold."""
        rows = lock_queued_receipts(self._session, receipt_ids, top_up)
        return LockedBatch(
            [receipt_of(row) for row in rows],
            sorted({row.reference for row in rows if row.reference is not None}),
        )

    def save_statuses(self, receipts: Sequence[Receipt], processed_at: datetime) -> None:
        """Write back what a distribution decided for each receipt, in one statement."""
        rows = [receipt_status_row(receipt, processed_at) for receipt in receipts]
        bulk_update(self._session, RECEIPTS, rows)

    def locked(self, receipt_id: int) -> Receipt:
        """A receipt, its row locked until the transaction ends; raises UnknownReceipt."""
        return locked_receipt(self._session, receipt_id)

    def exists(self, receipt_id: int) -> bool:
        return receipt_exists(self._session, receipt_id)

    def save(self, receipt: Receipt) -> None:
        """Write a receipt's status, reason, customer and org unit back."""
        save_receipt(self._session, receipt)

    def caused_journals(self, receipt_id: int) -> list[tuple[int, int | None]]:
        """(journal id, order id) of every journal the receipt caused."""
        return caused_journals(self._session, receipt_id)

    def orders_applied_to(self, receipt_id: int) -> set[str]:
        """The numbers of the orders a receipt's journals touched."""
        return orders_applied_to(self._session, receipt_id)

    def splits(self, receipt_ids: Sequence[int]) -> dict[int, ReceiptSplit]:
        """Each receipt's applied / unapplied / reversed split (docs/rules.md section 9.3)."""
        return receipt_splits(self._session, receipt_ids)

    def any_queued_in_file(self, file_id: int) -> bool:
        """Whether a receipt of a lockbox file still waits for distribution: the first one found
        through the status index ends the look (``queued_in_file`` counts them all)."""
        waiting = select(RECEIPTS.c.id).where(*_queued_in_file(file_id)).exists()
        return bool(self._session.execute(select(waiting)).scalar_one())

    def queued_in_file(self, file_id: int) -> int:
        """How many receipts of a lockbox file still wait for distribution (the status index)."""
        return int(
            self._session.execute(
                select(func.count()).where(*_queued_in_file(file_id))
            ).scalar_one()
        )


def _queued_in_file(file_id: int) -> tuple[Any, Any]:
    """A lockbox file's receipts still waiting for distribution (found by the status index)."""
    return RECEIPTS.c.status == ReceiptStatus.QUEUED.value, RECEIPTS.c.lockbox_file_id == file_id


def lockbox_key(sha256: str, item: LockboxItem) -> str:
    """The intake key of a lockbox check: the file's content and the check's place in it; or,
    for a bank statement's credit, the key the bank's own references give it."""
    if item.key is not None:
        return bank_receipt_key(item.key)
    return f"lockbox:{sha256}:{item.batch}:{item.item}"


def _lockbox_row(
    receipt_id: int, file_id: int, sha256: str, item: LockboxItem, known: Collection[str]
) -> dict[str, Any]:
    request = {
        "amount_minor": item.amount.minor,
        "currency": item.amount.currency,
        "customer": item.customer,
        "orders": [
            {"order": order, "amount_minor": amount.minor} for order, amount in item.allocations
        ],
        "date": item.deposit_date.isoformat(),
        "org_unit": None,
        "reference": None,
        "check_number": item.check_number,
    }
    if item.remittance is not None:
        request["remittance"] = item.remittance
        if item.remittance_breaks:
            request["remittance_breaks"] = list(item.remittance_breaks)
    if item.payer_account is not None:
        request["payer_account"] = item.payer_account
    body = json.dumps(request, sort_keys=True, separators=(",", ":"))
    unknown = item.customer is not None and item.customer not in known
    return {
        "id": receipt_id,
        "source": "lockbox",
        "external_key": lockbox_key(sha256, item),
        "payload_hash": hashlib.sha256(body.encode()).hexdigest(),
        "customer_id": None if unknown else item.customer,
        "org_unit": None,
        "currency": item.amount.currency,
        "amount_minor": item.amount.minor,
        "received_date": item.deposit_date,
        "automated": True,
        "request": body,
        "status": "queued",
        "status_reason": f"unknown customer {item.customer}" if unknown else None,
        "lockbox_file_id": file_id,
        "reference": None,
        "replaces_id": None,
        "payer_name": item.payer_name,
    }


# --- receipts as aggregates (the reads and writes of the receipt rules) ---------------------


def receipt_of(row: Any) -> Receipt:
    """The aggregate of a receipts row (a Core row or an ORM object: the same attributes)."""
    currency = row.currency
    request = json.loads(row.request)
    return Receipt(
        id=row.id,
        amount=Money.from_minor(row.amount_minor, currency),
        status=ReceiptStatus(row.status),
        received_date=row.received_date,
        automated=row.automated,
        requested=tuple(
            (a["order"], Money.from_minor(a["amount_minor"], currency)) for a in request["orders"]
        ),
        requested_customer=request.get("customer"),
        customer_id=row.customer_id,
        org_unit=row.org_unit,
        status_reason=row.status_reason,
        remittance=request.get("remittance"),
        remittance_breaks=tuple(request.get("remittance_breaks", ())),
        payer_account=request.get("payer_account"),
        match_rule=row.match_rule,
        match_references=tuple(json.loads(row.match_references or "[]")),
        suggestions=tuple(
            Suggestion(s["order"], s["reason"]) for s in json.loads(row.suggestions or "[]")
        ),
    )


def match_columns(receipt: Receipt) -> dict[str, Any]:
    """How matching placed a receipt, as its row stores it."""
    return {
        "match_rule": receipt.match_rule,
        "match_references": (
            json.dumps(list(receipt.match_references)) if receipt.match_references else None
        ),
        "suggestions": (
            json.dumps([{"order": s.order, "reason": s.reason} for s in receipt.suggestions])
            if receipt.suggestions
            else None
        ),
    }


class _DistributionStatements(NamedTuple):
    requested: Any
    queued: Any
    org_units: Any
    waiting: Any


@cache
def _distribution_statements(postgres: bool) -> _DistributionStatements:
    """``distribute_receipts``' own statements, built once per process: on the webhook's path a
    batch holds a few receipts, and building and fingerprinting statements cost more than
    running them. The requested receipts, locked; other queued receipts no one holds (the
    top-up); the org units; the refunds and disputes waiting on named payments."""
    queued_status = ReceiptStatus.QUEUED.value
    requested = (
        select(RECEIPTS)
        .where(
            among_param(RECEIPTS.c.id, "ids", postgres=postgres),
            RECEIPTS.c.status == queued_status,
        )
        .order_by(RECEIPTS.c.id)
        .with_for_update()
    )
    queued = (
        select(RECEIPTS)
        .where(
            RECEIPTS.c.status == queued_status,
            ~among_param(RECEIPTS.c.id, "ids", postgres=postgres),
        )
        .order_by(RECEIPTS.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    waiting = (
        select(INTAKE_EVENTS.c.id)
        .where(
            INTAKE_EVENTS.c.status.in_((EventStatus.QUEUED.value, EventStatus.WAITING.value)),
            among_param(INTAKE_EVENTS.c.reference, "references", postgres=postgres),
        )
        .order_by(INTAKE_EVENTS.c.id)
    )
    return _DistributionStatements(requested, queued, select(ORG_UNITS), waiting)


def lock_queued_receipts(session: Session, receipt_ids: Collection[int], top_up: int) -> list[Any]:
    """The rows of these receipts still queued, locked in id order; with ``top_up``, up to that
    many other queued receipts too, oldest first, that no other transaction holds."""
    statements = _distribution_statements(is_postgres(session))
    receipts = plain_rows(session.execute(statements.requested, {"ids": sorted(set(receipt_ids))}))
    if top_up > 0:
        # SKIP LOCKED: never wait for receipts another batch is distributing; whatever it
        # holds it will finish. Only the requested receipts are waited for, so every wait on
        # a receipt still happens before any order is locked.
        receipts += plain_rows(
            session.execute(statements.queued, {"ids": [r.id for r in receipts], "limit": top_up})
        )
        receipts.sort(key=lambda r: r.id)
    return receipts


def org_units(session: Session) -> dict[str, Any]:
    """Every org unit by code (rows with ``code``, ``cash_account``, ``unapplied_account``)."""
    statement = _distribution_statements(is_postgres(session)).org_units
    return {unit.code: unit for unit in session.execute(statement)}


def events_waiting_on(session: Session, references: Sequence[str]) -> list[int]:
    """The refunds and disputes, queued or waiting, that name these gateway payments."""
    if not references:
        return []
    statement = _distribution_statements(is_postgres(session)).waiting
    return [int(i) for i in session.execute(statement, {"references": list(references)}).scalars()]


def receipt_status_row(receipt: Receipt, processed_at: datetime) -> dict[str, Any]:
    """The columns a distribution writes back for one receipt (``bulk_update``'s row)."""
    return {
        "id": receipt.id,
        "customer_id": receipt.customer_id,
        "org_unit": receipt.org_unit,
        "status_reason": receipt.status_reason,
        "processed_at": processed_at,
        "status": receipt.status.value,
        **match_columns(receipt),
    }


def locked_receipt(session: Session, receipt_id: int) -> Receipt:
    """A receipt, its row locked until the transaction ends."""
    row = session.execute(
        select(RECEIPTS).where(RECEIPTS.c.id == receipt_id).with_for_update()
    ).first()
    if row is None:
        raise UnknownReceipt(receipt_id)
    return receipt_of(row)


def receipt_exists(session: Session, receipt_id: int) -> bool:
    return (
        session.execute(select(RECEIPTS.c.id).where(RECEIPTS.c.id == receipt_id)).first()
        is not None
    )


def save_receipt(session: Session, receipt: Receipt) -> None:
    """Write a receipt's status, reason, customer and org unit back."""
    session.execute(
        update(RECEIPTS)
        .where(RECEIPTS.c.id == receipt.id)
        .values(
            status=receipt.status.value,
            status_reason=receipt.status_reason,
            customer_id=receipt.customer_id,
            org_unit=receipt.org_unit,
            **match_columns(receipt),
        )
    )


def caused_journals(session: Session, receipt_id: int) -> list[tuple[int, int | None]]:
    """(journal id, order id) of every journal the receipt caused."""
    rows = session.execute(
        select(JOURNALS.c.id, JOURNALS.c.order_id).where(
            JOURNALS.c.receipt_id == receipt_id,
            JOURNALS.c.type.in_(sorted(t.value for t in CAUSED_BY_RECEIPT)),
        )
    ).all()
    return [(row.id, row.order_id) for row in rows]


def orders_applied_to(session: Session, receipt_id: int) -> set[str]:
    """The numbers of the orders a receipt's journals touched."""
    return set(
        session.execute(
            select(ORDERS.c.number)
            .join(JOURNALS, JOURNALS.c.order_id == ORDERS.c.id)
            .where(JOURNALS.c.receipt_id == receipt_id)
        ).scalars()
    )
