"""Distribution: queued receipts placed on orders, set-based, a batch in one transaction
(docs/rules.md sections 4 and 14).

A batch locks its receipts, reads the orders they may be placed on into an
:class:`~ledger.domain.order_book.OrderBook` — the orders named or pointed at whole and locked,
the other open orders of the customers concerned as summaries — lets the receipt aggregate
match and distribute each one, and writes every journal in bulk. Tasks and the in-process
dispatcher call :func:`distribute_receipts`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings
from ledger.domain.errors import InputRefused
from ledger.domain.journal import Journal
from ledger.domain.matching import COMBINATION_WINDOW, seeks_match
from ledger.domain.matching_config import MatchConfig
from ledger.domain.order_book import OrderBook, OrdersNeeded
from ledger.domain.receipt import Receipt
from ledger.domain.remittance import payer_key, reference_keys
from ledger.persistence.outbox import Written
from ledger.persistence.unit_of_work import UnitOfWork
from ledger.queries.views import written_journals

# A batch is redone when an earlier receipt changes which orders a later one picks; the last
# attempt reads every open order concerned.
ATTEMPTS = 3


@dataclass(frozen=True)
class BatchResult:
    """What one distribution batch did: how many receipts it distributed, by resulting status."""

    distributed: int
    statuses: dict[str, int]
    # Refunds and disputes naming the payments just distributed, found before the commit: they
    # can go now.
    waiting_events: tuple[int, ...]
    # The batch's commit, for this process to publish without reading it back.
    written: Written | None = None


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
    locked and loaded in one go; the rules (:meth:`Receipt.distribute`) run receipt by receipt
    on the loaded aggregates (a second receipt on the same order sees the first one's effect);
    every journal is written in bulk and the commit sealed once. A receipt the rules refuse (an
    operator receipt whose period has closed, no org unit to book it to) is marked failed with
    its reason, for the exception queue, without holding up the others.
    """
    needed = OrdersNeeded()
    for attempt in range(ATTEMPTS):
        with UnitOfWork(settings.database_url, by_key=True) as uow:
            receipts, payments = uow.receipts.lock_queued(receipt_ids, top_up)
            if not receipts:
                return BatchResult(0, {}, ())
            units = uow.reference.org_unit_accounts()
            # Read with the org units, not in a statement of its own: a named short payment
            # needs the tolerance even in a batch where nothing else is matched.
            configs = uow.matching.configs_of(units)
            calendar = uow.reference.calendar()
            default_unit = settings.default_org_unit
            # The last attempt reads every open order of every customer concerned and every
            # order named so far: nothing is then left for matching to ask for.
            last = attempt == ATTEMPTS - 1
            book, seeking = _order_book(uow, receipts, configs, needed, everything=last)
            _load_picked(uow, book, seeking, units, default_unit, configs)
            journals: list[Journal] = []
            try:
                for receipt in receipts:
                    try:
                        journals.extend(
                            receipt.distribute(book, units, default_unit, calendar, configs)
                        )
                    except InputRefused as exc:
                        receipt.fail(exc.message)
            except OrdersNeeded as more:
                # An earlier receipt of the batch changed what a later one picks: start again
                # with those orders read from the outset.
                needed = OrdersNeeded(
                    (*needed.numbers, *more.numbers), (*needed.customers, *more.customers)
                )
                continue
            now = datetime.now(UTC)
            seq = uow.journals.write(journals, book.orders())
            uow.receipts.save_statuses(receipts, now)
            # Read here, not after the commit in a transaction of its own: a refund or dispute
            # locks its payment's receipt row before deciding to wait, and these rows are locked
            # until the commit, so every event that decided to wait on them has committed by now.
            waiting = uow.events.waiting_on(payments)
            written = None if seq is None else Written(seq, written_journals(uow.session, journals))
            uow.commit()
        statuses = Counter(receipt.status.value for receipt in receipts)
        return BatchResult(len(receipts), dict(statuses), tuple(waiting), written)
    raise RuntimeError(f"matching still asked for orders after {ATTEMPTS} attempts: {needed}")


