"""Service functions: one per command, each one database transaction.

They take the settings and plain values (ids, strings, Money) and return JSON-ready dicts, so the
CLI, the HTTP ingress and Celery tasks all call the same code. A service validates, locks what it
changes, runs a rule of :mod:`ledger.domain.order`, stores the journals through the unit of work's
repositories, and commits as its last step; any refusal raises before the commit and leaves nothing changed.

Receipts go through two steps, as the message-driven pipeline needs: :func:`submit_receipt`
persists the intake under its source-derived key (the inbox), and :func:`distribute_receipt`
distributes a persisted receipt exactly once, whoever calls it and however often.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from config.settings import Settings
from ledger.domain.errors import (
    AmountNotPositive,
    CurrencyMismatch,
    IdempotencyConflict,
    InactiveAccount,
    InputRefused,
    InvalidInput,
    UnknownAccount,
    UnknownCustomer,
    UnknownOrder,
    UnknownOrgUnit,
    UnknownReceipt,
    UnknownWriteOff,
    WriteOffReversalExceedsUnreversed,
)
from ledger.domain.journal import Journal
from ledger.domain.money import Money
from ledger.domain.order import Reason
from ledger.domain.receipt import Receipt, ReceiptStatus, choose_org_unit
from ledger.domain.remittance import payer_key
from ledger.intake.commands import ReceiptRequest
from ledger.intake.inputs import LoadFile
from ledger.persistence.receipts import StoredIntake, record_automated
from ledger.persistence.unit_of_work import UnitOfWork, reading
from ledger.queries import views
from ledger.services.distribution import distribute_receipts
from ledger.services.load import LoadSummary, load


def today() -> date:
    return date.today()


# --- load --------------------------------------------------------------------------------------


def load_file(settings: Settings, data: LoadFile) -> LoadSummary:
    with UnitOfWork(settings.database_url) as uow:
        summary = load(uow, data)
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
        intake = intake_receipt(uow, settings, request)
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


def intake_receipt(uow: UnitOfWork, settings: Settings, request: ReceiptRequest) -> Intake:
    """Record a receipt in the caller's unit of work (the caller commits), or find it recorded."""
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
    with reading(settings.database_url) as uow:
        return views.receipt_view(uow.session, receipt_id)


def distribute_receipt(settings: Settings, receipt_id: int) -> dict[str, Any]:
    """Distribute one persisted receipt (a batch of one) and return where its money went."""
    with reading(settings.database_url) as uow:
        if not uow.receipts.exists(receipt_id):
            raise UnknownReceipt(receipt_id)
    distribute_receipts(settings, [receipt_id])
    with reading(settings.database_url) as uow:
        return views.receipt_view(uow.session, receipt_id)


def _default_org_unit(units: dict[str, Any], settings: Settings, explicit: str | None) -> Any:
    """The org unit whose cash and unapplied accounts take a receipt no order claims."""
    return choose_org_unit(units, explicit or settings.default_org_unit)


def apply_receipt(
    settings: Settings, receipt_id: int, order_number: str, amount: str | None = None
) -> dict[str, Any]:
    """Apply (part of) an unapplied receipt to an order: a TRANSFER from the unapplied-receipts
    account, distributed by the same rules as a payment."""
    with UnitOfWork(settings.database_url) as uow:
        receipt = uow.receipts.locked(receipt_id)
        share = None if amount is None else Money.parse(amount, receipt.currency)
        _apply_unapplied(uow, receipt, order_number, share)
        uow.commit()
        return views.receipt_view(uow.session, receipt_id)


def _unapplied(uow: UnitOfWork, receipt: Receipt) -> Money:
    split = uow.receipts.splits([receipt.id])[receipt.id]
    return Money.from_minor(split.unapplied, receipt.currency)


def _apply_unapplied(
    uow: UnitOfWork, receipt: Receipt, order_number: str, share: Money | None
) -> None:
    """Move ``share`` (default: all) of a locked receipt's unapplied money onto an order."""
    unapplied = _unapplied(uow, receipt)
    receipt.check_apply(share, unapplied)
    ids = uow.orders.ids_by_number([order_number])
    if order_number not in ids:
        raise UnknownOrder(order_number)
    order = uow.orders.load([ids[order_number]], lock=True)[ids[order_number]]
    posting_date = uow.reference.calendar().operator_date(today())
    assert receipt.org_unit is not None  # set when the receipt was distributed
    unit = uow.reference.org_unit_accounts()[receipt.org_unit]
    journals = receipt.apply(
        order,
        share,
        unapplied,
        unapplied_account=unit.unapplied_account,
        posting_date=posting_date,
    )
    uow.journals.write(journals, [order])
    uow.receipts.save(receipt)
    if receipt.payer_account:
        # The clerk has told us whose account this is: the next receipt from it is matched by
        # it. An account another customer holds is never moved.
        uow.matching.register_payer(payer_key(receipt.payer_account), order.customer_id)


