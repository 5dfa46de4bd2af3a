"""Service functions: one per command, each one database transaction.

They take the settings and plain values (ids, strings, Money) and return JSON-ready dicts, so the
CLI, the HTTP ingress and Celery tasks all call the same code. A service validates, locks what it
changes, runs a rule of :mod:`ledger.domain.order`, stores the journals with :mod:`ledger.persistence.repository`,
and commits as its last step; any refusal raises before the commit and leaves nothing changed.

Receipts go through two steps, as the message-driven pipeline needs: :func:`submit_receipt`
persists the intake under its source-derived key (the inbox), and :func:`distribute_receipt`
distributes a persisted receipt exactly once, whoever calls it and however often.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from config.settings import Settings
from ledger.domain.calendar import Calendar
from ledger.domain.errors import (
    AmountNotPositive,
    ApplyExceedsUnapplied,
    CurrencyMismatch,
    IdempotencyConflict,
    InactiveAccount,
    InputRefused,
    InvalidInput,
    NoOrgUnit,
    NothingUnapplied,
    ReceiptAlreadyReversed,
    ReceiptNotProcessed,
    UnknownAccount,
    UnknownCustomer,
    UnknownOrder,
    UnknownOrgUnit,
    UnknownReceipt,
    UnknownWriteOff,
)
from ledger.domain.journal import Journal, TxnType, credit, debit
from ledger.domain.money import Money
from ledger.domain.order import Order, Reason
from ledger.intake.commands import ReceiptRequest
from ledger.intake.inputs import LoadFile
from ledger.persistence import schema
from ledger.persistence.db import among_param, get_engine, unit_of_work
from ledger.persistence.receipts import StoredIntake, record_automated
from ledger.persistence.repository import (
    bulk_update,
    load_calendar,
    load_orders,
    load_orders_by_number,
    order_ids_by_number,
    write_journals,
)
from ledger.persistence.schema import INTAKE_EVENTS, JOURNALS, ORG_UNITS, RECEIPTS
from ledger.persistence.unit_of_work import UnitOfWork
from ledger.queries import views
from ledger.services.load import LoadSummary, load


def today() -> date:
    return date.today()


# --- load --------------------------------------------------------------------------------------


def load_file(settings: Settings, data: LoadFile) -> LoadSummary:
    with UnitOfWork(settings.database_url) as uow:
        summary = load(uow.session, data)
        uow.commit()
        return summary


# --- receipts: intake --------------------------------------------------------------------------


@dataclass(frozen=True)
class Intake:
    receipt_id: int
    created: bool  # False: the same request was submitted before; nothing new was recorded
    status: str


def submit_receipt(settings: Settings, request: ReceiptRequest) -> Intake:
    """Persist a receipt under its idempotency key, or find the one already there.

    A repeat of the same request returns the existing receipt; the same key with a different
    amount, currency, order, customer or date is refused (IdempotencyConflict). Operator receipts
    are validated strictly here (known customer, order currency, open period) so a refusal
    changes nothing; automated ones are taken as they come and sorted out by distribution.
    """
    if not request.amount.is_positive:
        raise AmountNotPositive("amount", request.amount)
    allocated = Money.zero(request.amount.currency)
    for number, amount in request.allocations:
        if not amount.is_positive:
            raise AmountNotPositive(f"amount for order {number}", amount)
        allocated += amount
    if allocated > request.amount:
        raise InvalidInput(
            f"allocations total {allocated} but the receipt is only {request.amount}",
            field="amount",
        )
    with UnitOfWork(settings.database_url) as uow:
        intake = intake_receipt(uow.session, settings, request)
        if intake.created:
            uow.commit()
        return intake


def submit_automated(settings: Settings, request: ReceiptRequest) -> Intake:
    """Record an automated receipt in its own transaction, or find it recorded (raising
    IdempotencyConflict as ``intake_receipt`` does).

    A new one, the webhook's common case, is one statement and a commit (``record_automated``);
    only a repeat opens a unit of work, to find and compare the earlier intake.
    """
    receipt_id = record_automated(settings.database_url, request)
    if receipt_id is not None:
        return Intake(receipt_id, True, "queued")
    with UnitOfWork(settings.database_url) as uow:
        return _recorded_before(uow, request)


def intake_receipt(session: Session, settings: Settings, request: ReceiptRequest) -> Intake:
    """Record a receipt in the caller's transaction (the caller commits), or find it recorded."""
    uow = UnitOfWork.joining(session)
    if request.automated:
        # Gateway and bank receipts: a new one is the common case, so try the insert first —
        # one statement, which itself resolves the customer and org unit — and look for the
        # earlier intake only when the key or the payment reference is taken.
        receipt_id = uow.receipts.add_automated(request)
    else:
        existing = uow.receipts.by_intake(request.external_key, request.reference)
        if existing is not None:
            return _repeat(request, existing)
        _validate_operator_receipt(uow, settings, request)
        receipt_id = uow.receipts.add_operator(request)
    if receipt_id is None:  # recorded before, or a concurrent intake of it won the race
        return _recorded_before(uow, request)
    return Intake(receipt_id, True, "queued")