def _order_book(
    uow: UnitOfWork,
    receipts: Sequence[Receipt],
    configs: Mapping[str, MatchConfig],
    needed: OrdersNeeded,
    *,
    everything: bool,
) -> tuple[OrderBook, list[Receipt]]:
    """The orders the batch may place money on: the orders the receipts name (and ``needed``
    names), whole and locked; for the receipts matching must place (:func:`seeks_match`), the
    orders their remittance names, whole and locked, and the open orders of every customer they
    may belong to as summaries (all of them for the customers ``needed`` names, or for every
    customer with ``everything``) — a few statements for the whole batch, none per receipt.
    With the book, the receipts that seek matching."""
    numbers = {n for r in receipts for n, _ in r.requested}
    named = uow.orders.by_number(numbers | set(needed.numbers), lock=True)
    seeking = [r for r in receipts if seeks_match(r, named, configs)]
    if not seeking:
        return OrderBook(named.values(), {}, (), seeking=0), seeking
    keys: set[str] = set()
    for receipt in seeking:
        keys |= reference_keys(
            receipt.remittance,
            [number for number, _ in receipt.requested],
            receipt.remittance_breaks,
        )
    accounts = {payer_key(r.payer_account) for r in seeking if r.payer_account}
    payers = uow.matching.payer_customers(accounts)
    customers = uow.reference.known_customers(
        {r.requested_customer for r in seeking if r.requested_customer} | set(payers.values())
    )
    owners = {named[n].customer_id for r in seeking for n, _ in r.requested if n in named}
    found = uow.orders.candidates(keys, named)
    concerned = customers | owners
    ranges = _balance_ranges(seeking, configs)
    read = uow.orders.summaries(
        concerned,
        ranges=ranges,
        numbers=[*named, *(o.number for o in found)],
        complete=concerned if everything else {c for c, _ in needed.customers},
        oldest=COMBINATION_WINDOW,
    )
    book = OrderBook(
        [*named.values(), *found],
        payers,
        concerned,
        summaries=read.summaries,
        unread=read.groups,
        ranges=ranges,
        seeking=len(seeking),
    )
    return book, seeking


def _balance_ranges(
    receipts: Sequence[Receipt], configs: Mapping[str, MatchConfig]
) -> set[tuple[int, int]]:
    """The balances (minor units) an order may have for the exact-amount rule to pick it for
    one of these receipts: from the amount up to the amount plus the widest tolerance any org
    unit allows in the receipt's currency."""
    widest: dict[str, int] = {}
    for config in configs.values():
        for currency, tolerance in config.tolerances.items():
            widest[currency] = max(widest.get(currency, 0), tolerance.amount.minor)
    ranges = set()
    for receipt in receipts:
        amount = receipt.requested[0][1] if receipt.requested else receipt.amount
        ranges.add((amount.minor, amount.minor + widest.get(receipt.currency, 0)))
    return ranges


def _load_picked(
    uow: UnitOfWork,
    book: OrderBook,
    receipts: Sequence[Receipt],
    units: Mapping[str, Any],
    default_unit: str | None,
    configs: Mapping[str, MatchConfig],
) -> None:
    """Before anything moves, match the receipts (those seeking matching) and load whole
    (locked) the orders matching picks that the book holds only as summaries, and every open
    order of the customers a rule must see all of; again, until matching asks for nothing
    more."""
    if not receipts:
        return
    for _ in range(3):
        numbers: set[str] = set()
        customers: set[tuple[str, str]] = set()
        for receipt in receipts:
            try:
                _, placement = receipt.placement(book, units, default_unit, configs)
            except OrdersNeeded as more:
                numbers.update(more.numbers)
                customers.update(more.customers)
                continue
            except InputRefused:
                continue  # distribution refuses it again, with its reason
            numbers.update(book.missing(n for n, _ in (*placement.shares, *placement.shortfalls)))
        if not numbers and not customers:
            return
        if customers:
            owners = {c for c, _ in customers}
            read = uow.orders.summaries(owners, complete=owners, oldest=COMBINATION_WINDOW)
            book.add(read.summaries, read.groups)
        if numbers:
            book.load(uow.orders.by_number(numbers, lock=True).values())