def retry_receipt(settings: Settings, receipt_id: int) -> dict[str, Any]:
    """Re-run an exception once its cause is fixed.

    A failed receipt is distributed again from scratch. An unapplied receipt is applied to the
    orders it originally asked for that can now be found (each up to the amount meant for it).
    """
    with UnitOfWork(settings.database_url) as uow:
        receipt = uow.receipts.locked(receipt_id)
        receipt.check_retry()
        if receipt.status is ReceiptStatus.FAILED:
            receipt.requeue()
            uow.receipts.save(receipt)
            uow.commit()
            return distribute_receipt(settings, receipt_id)
        found = uow.orders.ids_by_number([number for number, _ in receipt.requested])
        applied_to = uow.receipts.orders_applied_to(receipt_id)
        pending = [
            (number, want)
            for number, want in receipt.requested
            if number in found and number not in applied_to
        ]
        if not pending:
            missing = [number for number, _ in receipt.requested if number not in found]
            raise InputRefused(
                f"receipt {receipt_id}: "
                + (
                    f"order {', '.join(missing)} still not found"
                    if missing
                    else "no order to apply it to; use receipt apply"
                ),
                field="receipt",
            )
        for number, want in pending:
            unapplied = _unapplied(uow, receipt)
            if unapplied.is_zero:
                break
            _apply_unapplied(uow, receipt, number, want.min(unapplied))
        uow.commit()
        return views.receipt_view(uow.session, receipt_id)


def reverse_receipt(
    settings: Settings, receipt_id: int, reason: str, *, automated: bool = False
) -> dict[str, Any]:
    """Reverse a receipt (returned check, chargeback): mirror every journal it caused, newest
    first, so its orders end as if it had never been distributed, the write-offs it reversed
    included."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a receipt reversal needs a reason", field="reason")
    with UnitOfWork(settings.database_url) as uow:
        receipt = uow.receipts.locked(receipt_id)
        calendar = uow.reference.calendar()
        posting_date = (
            calendar.automated_date(today()) if automated else calendar.operator_date(today())
        )
        reverse_locked_receipt(uow, receipt, reason, posting_date)
        uow.commit()
        return views.receipt_view(uow.session, receipt_id)


def reverse_locked_receipt(
    uow: UnitOfWork, receipt: Receipt, reason: str, posting_date: date
) -> list[Journal]:
    """Mirror every journal a locked receipt caused (:meth:`Receipt.reverse`), in the caller's
    unit of work."""
    receipt.check_reversible()
    caused = uow.receipts.caused_journals(receipt.id)
    orders = uow.orders.load({order_id for _, order_id in caused if order_id}, lock=True)
    stored = views.stored_journals(uow.session, [journal_id for journal_id, _ in caused])
    by_number = {order.number: order for order in orders.values()}
    mirrors = receipt.reverse(stored, by_number, reason, posting_date)
    uow.journals.write(mirrors, orders.values())
    uow.receipts.save(receipt)
    return mirrors


def order_currency(settings: Settings, number: str) -> str | None:
    """The currency of an order, or None when there is no such order."""
    with reading(settings.database_url) as uow:
        return uow.orders.currency(number)


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
    with UnitOfWork(settings.database_url) as uow:
        if request.account is not None:
            account = uow.reference.account(request.account)
            if account is None:
                raise UnknownAccount(request.account)
            if not account.active:
                raise InactiveAccount(request.account)
        ids = uow.orders.ids_by_number([request.order])
        if request.order not in ids:
            raise UnknownOrder(request.order)
        posting_date = uow.reference.calendar().operator_date(request.posting_date or today())
        order = uow.orders.load([ids[request.order]], lock=True)[ids[request.order]]
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
            uow.journals.write([journal for _, journal in made], [order])
        result = [
            views.write_off_result(uow.session, order, write_off, journal)
            for write_off, journal in made
        ]
        if not dry_run:
            uow.commit()
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
    with UnitOfWork(settings.database_url) as uow:
        order_id = uow.orders.write_off_order_id(write_off_id)
        if order_id is None:
            raise UnknownWriteOff(write_off_id)
        day = uow.reference.calendar().operator_date(posting_date or today())
        order = uow.orders.load([order_id], lock=True)[order_id]
        # The operator names the write-off by its id; the order aggregate knows it by key.
        key = uow.orders.write_off_key(write_off_id)
        assert key is not None, "loading its order maps every write-off of it"
        money = None if amount is None else Money.parse(amount, order.currency)
        try:
            journal = order.reverse_write_off(key, money, posting_date=day)
        except WriteOffReversalExceedsUnreversed as refused:
            raise WriteOffReversalExceedsUnreversed(
                write_off_id, refused.amount, refused.unreversed
            ) from None
        uow.journals.write([journal], [order])
        uow.commit()
        line, write_off = order.write_off_at(key)
        return {
            "id": uow.journals.journal_id(journal),
            "write_off": write_off_id,
            "order": order.number,
            "line": line.line_no,
            "amount": str(journal.amount),
            "reversed": str(write_off.reversed_amount),
            "unreversed": str(write_off.unreversed),
            "line_balance": str(line.balance),
            "journal": views.journal_dict(uow.session, journal),
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