def _recorded_before(uow: UnitOfWork, request: ReceiptRequest) -> Intake:
    """The earlier intake an insert yielded to: the same receipt again, or a conflict."""
    existing = uow.receipts.by_intake(request.external_key, request.reference)
    if existing is None:  # the insert yielded to the event inbox
        raise IdempotencyConflict(
            _intake_name(request), ["it was a refund or dispute"], field="event_id"
        )
    return _repeat(request, existing)


def _intake_name(request: ReceiptRequest) -> str:
    """How a conflict names the intake: a gateway's event, or an external id."""
    if request.source == "gateway":
        return f"event id {request.external_id}"
    return f"external id {request.external_id}"


def _repeat(request: ReceiptRequest, existing: StoredIntake) -> Intake:
    if existing.payload_hash == request.payload_hash():
        return Intake(existing.id, False, existing.status)
    before, now = _readable(json.loads(existing.request)), _readable(request.payload())
    if existing.external_key != request.external_key:
        # The same gateway payment announced again under another event id: the same money,
        # once, whatever the new event's timestamp says.
        before.pop("date")
        now.pop("date")
        if before == now:
            return Intake(existing.id, False, existing.status)
        what = f"payment {request.reference}"
    else:
        what = _intake_name(request)
    differences = [
        f"{name} {before[name]} then, {now[name]} now"
        for name in now
        if before.get(name) != now[name]
    ]
    raise IdempotencyConflict(what, differences or ["different payload"])


def _readable(payload: dict[str, Any]) -> dict[str, str]:
    currency = payload["currency"]
    return {
        "amount": f"{Money.from_minor(payload['amount_minor'], currency)} {currency}",
        "order": ", ".join(
            f"{o['order']} ({Money.from_minor(o['amount_minor'], currency)})"
            for o in payload["orders"]
        )
        or "none",
        "customer": payload["customer"] or "none",
        "date": payload["date"],
        "org unit": payload.get("org_unit") or "none",
    }


def _validate_operator_receipt(
    uow: UnitOfWork, settings: Settings, request: ReceiptRequest
) -> None:
    reference = uow.reference
    if request.customer is not None and not reference.has_customer(request.customer):
        raise UnknownCustomer(request.customer)
    if request.org_unit is not None and not reference.has_org_unit(request.org_unit):
        raise UnknownOrgUnit(request.org_unit)
    numbers = [number for number, _ in request.allocations]
    currencies = reference.order_currencies(numbers)
    for number in numbers:
        currency = currencies.get(number)
        if currency is not None and currency != request.amount.currency:
            raise CurrencyMismatch(currency, request.amount.currency, what="receipt")
    reference.calendar().operator_date(request.received_date)
    if not currencies:
        _default_org_unit(reference.org_units(), settings, request.org_unit)


