"""The orders a distribution batch may place money on, as matching sees them (docs/rules.md
section 14).

Matching reads a handful of facts about each order: whose it is, its currency, org unit, date and
open balance. The orders a receipt names or its remittance points at are loaded whole and
locked; the other open orders of the customers a batch concerns are read as
:class:`OrderSummary` rows — those facts only, no lines, no lock — since a customer may have
thousands and a receipt takes at most a few. An order matching picks is loaded whole before any
money moves: :meth:`OrderBook.missing` names the ones still summarised, and
:class:`OrdersNeeded` stops a receipt that would place money on one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from ledger.domain.money import Money
from ledger.domain.order import Order
from ledger.domain.remittance import order_key, payer_key


class Candidate(Protocol):
    """What matching reads of an order: an :class:`Order` or an :class:`OrderSummary`."""

    @property
    def number(self) -> str: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def currency(self) -> str: ...
    @property
    def org_unit(self) -> str: ...
    @property
    def order_date(self) -> date | None: ...
    @property
    def parent_id(self) -> str | None: ...
    @property
    def bills_to_parent(self) -> bool: ...
    @property
    def balance(self) -> Money: ...


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """An open order as matching needs it, read without its lines and without a lock."""

    number: str
    customer_id: str
    currency: str
    org_unit: str
    order_date: date | None
    parent_id: str | None
    bills_to_parent: bool
    balance: Money


@dataclass(frozen=True, slots=True)
class OpenOrders:
    """What a book was not given of one customer's open orders in one currency: how many, their
    open total, and the oldest-first key (:func:`oldest_key`) up to which every one was given."""

    unread: int
    unread_total: Money
    read_up_to: tuple[date, str] | None

    @classmethod
    def unread_of(
        cls,
        count: int,
        total_minor: int,
        currency: str,
        read: Sequence[OrderSummary],
        last_by_age: OrderSummary | None,
    ) -> OpenOrders:
        """From ``count`` open orders totalling ``total_minor``, ``read`` were read, and every
        one up to ``last_by_age`` by age (None: fewer than asked for, so all)."""
        return cls(
            unread=count - len(read),
            unread_total=Money.from_minor(
                total_minor - sum(s.balance.minor for s in read), currency
            ),
            read_up_to=None if last_by_age is None else oldest_key(last_by_age),
        )


class OrdersNeeded(Exception):
    """Matching needs orders the book does not hold whole: the ``numbers`` it would place money
    on, or every open order of the ``customers`` (customer id, currency) a rule must see all of.
    Persistence loads them and the receipt is matched again; raised before anything is touched."""

    def __init__(
        self, numbers: Iterable[str] = (), customers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.numbers = tuple(numbers)
        self.customers = tuple(customers)
        super().__init__(
            f"orders to load before distributing: {', '.join(self.numbers) or '-'}; "
            f"every open order of: {', '.join(c for c, _ in self.customers) or '-'}"
        )


def oldest_key(order: Candidate) -> tuple[date, str]:
    """Oldest first: by order date, then number."""
    # An order without a date sorts after every dated one: it cannot be shown to be older.
    return (order.order_date or date.max, order.number)


def belongs_to(order: Candidate, customer: str) -> bool:
    """Whether ``order`` is one of ``customer``'s: its own, or a child's billed to it."""
    return order.customer_id == customer or (order.bills_to_parent and order.parent_id == customer)


class OrderBook:
    """The orders a batch may place receipts on, live: the same Order aggregates distribution
    changes, so a second receipt sees the first one's effect; the rest as summaries."""

    def __init__(
        self,
        orders: Iterable[Order],
        payer_accounts: Mapping[str, str],
        customers: Collection[str],
        *,
        summaries: Iterable[OrderSummary] = (),
        unread: Mapping[tuple[str, str], OpenOrders] | None = None,
        ranges: Iterable[tuple[int, int]] = (),
        seeking: int = 0,
    ) -> None:
        # orders: every order persistence loaded whole (named ones, ones found by key);
        # summaries: the other open orders of the customers that may be the receipt's;
        # unread: per (customer, currency), the open orders not among either (none: the book
        # holds every open order of every customer it holds any of); payer_accounts:
        # payer_key -> customer id; customers: the customer ids that exist among those the batch
        # names; ranges: the balances (minor units, inclusive) within which every open order of
        # those customers is held.
        self._orders: dict[str, Candidate] = {}
        self._unread: dict[tuple[str, str], OpenOrders] = {}
        self._ranges: set[tuple[int, int]] = set()
        self._whole: dict[str, Order] = {}
        self._by_key: dict[str, list[Candidate]] = {}
        self._by_customer: dict[str, list[Candidate]] = {}
        for order in orders:
            if order.number not in self._orders:
                self._whole[order.number] = order
                self._add(order)
        self.add(summaries, unread or {}, ranges)
        self._payers = {payer_key(account): owner for account, owner in payer_accounts.items()}
        self._customers = frozenset(customers)
        # How many of the batch's receipts matching must place beyond the orders they name
        # (:func:`ledger.domain.matching.seeks_match`): none, and the batch needs no matching
        # configuration.
        self.seeking = seeking

    def add(
        self,
        summaries: Iterable[OrderSummary],
        unread: Mapping[tuple[str, str], OpenOrders],
        ranges: Iterable[tuple[int, int]] = (),
    ) -> None:
        """Hold these summaries too (not in place of whole orders), this account of what is
        still unread of these customers' open orders, and the balance ranges read whole."""
        for summary in summaries:
            if summary.number not in self._orders:
                self._add(summary)
        self._unread.update(unread)
        self._ranges.update(ranges)

    def holds_balances(self, low: Money, high: Money) -> bool:
        """Whether every open order with a balance from ``low`` to ``high`` is held."""
        wanted = (low.minor, high.minor)
        return wanted in self._ranges or any(
            a <= wanted[0] and wanted[1] <= b for a, b in self._ranges
        )

    def unread(self, customer: str, currency: str) -> OpenOrders | None:
        """What the book was not given of the customer's open orders in the currency; None
        when it holds every one."""
        found = self._unread.get((customer, currency))
        return found if found is not None and found.unread > 0 else None

    def _add(self, order: Candidate) -> None:
        self._orders[order.number] = order
        self._by_key.setdefault(order_key(order.number), []).append(order)
        self._by_customer.setdefault(order.customer_id, []).append(order)
        parent = order.parent_id
        if order.bills_to_parent and parent is not None and parent != order.customer_id:
            self._by_customer.setdefault(parent, []).append(order)

    def named(self, number: str) -> Candidate | None:
        """The order with this number, whole or summarised."""
        return self._orders.get(number)

    def whole(self, number: str) -> Order | None:
        """The order with this number when the book holds it whole."""
        return self._whole.get(number)

    def by_key(self, key: str) -> list[Candidate]:
        return list(self._by_key.get(key, ()))

    def of_customer(self, customer: str) -> list[Candidate]:
        """The customer's orders: its own and its children's billed to it."""
        return list(self._by_customer.get(customer, ()))

    def payer(self, account: str) -> str | None:
        """The customer a payer account is registered to, if any."""
        return self._payers.get(payer_key(account))

    def has_customer(self, customer: str) -> bool:
        return customer in self._customers

    def missing(self, numbers: Iterable[str]) -> list[str]:
        """Those of ``numbers`` the book holds only as summaries, in order, once each."""
        return [n for n in dict.fromkeys(numbers) if n in self._orders and n not in self._whole]

    def load(self, orders: Iterable[Order]) -> None:
        """Hold these orders whole in place of their summaries."""
        for order in orders:
            old = self._orders.get(order.number)
            if order.number in self._whole or old is None:
                continue
            self._whole[order.number] = order
            self._orders[order.number] = order
            groups = [self._by_key.get(order_key(order.number), [])]
            owners = {order.customer_id, order.parent_id or order.customer_id}
            groups += [self._by_customer.get(owner, []) for owner in owners]
            for group in groups:
                for index, held in enumerate(group):
                    if held is old:
                        group[index] = order

    def orders(self) -> list[Order]:
        """Every order the book holds whole, the ones distribution changed among them."""
        return list(self._whole.values())