# --- receipts: distribution --------------------------------------------------------------------


def receipt_view(settings: Settings, receipt_id: int) -> dict[str, Any]:
    """A receipt as `receipt show --json` prints it."""
    with unit_of_work(settings.database_url) as session:
        return views.receipt_view(session, receipt_id)


def distribute_receipt(settings: Settings, receipt_id: int) -> dict[str, Any]:
    """Distribute one persisted receipt (a batch of one) and return where its money went."""
    with unit_of_work(settings.database_url) as session:
        if session.get(schema.Receipt, receipt_id) is None:
            raise UnknownReceipt(receipt_id)
    distribute_receipts(settings, [receipt_id])
    with unit_of_work(settings.database_url) as session:
        return views.receipt_view(session, receipt_id)


@dataclass(frozen=True)
class BatchResult:
    """What one distribution batch did: how many receipts it distributed, by resulting status."""

    distributed: int
    statuses: dict[str, int]
    # Refunds and disputes naming the payments just distributed, found before the commit: they
    # can go now.
    waiting_events: tuple[int, ...]


def distribute_receipts(
    settings: Settings, receipt_ids: Sequence[int], *, top_up: int = 0
) -> BatchResult:
    """Distribute persisted receipts, set-based, in one transaction; idempotent.

    With ``top_up``, the batch also takes up to that many other queued receipts, oldest first,
    that no other transaction holds: a worker handed one gateway receipt while a hundred more wait
    behind it distributes them together, at the cost of one. Their own messages then find nothing
    left to do.

    Receipts no longer queued (a redelivered task, a sweep racing a worker) are skipped. The
    receipt rows are locked first, in id order; then every order they name, in id order, is
    locked and loaded in one go; the rules run receipt by receipt on the loaded aggregates (a
    second receipt on the same order sees the first one's effect); every journal is written in
    bulk and the commit sealed once. A receipt the rules refuse (an operator receipt whose period
    has closed, no org unit to book it to) is marked failed with its reason, for the exception
    queue, without holding up the others.
    """
    requested_receipts, queued_receipts, org_units, events_on = _distribution_statements(
        get_engine(settings.database_url).dialect.name == "postgresql"
    )
    with unit_of_work(settings.database_url) as session:
        receipts = list(session.execute(requested_receipts, {"ids": sorted(set(receipt_ids))}))
        if top_up > 0:
            # SKIP LOCKED: never wait for receipts another batch is distributing; whatever it
            # holds it will finish. Only the requested receipts are waited for, so every wait on
            # a receipt still happens before any order is locked.
            receipts += session.execute(
                queued_receipts, {"ids": [r.id for r in receipts], "limit": top_up}
            ).all()
            receipts.sort(key=lambda r: r.id)
        if not receipts:
            return BatchResult(0, {}, ())
        requested = {r.id: json.loads(r.request)["orders"] for r in receipts}
        orders = load_orders_by_number(
            session,
            {a["order"] for allocations in requested.values() for a in allocations},
            lock=True,
        )
        calendar = load_calendar(session)
        units = {unit.code: unit for unit in session.execute(org_units)}
        journals: list[Journal] = []
        updates: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for receipt in receipts:
            try:
                made, update_values = _distribute_one(
                    settings, receipt, requested[receipt.id], orders, calendar, units
                )
            except InputRefused as exc:
                made, update_values = [], {"status": "failed", "status_reason": exc.message}
            journals.extend(made)
            updates.append(
                {
                    "id": receipt.id,
                    "customer_id": receipt.customer_id,
                    "org_unit": receipt.org_unit,
                    "status_reason": None,
                    "processed_at": now,
                    **update_values,
                }
            )
        write_journals(session, journals, orders.values())
        bulk_update(session, RECEIPTS, updates)
        references = sorted({r.reference for r in receipts if r.reference is not None})
        # Read here, not after the commit in a transaction of its own: a refund or dispute locks
        # its payment's receipt row before deciding to wait, and these rows are locked until the
        # commit, so every event that decided to wait on them has committed by now.
        waiting = (
            [int(i) for i in session.execute(events_on, {"references": references}).scalars()]
            if references
            else []
        )
        session.commit()
    statuses: dict[str, int] = {}
    for values in updates:
        statuses[values["status"]] = statuses.get(values["status"], 0) + 1
    return BatchResult(len(receipts), statuses, tuple(waiting))


@cache
def _distribution_statements(postgres: bool) -> tuple[Any, Any, Any, Any]:
    """``distribute_receipts``' own statements, built once per process: on the webhook's path a
    batch holds a few receipts, and building and fingerprinting statements cost more than
    running them. The requested receipts, locked; other queued receipts no one holds (the
    top-up); the org units; the refunds and disputes waiting on named payments."""
    requested = (
        select(RECEIPTS)
        .where(among_param(RECEIPTS.c.id, "ids", postgres=postgres), RECEIPTS.c.status == "queued")
        .order_by(RECEIPTS.c.id)
        .with_for_update()
    )
    queued = (
        select(RECEIPTS)
        .where(
            RECEIPTS.c.status == "queued",
            ~among_param(RECEIPTS.c.id, "ids", postgres=postgres),
        )
        .order_by(RECEIPTS.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    waiting = (
        select(INTAKE_EVENTS.c.id)
        .where(
            INTAKE_EVENTS.c.status.in_(("queued", "waiting")),
            among_param(INTAKE_EVENTS.c.reference, "references", postgres=postgres),
        )
        .order_by(INTAKE_EVENTS.c.id)
    )
    return requested, queued, select(ORG_UNITS), waiting


def _distribute_one(
    settings: Settings,
    receipt: Any,
    requested: list[dict[str, Any]],
    orders: dict[str, Order],
    calendar: Calendar,
    units: dict[str, Any],
) -> tuple[list[Journal], dict[str, Any]]:
    """The journals one receipt posts on the (locked, loaded) orders, and its new status.

    Everything that can refuse the receipt is checked before the first order is touched, so a
    refusal leaves the aggregates as they were for the rest of the batch.
    """
    currency = receipt.currency
    amount = Money.from_minor(receipt.amount_minor, currency)
    allocations = [(a["order"], Money.from_minor(a["amount_minor"], currency)) for a in requested]
    posting_date = (
        calendar.automated_date(receipt.received_date)
        if receipt.automated
        else calendar.operator_date(receipt.received_date)
    )
    original_date = receipt.received_date if posting_date != receipt.received_date else None
    first_order = next((orders[n] for n, _ in allocations if n in orders), None)
    unit = (
        units[first_order.org_unit]
        if first_order is not None
        else _default_org_unit(units, settings, receipt.org_unit)
    )
    customer = receipt.customer_id or (first_order.customer_id if first_order else None)

    journals: list[Journal] = []
    reasons: list[str] = []
    remaining = amount
    for number, share in allocations:
        order = orders.get(number)
        if order is None:
            reasons.append(f"order {number} not found")
            continue
        if order.currency != currency:
            reasons.append(f"order {number} is in {order.currency}, the receipt in {currency}")
            continue
        distribution = order.distribute(
            share,
            debit_account=unit.cash_account,
            posting_date=posting_date,
            receipt_id=receipt.id,
            original_date=original_date,
        )
        journals.extend(distribution.journals)
        remaining -= share
    if remaining.is_positive:
        journals.append(
            Journal(
                type=TxnType.UNAPPLIED,
                posting_date=posting_date,
                entries=(
                    debit(unit.cash_account, remaining),
                    credit(unit.unapplied_account, remaining),
                ),
                currency=currency,
                receipt_id=receipt.id,
                original_date=original_date,
            )
        )
    status = "applied" if remaining.is_zero else ("unapplied" if customer else "unidentified")
    reason = "; ".join(filter(None, [receipt.status_reason, *reasons])) or None
    return journals, {
        "status": status,
        "status_reason": reason if status != "applied" else None,
        "customer_id": customer,
        "org_unit": unit.code,
    }


def _default_org_unit(units: dict[str, Any], settings: Settings, explicit: str | None) -> Any:
    """The org unit whose cash and unapplied accounts take a receipt no order claims."""
    code = explicit or settings.default_org_unit
    if code is not None:
        if code not in units:
            raise UnknownOrgUnit(code)
        return units[code]
    if len(units) == 1:
        return next(iter(units.values()))
    raise NoOrgUnit()


def apply_receipt(
    settings: Settings, receipt_id: int, order_number: str, amount: str | None = None
) -> dict[str, Any]:
    """Apply (part of) an unapplied receipt to an order: a TRANSFER from the unapplied-receipts
    account, distributed by the same rules as a payment."""
    with unit_of_work(settings.database_url) as session:
        receipt = _locked_receipt(session, receipt_id)
        share = None if amount is None else Money.parse(amount, receipt.currency)
        _apply_unapplied(session, receipt, order_number, share)
        session.commit()
        return views.receipt_view(session, receipt_id)


def _apply_unapplied(
    session: Session, receipt: schema.Receipt, order_number: str, share: Money | None
) -> Money:
    """Move ``share`` (default: all) of a locked receipt's unapplied money onto an order."""
    if receipt.status == "reversed":
        raise ReceiptAlreadyReversed(receipt.id)
    if receipt.status in ("queued", "failed"):
        raise ReceiptNotProcessed(receipt.id, receipt.status)
    unapplied = Money.from_minor(
        views.receipt_amounts(session, [receipt.id])[receipt.id].unapplied, receipt.currency
    )
    if unapplied.is_zero:
        raise NothingUnapplied(receipt.id)
    share = unapplied if share is None else share
    if not share.is_positive:
        raise AmountNotPositive("amount", share)
    if share > unapplied:
        raise ApplyExceedsUnapplied(receipt.id, share, unapplied)
    ids = order_ids_by_number(session, [order_number])
    if order_number not in ids:
        raise UnknownOrder(order_number)
    order = load_orders(session, [ids[order_number]], lock=True)[ids[order_number]]
    if order.currency != receipt.currency:
        raise CurrencyMismatch(order.currency, receipt.currency, what="receipt")
    posting_date = load_calendar(session).operator_date(today())
    assert receipt.org_unit is not None  # set when the receipt was distributed
    unit = session.get(schema.OrgUnit, receipt.org_unit)
    assert unit is not None
    distribution = order.distribute(
        share,
        debit_account=unit.unapplied_account,
        posting_date=posting_date,
        receipt_id=receipt.id,
        journal_type=TxnType.TRANSFER,
    )
    write_journals(session, list(distribution.journals), [order])
    left = unapplied - share
    receipt.status = "applied" if left.is_zero else "unapplied"
    receipt.status_reason = None if left.is_zero else receipt.status_reason
    receipt.customer_id = receipt.customer_id or order.customer_id
    session.flush()
    return left


def retry_receipt(settings: Settings, receipt_id: int) -> dict[str, Any]:
    """Re-run an exception once its cause is fixed.

    A failed receipt is distributed again from scratch. An unapplied receipt is applied to the
    orders it originally asked for that can now be found (each up to the amount meant for it).
    """
    with unit_of_work(settings.database_url) as session:
        receipt = _locked_receipt(session, receipt_id)
        if receipt.status == "failed":
            receipt.status, receipt.status_reason = "queued", None
            session.flush()
            session.commit()
            return distribute_receipt(settings, receipt_id)
        if receipt.status not in ("unapplied", "unidentified"):
            raise InputRefused(
                f"receipt {receipt_id} is {receipt.status}: nothing to retry", field="receipt"
            )
        wanted = json.loads(receipt.request)["orders"]
        found = order_ids_by_number(session, [a["order"] for a in wanted])
        applied_to = set(views.receipt_views(session, [receipt])[0]["orders"])
        pending = [a for a in wanted if a["order"] in found and a["order"] not in applied_to]
        if not pending:
            missing = [a["order"] for a in wanted if a["order"] not in found]
            raise InputRefused(
                f"receipt {receipt_id}: "
                + (
                    f"order {', '.join(missing)} still not found"
                    if missing
                    else "no order to apply it to; use receipt apply"
                ),
                field="receipt",
            )
        for allocation in pending:
            want = Money.from_minor(allocation["amount_minor"], receipt.currency)
            unapplied = Money.from_minor(
                views.receipt_amounts(session, [receipt_id])[receipt_id].unapplied, receipt.currency
            )
            if unapplied.is_zero:
                break
            _apply_unapplied(session, receipt, allocation["order"], want.min(unapplied))
        session.commit()
        return views.receipt_view(session, receipt_id)


def reverse_receipt(
    settings: Settings, receipt_id: int, reason: str, *, automated: bool = False
) -> dict[str, Any]:
    """Reverse a receipt (returned check, chargeback): mirror every journal it caused, newest
    first, so its orders end as if it had never been distributed, the write-offs it reversed
    included."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a receipt reversal needs a reason", field="reason")
    with unit_of_work(settings.database_url) as session:
        receipt = _locked_receipt(session, receipt_id)
        calendar = load_calendar(session)
        posting_date = (
            calendar.automated_date(today()) if automated else calendar.operator_date(today())
        )
        reverse_locked_receipt(session, receipt, reason, posting_date)
        session.commit()
        return views.receipt_view(session, receipt_id)


def reverse_locked_receipt(
    session: Session, receipt: schema.Receipt, reason: str, posting_date: date
) -> list[Journal]:
    """Mirror every journal a locked receipt caused, in the caller's transaction."""
    if receipt.status == "reversed":
        raise ReceiptAlreadyReversed(receipt.id)
    if receipt.status in ("queued", "failed"):
        raise ReceiptNotProcessed(receipt.id, receipt.status)
    caused = session.execute(
        select(JOURNALS.c.id, JOURNALS.c.order_id).where(
            JOURNALS.c.receipt_id == receipt.id,
            JOURNALS.c.type.in_(("RECEIPT", "UNAPPLIED", "TRANSFER", "WRITE_OFF_REVERSAL")),
        )
    ).all()
    orders = load_orders(session, {row.order_id for row in caused if row.order_id}, lock=True)
    write_offs = {
        write_off.id: write_off
        for order in orders.values()
        for line in order.lines
        for write_off in line.write_offs
    }
    stored = views.stored_journals(session, [row.id for row in caused], write_offs)
    mirrors: list[Journal] = []
    for journal in sorted(stored, key=lambda j: j.id or 0, reverse=True):
        order = orders.get(journal.order_id) if journal.order_id is not None else None
        mirror = journal.mirror(posting_date=posting_date, receipt_id=receipt.id, memo=reason)
        if order is not None:
            order.post(mirror)
        mirrors.append(mirror)
    write_journals(session, mirrors, orders.values())
    session.execute(
        update(RECEIPTS)
        .where(RECEIPTS.c.id == receipt.id)
        .values(status="reversed", status_reason=reason)
    )
    return mirrors


def order_currency(settings: Settings, number: str) -> str | None:
    """The currency of an order, or None when there is no such order."""
    with unit_of_work(settings.database_url) as session:
        return session.execute(
            select(schema.OrderRow.currency).where(schema.OrderRow.number == number)
        ).scalar_one_or_none()


def _locked_receipt(session: Session, receipt_id: int) -> schema.Receipt:
    receipt = session.execute(
        select(schema.Receipt).where(schema.Receipt.id == receipt_id).with_for_update()
    ).scalar_one_or_none()
    if receipt is None:
        raise UnknownReceipt(receipt_id)
    return receipt


# --- write-offs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteOffRequest:
    """An operator's write-off, as the CLI takes it."""

    order: str
    line: int | None  # None: the whole order, one write-off per line owed money
    amount: str | None  # a decimal string in the order's currency; None with line=None
    reason: str
    comment: str | None = None
    posting_date: date | None = None
    account: str | None = None
    advanced: bool = False


def create_write_off(
    settings: Settings, request: WriteOffRequest, *, dry_run: bool = False
) -> dict[str, Any]:
    """Write off a line (or every owed line of an order); with ``dry_run`` return the write-off,
    the new balance and the journal without committing anything."""
    reason = Reason.parse(request.reason)
    if request.line is None and request.amount is not None:
        raise InvalidInput(
            "a whole-order write-off takes no amount: each line's full balance is written off",
            field="amount",
        )
    if request.line is not None and request.amount is None:
        raise InvalidInput("a line write-off needs an amount", field="amount")
    with unit_of_work(settings.database_url) as session:
        if request.account is not None:
            account = session.get(schema.Account, request.account)
            if account is None:
                raise UnknownAccount(request.account)
            if not account.active:
                raise InactiveAccount(request.account)
        ids = order_ids_by_number(session, [request.order])
        if request.order not in ids:
            raise UnknownOrder(request.order)
        posting_date = load_calendar(session).operator_date(request.posting_date or today())
        order = load_orders(session, [ids[request.order]], lock=True)[ids[request.order]]
        options: dict[str, Any] = {
            "posting_date": posting_date,
            "advanced": request.advanced,
            "account": request.account,
            "comment": request.comment,
        }
        if request.line is None:
            made = order.write_off_order(reason, **options)
        else:
            assert request.amount is not None
            amount = Money.parse(request.amount, order.currency)
            if not amount.is_positive:
                raise AmountNotPositive("amount", amount)
            made = [order.write_off(request.line, amount, reason, **options)]
        if not dry_run:
            write_journals(session, [journal for _, journal in made], [order])
        result = [
            views.write_off_result(session, order, write_off, journal)
            for write_off, journal in made
        ]
        if not dry_run:
            session.commit()
        if request.line is not None:
            return {**result[0], "dry_run": dry_run}
        return {
            "ids": [r["id"] for r in result],
            "order": order.number,
            "write_offs": result,
            "dry_run": dry_run,
        }


def reverse_write_off(
    settings: Settings,
    write_off_id: int,
    amount: str | None = None,
    *,
    posting_date: date | None = None,
) -> dict[str, Any]:
    """An operator's full or partial reversal of a write-off, up to its unreversed amount."""
    with unit_of_work(settings.database_url) as session:
        order_id = session.execute(
            select(schema.WriteOff.order_id).where(schema.WriteOff.id == write_off_id)
        ).scalar_one_or_none()
        if order_id is None:
            raise UnknownWriteOff(write_off_id)
        day = load_calendar(session).operator_date(posting_date or today())
        order = load_orders(session, [order_id], lock=True)[order_id]
        money = None if amount is None else Money.parse(amount, order.currency)
        journal = order.reverse_write_off(write_off_id, money, posting_date=day)
        write_journals(session, [journal], [order])
        session.commit()
        line, write_off = order.write_off_by_id(write_off_id)
        return {
            "id": journal.id,
            "write_off": write_off_id,
            "order": order.number,
            "line": line.line_no,
            "amount": str(journal.amount),
            "reversed": str(write_off.reversed_amount),
            "unreversed": str(write_off.unreversed),
            "line_balance": str(line.balance),
            "journal": views.journal_dict(session, journal),
        }


__all__: Sequence[str] = (
    "ReceiptRequest",
    "WriteOffRequest",
    "apply_receipt",
    "create_write_off",
    "distribute_receipt",
    "load_file",
    "order_currency",
    "retry_receipt",
    "reverse_receipt",
    "reverse_write_off",
    "submit_receipt",
)
