"""Matching benchmark: a labelled set of messy remittance through the real pipeline, scored.

    python benchmarks/matching.py [--items 3400] [--seed 7] [--crowd 8] [--database-url URL] [--json]

Generates a load file and a lockbox CSV file (with the ``remittance`` and ``payer_account``
columns) in which every check is one *case* of a kind SPEC section 15 names — mistyped, padded
and prefixed order numbers, several invoices in the memo with and without amounts, a payer
account and only the amount, the whole balance, a combination of 2–5 orders, short payments
within the tolerance the load file configures, a child's order billed to its parent — or of
unmatchable noise: two orders of equal balance, another customer's order, another currency,
another org unit, a typo naming another customer's order, a paid order, a shortfall beyond the
tolerance. Each case has its own customers and orders and its answer known: the orders it must
be placed on and with how much, or none. Its customers also have up to ``--crowd`` more open
orders of random balances, chosen so that the answer still holds (an amount that only one order
or one set of orders matches among all of them). The kinds come round in turn, shuffled by
``--seed``.

Then it runs the pipeline as an operator does, in this process through the CLI: ``arledger
init``, ``load``, ``lockbox import`` of a first file that pays the orders the "paid order" cases
name, then ``lockbox import`` of the messy file (no broker: distributed in-process). It reads
every receipt back (the ``receipt show --json`` view: ``status``, ``orders``, ``match``) and
every order a case should have paid (``order show --json``: balance, automatic write-offs), and
scores each case:

- *right*: a case that should place is applied, on exactly its orders, each left with the
  balance the answer says (tolerance shortfalls written off automatically); noise is left
  waiting with nothing placed;
- *missed*: a case that should place was left waiting with nothing placed (a clerk's work, not
  an error);
- *misapplied*: anything else — money on an order the answer does not name, or the wrong amount
  on one it does. The goal is none, in every run.

It prints the automatic rate (receipts applied automatically ÷ receipts, as ``report
cash-application`` counts it), the rate among the cases that should place, the misapplications,
and the counts per rule (as recorded in ``match.rule``) and per kind, then ``arledger check`` and
``arledger report cash-application`` for the messy file's day (the product's own count).

SQLite in a temporary directory by default; ``--database-url`` runs against another database,
which must be empty (PostgreSQL: create one first). The org unit ``ASSN`` is the default org
unit (``ARLEDGER_DEFAULT_ORG_UNIT``) and has a USD tolerance of 5.00 and 5 %.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from config.settings import get_settings
from ledger.domain.money import Money
from ledger.intake.lockbox import LockboxItem, write_csv
from ledger.persistence.db import connect
from ledger.persistence.tables import RECEIPTS
from ledger.queries.views import order_view, receipt_views
from workers.cli import main as cli_main

DEPOSIT = date(2026, 11, 6)
FIRST_ORDER_DAY = date(2025, 1, 1)
UNIT, OTHER_UNIT = "ASSN", "EVT"
PRODUCTS = ("DUES", "COURSE", "BOOK", "DONATION")
# The tolerance the load file configures for USD in ASSN: at most 5.00 and at most 5 % of the
# balance paid. Kept in minor units and percent for the answers below.
TOLERANCE_MINOR, TOLERANCE_PERCENT = 500, 5
WINDOW = 30  # the combination rule looks at the customer's 30 oldest open orders
BATCH_ITEMS = 100


# --- the answers SPEC section 15 gives, computed independently of ledger.domain.matching -----


def within_tolerance(shortfall: int, balance: int) -> bool:
    return 0 < shortfall <= TOLERANCE_MINOR and shortfall * 100 <= balance * TOLERANCE_PERCENT


@dataclass(frozen=True)
class AmountAnswer:
    """What rules 4–6 give for an amount among a customer's open balances (oldest first):
    ``rule`` is exact_amount, whole_balance, combination, "tie" or None; ``picked`` the
    indexes of the orders paid; ``short`` the shortfall a tolerance writes off."""

    rule: str | None
    picked: tuple[int, ...] = ()
    short: int = 0


def amount_answer(balances: Sequence[int], amount: int) -> AmountAnswer:
    """Rules 4 (exact amount), 5 (whole balance) and 6 (combination) of SPEC section 15, by
    brute force over every set: exact beats within tolerance; two answers are a tie."""
    exact = [i for i, b in enumerate(balances) if b == amount]
    if len(exact) == 1:
        return AmountAnswer("exact_amount", (exact[0],))
    if exact:
        return AmountAnswer("tie")
    near = [i for i, b in enumerate(balances) if within_tolerance(b - amount, b)]
    if len(near) == 1:
        return AmountAnswer("exact_amount", (near[0],), balances[near[0]] - amount)
    if near:
        return AmountAnswer("tie")
    if balances and sum(balances) == amount:
        return AmountAnswer("whole_balance", tuple(range(len(balances))))
    window = range(min(WINDOW, len(balances)))
    exact_sets, near_sets = [], []
    for size in range(2, 6):
        for picked in combinations(window, size):
            total = sum(balances[i] for i in picked)
            if total == amount:
                exact_sets.append(picked)
            elif within_tolerance(total - amount, total):
                near_sets.append(picked)
    for sets in (exact_sets, near_sets):
        if len(sets) == 1:
            total = sum(balances[i] for i in sets[0])
            return AmountAnswer("combination", sets[0], total - amount)
        if sets:
            return AmountAnswer("tie")
    return AmountAnswer(None)


# --- the world: customers, orders and cases ----------------------------------------------------


@dataclass
class OrderSpec:
    """An order of the load file: its number, customer and balance before the run."""

    number: str
    customer: str
    balance: int  # minor units, before the run
    currency: str = "USD"
    org_unit: str = UNIT
    day: date = FIRST_ORDER_DAY
    closed: bool = False  # paid by the set-up file before the messy one


@dataclass
class Case:
    """One check of the messy file and its known answer."""

    kind: str
    place: bool  # whether SPEC section 15 places it
    rule: str | None  # the rule expected to place it (match.rule)
    item: LockboxItem
    shares: dict[str, int] = field(default_factory=dict)  # order -> money placed on it
    written_off: dict[str, int] = field(default_factory=dict)  # order -> automatic write-off


class World:
    """Everything the load file and the two lockbox files hold, built case by case."""

    def __init__(self, seed: int, crowd: int = 0) -> None:
        self.rng = random.Random(seed)
        self.crowd = crowd  # up to this many more open orders for each case's customer
        self.customers: list[dict[str, Any]] = []
        self.orders: dict[str, OrderSpec] = {}
        self.cases: list[Case] = []
        self._next_number = 10_000
        self._used: set[int] = set()
        self._customers = 0
        self._payers = 0
        self._last_day: dict[str, date] = {}

    # --- building blocks --------------------------------------------------------------------

    def customer(self, *, parent: str | None = None, payer: bool = False) -> str:
        self._customers += 1
        customer: dict[str, Any] = {
            "id": f"M-{self._customers}",
            "name": f"Member {self._customers}",
        }
        if parent is not None:
            customer.update(parent=parent, bills_to_parent=True)
        if payer:
            customer["payer_accounts"] = [self.new_payer_account()]
        self.customers.append(customer)
        return str(customer["id"])

    def new_payer_account(self) -> str:
        self._payers += 1
        return f"021000021-{self._payers:09d}"

    def payer_of(self, customer: str) -> str:
        found = next(c for c in self.customers if c["id"] == customer)
        return str(found["payer_accounts"][0])

    def number(self, wanted: int | None = None) -> str:
        """A fresh order number, ``O-<n>``; ``wanted`` when it is still free."""
        if wanted is None:
            while self._next_number in self._used:
                self._next_number += 1
            wanted = self._next_number
        assert wanted not in self._used, wanted
        self._used.add(wanted)
        return f"O-{wanted}"

    def typo_of(self, number: str) -> int | None:
        """A free number that is ``number`` with two adjacent digits swapped."""
        digits = number.removeprefix("O-")
        for i in range(len(digits) - 1):
            if digits[i] != digits[i + 1]:
                text = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
                if not text.startswith("0") and int(text) not in self._used:
                    return int(text)
        return None

    def order(
        self,
        customer: str,
        balance: int,
        *,
        currency: str = "USD",
        org_unit: str = UNIT,
        number: str | None = None,
        closed: bool = False,
    ) -> OrderSpec:
        # Each customer's orders are dated a day apart from a start of its own, in the order they
        # are made: a case's list of orders is oldest first, as the answers assume.
        day = self._last_day.get(customer)
        day = FIRST_ORDER_DAY + timedelta(days=self.rng.randrange(300)) if day is None else day
        self._last_day[customer] = day + timedelta(days=1)
        spec = OrderSpec(
            number or self.number(),
            customer,
            balance,
            currency,
            org_unit,
            day,
            closed,
        )
        self.orders[spec.number] = spec
        return spec

    def extra(self) -> int:
        """How many more open orders this case's customer has (0 to ``crowd``)."""
        return self.rng.randint(0, self.crowd)

    def crowd_orders(self, customer: str) -> None:
        """More open orders for ``customer``, for cases whose answer they cannot change."""
        for _ in range(self.extra()):
            self.order(customer, self.balance())

    def balance(self, low: int = 2_500, high: int = 90_000) -> int:
        return self.rng.randrange(low, high)

    def item(
        self,
        amount: int,
        *,
        customer: str | None = None,
        allocations: Sequence[tuple[str, int]] = (),
        remittance: str | None = None,
        payer_account: str | None = None,
        currency: str = "USD",
    ) -> LockboxItem:
        return LockboxItem(
            batch="0",
            item="0",  # numbered when the file is written
            deposit_date=DEPOSIT,
            check_number=str(100_000 + len(self.cases)),
            amount=Money.from_minor(amount, currency),
            customer=customer,
            allocations=tuple((o, Money.from_minor(a, currency)) for o, a in allocations),
            line=0,
            remittance=remittance,
            payer_account=payer_account,
        )

    def open_orders(
        self, customer: str, count: int, wanted: Callable[[list[int]], bool]
    ) -> list[OrderSpec]:
        """``count`` open orders for ``customer`` whose balances (oldest first) satisfy
        ``wanted``: rolled again until they do."""
        for _ in range(1_000):
            balances = [self.balance() for _ in range(count)]
            if wanted(balances):
                return [self.order(customer, b) for b in balances]
        raise RuntimeError("no balances found for a case (is --crowd too large?)")

    def add(self, case: Case) -> None:
        self.cases.append(case)

    # --- written out ------------------------------------------------------------------------

    def load_file(self) -> dict[str, Any]:
        accounts = [
            {"code": "1000", "name": "Cash", "type": "asset"},
            {"code": "1100", "name": "AR", "type": "asset"},
            {"code": "2100", "name": "Unapplied receipts", "type": "liability"},
            {"code": "2200", "name": "Unearned income", "type": "liability"},
            {"code": "4000", "name": "Revenue", "type": "revenue"},
            {"code": "6100", "name": "Bad debt", "type": "expense"},
        ]
        unit_accounts = {
            "cash_account": "1000",
            "ar_account": "1100",
            "unapplied_account": "2100",
            "credit_writeoff_account": "2200",
        }
        tolerance = {"amount": str(Money.from_minor(TOLERANCE_MINOR, "USD")), "percent": "5"}
        return {
            "accounts": accounts,
            "org_units": [
                {"code": UNIT, **unit_accounts, "matching": {"tolerance": {"USD": tolerance}}},
                {"code": OTHER_UNIT, **unit_accounts},
            ],
            "subsystems": [
                {"code": "MTG", "priority": 1},
                {"code": "SUB", "priority": 2},
                {"code": "FND", "priority": 3},
            ],
            "products": [
                {
                    "code": code,
                    "subsystem": ("MTG", "MTG", "SUB", "FND")[n],
                    "priority": n + 1,
                    "revenue_account": "4000",
                    "writeoff_account": "6100",
                }
                for n, code in enumerate(PRODUCTS)
            ],
            "customers": self.customers,
            "orders": [self._order_json(spec) for spec in self.orders.values()],
        }

    def _order_json(self, spec: OrderSpec) -> dict[str, Any]:
        # One to three lines adding up to the balance, each at least 1.00.
        count = min(self.rng.randint(1, 3), max(1, spec.balance // 100))
        cuts = (
            sorted(self.rng.sample(range(100, spec.balance - 99), count - 1)) if count > 1 else []
        )
        parts = [b - a for a, b in zip([0, *cuts], [*cuts, spec.balance], strict=True)]
        return {
            "number": spec.number,
            "customer": spec.customer,
            "org_unit": spec.org_unit,
            "currency": spec.currency,
            "date": spec.day.isoformat(),
            "lines": [
                {
                    "line": n + 1,
                    "product": PRODUCTS[n % len(PRODUCTS)],
                    "amount": str(Money.from_minor(part, spec.currency)),
                    "shipped": True,
                }
                for n, part in enumerate(parts)
            ],
        }

    def setup_items(self) -> list[LockboxItem]:
        """The first file: each order the cases need paid, paid in full by name."""
        items = []
        for n, spec in enumerate(s for s in self.orders.values() if s.closed):
            items.append(
                LockboxItem(
                    batch=str(1 + n // BATCH_ITEMS),
                    item=str(n % BATCH_ITEMS + 1),
                    deposit_date=DEPOSIT - timedelta(days=1),
                    check_number=str(900_000 + n),
                    amount=Money.from_minor(spec.balance, spec.currency),
                    customer=spec.customer,
                    allocations=((spec.number, Money.from_minor(spec.balance, spec.currency)),),
                    line=0,
                )
            )
        return items

    def numbered_cases(self) -> list[Case]:
        """The cases in file order (shuffled), each item given its batch and item number."""
        cases = list(self.cases)
        self.rng.shuffle(cases)
        return [
            replace(
                case,
                item=replace(
                    case.item, batch=str(1 + n // BATCH_ITEMS), item=str(n % BATCH_ITEMS + 1)
                ),
            )
            for n, case in enumerate(cases)
        ]


# --- the kinds of mess that should be placed ---------------------------------------------------


def _padded(number: str, rng: random.Random) -> str:
    digits = number.removeprefix("O-")
    return rng.choice(
        [f"O-{'0' * rng.randint(1, 4)}{digits}", f"o-{'0' * rng.randint(1, 3)}{digits}"]
    )


def _prefixed(number: str, rng: random.Random) -> str:
    digits = number.removeprefix("O-")
    return rng.choice(
        [
            f"INV#{number}",
            f"Invoice {number}",
            f"INV{number}",
            f"REF {number} thank you",
            f"payment for order no {number}",
            f"inv-O{digits}",
        ]
    )


def _spaced(number: str, rng: random.Random) -> str:
    digits = number.removeprefix("O-")
    return rng.choice([f"o {digits}", f"O {digits}", f"pay O {digits} thanks"])


def _mistyped(number: str, rng: random.Random) -> str:
    """How an order number is mistyped in the order column: case, separator, padding, prefix."""
    digits = number.removeprefix("O-")
    return rng.choice([f"o-{digits}", f"O{digits}", f"O-0{digits}", f"#O-{digits}", f"O_{digits}"])


def _paid_whole_or_part(w: World, balance: int) -> int:
    """A payment of the whole balance, or of a part far enough below it that no tolerance
    applies (the answer is then: all of it on the order, the rest still owed)."""
    if w.rng.random() < 0.5:
        return balance
    return balance - w.rng.randint(max(1_000, balance * 6 // 100 + 1), balance // 2)


def _one_order_by_text(
    kind: str, text: Callable[[str, random.Random], str]
) -> Callable[[World], None]:
    def build(w: World) -> None:
        customer = w.customer()
        orders = [w.order(customer, w.balance()) for _ in range(w.rng.randint(1, 3) + w.extra())]
        target = w.rng.choice(orders)
        amount = _paid_whole_or_part(w, target.balance)
        named = customer if w.rng.random() < 0.5 else None
        w.add(
            Case(
                kind,
                True,
                "reference",
                w.item(amount, customer=named, remittance=text(target.number, w.rng)),
                {target.number: amount},
            )
        )

    return build


def mistyped_order_column(w: World) -> None:
    customer = w.customer()
    target = w.order(customer, w.balance())
    w.crowd_orders(customer)
    amount = _paid_whole_or_part(w, target.balance)
    named = customer if w.rng.random() < 0.5 else None
    written = _mistyped(target.number, w.rng)
    item = w.item(amount, customer=named, allocations=[(written, amount)])
    w.add(Case("mistyped_order_column", True, "reference", item, {target.number: amount}))


def several_with_amounts(w: World) -> None:
    customer = w.customer()
    orders = [w.order(customer, w.balance()) for _ in range(w.rng.randint(2, 3))]
    w.crowd_orders(customer)
    shares = {o.number: _paid_whole_or_part(w, o.balance) for o in orders}
    parts = [f"{number} {Money.from_minor(share, 'USD')}" for number, share in shares.items()]
    text = w.rng.choice(
        [f"Ref:{','.join(parts)}", " ".join(parts), "; ".join(f"INV {p}" for p in parts)]
    )
    named = customer if w.rng.random() < 0.5 else None
    item = w.item(sum(shares.values()), customer=named, remittance=text)
    w.add(Case("several_with_amounts", True, "reference", item, shares))


def several_without_amounts(w: World) -> None:
    customer = w.customer()
    w.crowd_orders(customer)  # older than the orders named: oldest first among those named
    orders = [w.order(customer, w.balance()) for _ in range(w.rng.randint(2, 4))]
    total = sum(o.balance for o in orders)
    last = orders[-1].balance
    # Half the time less than the sum: the oldest are paid in full and the newest in part, by
    # more than any tolerance (which the several-orders reading does not apply).
    low = max(1_000, total * 6 // 100 + 1)
    short = w.rng.randint(low, last - 100) if w.rng.random() < 0.5 and last - 100 > low else 0
    amount = total - short
    shares = {o.number: o.balance for o in orders}
    if short:
        shares[orders[-1].number] = last - short
    listed = [o.number for o in orders]
    w.rng.shuffle(listed)
    text = w.rng.choice(
        [f"Ref:{','.join(listed)}", f"Invoices {', '.join(listed)}", " / ".join(listed)]
    )
    named = customer if w.rng.random() < 0.5 else None
    w.add(
        Case(
            "several_without_amounts",
            True,
            "reference",
            w.item(amount, customer=named, remittance=text),
            shares,
        )
    )


def _by_amount(
    kind: str, rule: str, *, payer: bool, count: tuple[int, int]
) -> Callable[[World], None]:
    """A customer (named, or known by its payer account) with open orders, and a check for an
    amount that rule ``rule`` alone singles out among them."""

    def build(w: World) -> None:
        customer = w.customer(payer=payer)
        size = w.rng.randint(*count) + w.extra()
        for _ in range(1_000):
            balances = [w.balance() for _ in range(size)]
            if rule == "exact_amount":
                picked: tuple[int, ...] = (w.rng.randrange(size),)
            elif rule == "whole_balance":
                picked = tuple(range(size))
            else:
                picked = tuple(
                    sorted(w.rng.sample(range(size), w.rng.randint(2, min(5, size - 1))))
                )
            amount = sum(balances[i] for i in picked)
            if amount_answer(balances, amount) == AmountAnswer(rule, picked):
                break
        else:
            raise RuntimeError(f"no balances found for {kind}")
        orders = [w.order(customer, b) for b in balances]
        shares = {orders[i].number: orders[i].balance for i in picked}
        item = (
            w.item(amount, payer_account=w.payer_of(customer))
            if payer
            else w.item(amount, customer=customer)
        )
        w.add(Case(kind, True, f"payer_account+{rule}" if payer else rule, item, shares))

    return build


def short_named(w: World) -> None:
    customer = w.customer()
    target = w.order(customer, w.balance(low=10_000))
    w.crowd_orders(customer)
    short = w.rng.randint(1, min(TOLERANCE_MINOR, target.balance * TOLERANCE_PERCENT // 100))
    amount = target.balance - short
    item = w.item(amount, customer=customer, allocations=[(target.number, amount)])
    w.add(Case("short_named", True, "named", item, {target.number: amount}, {target.number: short}))


def short_reference(w: World) -> None:
    customer = w.customer()
    target = w.order(customer, w.balance(low=10_000))
    w.crowd_orders(customer)
    short = w.rng.randint(1, min(TOLERANCE_MINOR, target.balance * TOLERANCE_PERCENT // 100))
    amount = target.balance - short
    named = customer if w.rng.random() < 0.5 else None
    item = w.item(amount, customer=named, remittance=_prefixed(target.number, w.rng))
    w.add(
        Case(
            "short_reference",
            True,
            "reference",
            item,
            {target.number: amount},
            {target.number: short},
        )
    )


def short_exact(w: World) -> None:
    customer = w.customer()
    size = w.rng.randint(2, 5) + w.extra()
    for _ in range(1_000):
        balances = [w.balance(low=10_000) for _ in range(size)]
        index = w.rng.randrange(size)
        short = w.rng.randint(1, min(TOLERANCE_MINOR, balances[index] * TOLERANCE_PERCENT // 100))
        amount = balances[index] - short
        if amount_answer(balances, amount) == AmountAnswer("exact_amount", (index,), short):
            break
    else:
        raise RuntimeError("no balances found for short_exact")
    orders = [w.order(customer, b) for b in balances]
    target = orders[index]
    item = w.item(amount, customer=customer)
    w.add(
        Case(
            "short_exact",
            True,
            "exact_amount",
            item,
            {target.number: amount},
            {target.number: short},
        )
    )


def short_combination(w: World) -> None:
    customer = w.customer()
    size = w.rng.randint(4, 7) + w.extra()
    for _ in range(1_000):
        balances = [w.balance(low=10_000) for _ in range(size)]
        picked = tuple(sorted(w.rng.sample(range(size), w.rng.randint(2, 3))))
        total = sum(balances[i] for i in picked)
        short = w.rng.randint(1, TOLERANCE_MINOR)
        amount = total - short
        if amount_answer(balances, amount) == AmountAnswer("combination", picked, short):
            break
    else:
        raise RuntimeError("no balances found for short_combination")
    orders = [w.order(customer, b) for b in balances]
    # Oldest first, each up to its balance: the newest of the set owes the shortfall.
    shares = {orders[i].number: orders[i].balance for i in picked}
    newest = orders[picked[-1]].number
    shares[newest] -= short
    item = w.item(amount, customer=customer)
    w.add(Case("short_combination", True, "combination", item, shares, {newest: short}))


def payer_reference(w: World) -> None:
    """No customer named; the payer account and the text agree on the customer."""
    customer = w.customer(payer=True)
    orders = [w.order(customer, w.balance()) for _ in range(w.rng.randint(1, 3) + w.extra())]
    target = w.rng.choice(orders)
    amount = _paid_whole_or_part(w, target.balance)
    item = w.item(
        amount, payer_account=w.payer_of(customer), remittance=_prefixed(target.number, w.rng)
    )
    w.add(Case("payer_reference", True, "reference", item, {target.number: amount}))


def child_exact(w: World) -> None:
    parent = w.customer()
    child = w.customer(parent=parent)
    for _ in range(1_000):
        own = [w.balance() for _ in range(w.rng.randint(1, 3) + w.extra())]
        billed = w.balance()
        if amount_answer([*own, billed], billed) == AmountAnswer("exact_amount", (len(own),)):
            break
    else:
        raise RuntimeError("no balances found for a case (is --crowd too large?)")
    for balance in own:
        w.order(parent, balance)
    target = w.order(child, billed)
    item = w.item(billed, customer=parent)
    w.add(Case("child_exact", True, "exact_amount", item, {target.number: billed}))


def child_reference(w: World) -> None:
    parent = w.customer()
    child = w.customer(parent=parent)
    w.order(parent, w.balance())
    w.crowd_orders(parent)
    target = w.order(child, w.balance())
    amount = _paid_whole_or_part(w, target.balance)
    item = w.item(amount, customer=parent, remittance=_prefixed(target.number, w.rng))
    w.add(Case("child_reference", True, "reference", item, {target.number: amount}))


# --- unmatchable noise: nothing may be placed ---------------------------------------------------


def _places_nothing(answer: AmountAnswer) -> bool:
    # No answer, or two (among many open orders, two sets within tolerance are the usual case).
    return answer.rule in (None, "tie")


def _none_by_amount(w: World, customer: str, amount: int, count: int = 3) -> list[OrderSpec]:
    """Open orders for ``customer`` among which rules 4–6 give nothing for ``amount``."""
    return w.open_orders(
        customer, count + w.extra(), lambda b: _places_nothing(amount_answer(b, amount))
    )


def tie_equal_balances(w: World) -> None:
    customer = w.customer()
    amount = w.balance()
    w.open_orders(
        customer,
        w.rng.randint(1, 3) + w.extra(),
        lambda b: amount_answer([amount, amount, *b], amount).rule == "tie",
    )
    w.order(customer, amount)
    w.order(customer, amount)
    w.add(Case("tie_equal_balances", False, None, w.item(amount, customer=customer)))


def tie_combination(w: World) -> None:
    customer = w.customer()
    for _ in range(1_000):
        a, b, c = w.balance(), w.balance(), w.balance()
        d = a + b - c
        rest = [w.balance() for _ in range(w.rng.randint(1, 3) + w.extra())]
        balances = [a, b, c, d, *rest]
        if d > 0 and amount_answer(balances, a + b).rule == "tie":
            break
    else:
        raise RuntimeError("no balances found for tie_combination")
    for balance in balances:
        w.order(customer, balance)
    w.add(Case("tie_combination", False, None, w.item(a + b, customer=customer)))


def tolerance_tie(w: World) -> None:
    customer = w.customer()
    for _ in range(1_000):
        amount = w.balance(low=12_000)
        near = [amount + w.rng.randint(1, TOLERANCE_MINOR) for _ in range(2)]
        rest = [w.balance() for _ in range(w.rng.randint(0, 2) + w.extra())]
        if near[0] != near[1] and amount_answer([*near, *rest], amount).rule == "tie":
            break
    else:
        raise RuntimeError("no balances found for a case (is --crowd too large?)")
    for balance in (*near, *rest):
        w.order(customer, balance)
    w.add(Case("tolerance_tie", False, None, w.item(amount, customer=customer)))


def beyond_tolerance(w: World) -> None:
    customer = w.customer()
    for _ in range(1_000):
        balances = [w.balance(low=10_000) for _ in range(w.rng.randint(1, 3) + w.extra())]
        amount = balances[0] - w.rng.randint(TOLERANCE_MINOR + 1, 3_000)
        if _places_nothing(amount_answer(balances, amount)):
            break
    else:
        raise RuntimeError("no balances found for a case (is --crowd too large?)")
    for balance in balances:
        w.order(customer, balance)
    w.add(Case("beyond_tolerance", False, None, w.item(amount, customer=customer)))


def others_order(column: bool) -> Callable[[World], None]:
    """The check names customer A and an order of customer B's (in the remittance, or in the
    order column); nothing of A's matches its amount."""

    def build(w: World) -> None:
        ours, theirs = w.customer(), w.customer()
        named = w.order(theirs, w.balance())
        _none_by_amount(w, ours, named.balance)
        amount = named.balance
        if column:
            item = w.item(amount, customer=ours, allocations=[(named.number, amount)])
        else:
            item = w.item(amount, customer=ours, remittance=_prefixed(named.number, w.rng))
        kind = "other_customers_order_column" if column else "other_customers_order"
        w.add(Case(kind, False, None, item))

    return build


def typo_other_customer(w: World) -> None:
    """A's order mistyped so that it names B's order: A pays part of its order (no amount rule
    finds it), the text names B's."""
    ours, theirs = w.customer(), w.customer()
    for _ in range(100):
        mine = w.number()
        typo = w.typo_of(mine)
        if typo is not None:
            break
    else:
        raise RuntimeError("no free typo")
    for _ in range(1_000):
        balance = w.balance()
        amount = balance - w.rng.randint(max(1_000, balance * 6 // 100 + 1), balance // 2)
        others = [w.balance() for _ in range(w.rng.randint(0, 2) + w.extra())]
        if _places_nothing(amount_answer([balance, *others], amount)):
            break
    else:
        raise RuntimeError("no balances found for a case (is --crowd too large?)")
    w.order(ours, balance, number=mine)
    for other in others:
        w.order(ours, other)
    w.order(theirs, amount, number=w.number(typo))
    item = w.item(amount, customer=ours, remittance=_prefixed(f"O-{typo}", w.rng))
    w.add(Case("typo_other_customer", False, None, item))


def typo_with_payer_account(w: World) -> None:
    """No customer named, the payer account is ours, and the text's typo names B's open order
    of exactly the amount: the account contradicts the text, so the text does not decide."""
    ours, theirs = w.customer(payer=True), w.customer()
    for _ in range(100):
        mine = w.number()
        typo = w.typo_of(mine)
        if typo is not None:
            break
    else:
        raise RuntimeError("no free typo")
    amount = w.balance()
    for _ in range(1_000):
        balance = w.balance()
        others = [w.balance() for _ in range(w.rng.randint(0, 2) + w.extra())]
        if _places_nothing(amount_answer([balance, *others], amount)):
            break
    else:
        raise RuntimeError("no balances found for a case (is --crowd too large?)")
    w.order(ours, balance, number=mine)
    for other in others:
        w.order(ours, other)
    w.order(theirs, amount, number=w.number(typo))
    item = w.item(amount, payer_account=w.payer_of(ours), remittance=_prefixed(f"O-{typo}", w.rng))
    w.add(Case("typo_with_payer_account", False, None, item))


def wrong_currency(w: World) -> None:
    customer = w.customer()
    orders = [w.order(customer, w.balance()) for _ in range(w.rng.randint(1, 3) + w.extra())]
    target = w.rng.choice(orders)
    item = w.item(
        target.balance,
        customer=customer,
        remittance=_prefixed(target.number, w.rng),
        currency="EUR",
    )
    w.add(Case("wrong_currency", False, None, item))


def other_org_unit(w: World) -> None:
    customer = w.customer()
    target = w.order(customer, w.balance(), org_unit=OTHER_UNIT)
    item = w.item(target.balance, remittance=_prefixed(target.number, w.rng))
    w.add(Case("other_org_unit", False, None, item))


def closed_order(w: World) -> None:
    """The text names the customer's paid order; an open order has exactly the amount, but the
    search stops at the paid one (SPEC section 15, rule 2)."""
    customer = w.customer()
    paid = w.order(customer, w.balance(), closed=True)
    amount = w.balance()
    w.order(customer, amount)
    w.crowd_orders(customer)
    item = w.item(amount, customer=customer, remittance=_prefixed(paid.number, w.rng))
    w.add(Case("closed_order", False, None, item))


def closed_order_no_customer(w: World) -> None:
    customer = w.customer()
    paid = w.order(customer, w.balance(), closed=True)
    w.order(customer, w.balance())
    item = w.item(paid.balance, remittance=_prefixed(paid.number, w.rng))
    w.add(Case("closed_order_no_customer", False, None, item))


def two_customers_named(w: World) -> None:
    first, second = w.customer(), w.customer()
    a, b = w.order(first, w.balance()), w.order(second, w.balance())
    item = w.item(a.balance + b.balance, remittance=f"Ref:{a.number},{b.number}")
    w.add(Case("two_customers_named", False, None, item))


def unknown_payer(w: World) -> None:
    customer = w.customer()
    target = w.order(customer, w.balance())
    item = w.item(target.balance, payer_account=w.new_payer_account())
    w.add(Case("unknown_payer", False, None, item))


def payer_no_match(w: World) -> None:
    customer = w.customer(payer=True)
    amount = w.balance()
    _none_by_amount(w, customer, amount)
    w.add(Case("payer_no_match", False, None, w.item(amount, payer_account=w.payer_of(customer))))


KINDS: dict[str, Callable[[World], None]] = {
    # should place
    "mistyped_order_column": mistyped_order_column,
    "padded_reference": _one_order_by_text("padded_reference", _padded),
    "prefixed_reference": _one_order_by_text("prefixed_reference", _prefixed),
    "spaced_reference": _one_order_by_text("spaced_reference", _spaced),
    "several_with_amounts": several_with_amounts,
    "several_without_amounts": several_without_amounts,
    "payer_reference": payer_reference,
    "payer_account_exact": _by_amount(
        "payer_account_exact", "exact_amount", payer=True, count=(2, 6)
    ),
    "payer_account_whole": _by_amount(
        "payer_account_whole", "whole_balance", payer=True, count=(2, 4)
    ),
    "payer_account_combination": _by_amount(
        "payer_account_combination", "combination", payer=True, count=(4, 9)
    ),
    "exact_amount": _by_amount("exact_amount", "exact_amount", payer=False, count=(2, 6)),
    "whole_balance": _by_amount("whole_balance", "whole_balance", payer=False, count=(2, 4)),
    "combination": _by_amount("combination", "combination", payer=False, count=(4, 9)),
    "short_named": short_named,
    "short_reference": short_reference,
    "short_exact": short_exact,
    "short_combination": short_combination,
    "child_exact": child_exact,
    "child_reference": child_reference,
    # noise
    "tie_equal_balances": tie_equal_balances,
    "tie_combination": tie_combination,
    "tolerance_tie": tolerance_tie,
    "beyond_tolerance": beyond_tolerance,
    "other_customers_order": others_order(column=False),
    "other_customers_order_column": others_order(column=True),
    "typo_other_customer": typo_other_customer,
    "typo_with_payer_account": typo_with_payer_account,
    "wrong_currency": wrong_currency,
    "other_org_unit": other_org_unit,
    "closed_order": closed_order,
    "closed_order_no_customer": closed_order_no_customer,
    "two_customers_named": two_customers_named,
    "unknown_payer": unknown_payer,
    "payer_no_match": payer_no_match,
}


def generate(items: int, seed: int, crowd: int = 0) -> World:
    """A world of ``items`` cases, the kinds in turn."""
    world = World(seed, crowd)
    builders = list(KINDS.values())
    for n in range(items):
        builders[n % len(builders)](world)
    return world


# --- the run -----------------------------------------------------------------------------------


def arledger(*args: str, allow_failure: bool = False) -> Any:
    """Run one `arledger` command in this process, as the executable runs it (the same entry
    point: read commands by their shortcut, the others through Typer); its JSON output."""
    captured = io.StringIO()
    json_args = [*args, "--json"] if args[0] != "init" else list(args)
    with contextlib.redirect_stdout(captured):
        try:
            cli_main(json_args)
        except SystemExit as exited:
            if exited.code not in (0, None) and not allow_failure:
                raise RuntimeError(f"arledger {' '.join(args)} exited {exited.code}") from None
    text = captured.getvalue()
    return json.loads(text) if args[0] != "init" else text


def configure(database_url: str, workdir: Path) -> None:
    """The settings the CLI reads: this database, no broker (distribution in-process), a GL
    file in the work directory, ASSN the default org unit."""
    os.environ.update(
        ARLEDGER_DATABASE_URL=database_url,
        ARLEDGER_BROKER_URL="",
        ARLEDGER_GL_SINK=str(workdir / "gl-journals.jsonl"),
        ARLEDGER_DEFAULT_ORG_UNIT=UNIT,
    )
    get_settings.cache_clear()


def write_lockbox(path: Path, items: Sequence[LockboxItem]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        write_csv(items, out, matching_columns=True)
    return path


def run(
    items: int, seed: int, database_url: str | None, workdir: Path, crowd: int = 0
) -> dict[str, Any]:
    world = generate(items, seed, crowd)
    cases = world.numbered_cases()
    load_path = workdir / "load.json"
    load_path.write_text(json.dumps(world.load_file()))
    setup = world.setup_items()
    mess_path = write_lockbox(workdir / "messy.csv", [case.item for case in cases])
    configure(database_url or f"sqlite:///{workdir / 'matching.db'}", workdir)

    arledger("init")
    arledger("load", str(load_path))
    if setup:
        arledger("lockbox", "import", str(write_lockbox(workdir / "setup.csv", setup)))
    started = time.monotonic()
    summary = arledger("lockbox", "import", str(mess_path))
    seconds = time.monotonic() - started
    receipts, orders = read_back(summary["id"], cases)
    views = [receipts[(case.item.batch, case.item.item)] for case in cases]
    scores = [
        score(case, view, orders, world.orders) for case, view in zip(cases, views, strict=True)
    ]
    check = arledger("check", allow_failure=True)  # exits 1 naming each violation
    day = DEPOSIT.isoformat()
    cash_application = arledger("report", "cash-application", "--from", day, "--to", day)
    result = report(cases, views, scores, summary, check, seed, seconds)
    result["crowd"] = crowd
    # The product's own count of the same receipts (the set-up file was received the day before).
    result["cash_application"] = cash_application
    result["orders"] = len(world.orders)
    return result


def read_back(file_id: int, cases: Sequence[Case]) -> tuple[dict[tuple[str, str], dict], dict]:
    """Every receipt of the messy file as `receipt show --json` has it, keyed by batch and
    item; every order a case should pay, as `order show --json` has it."""
    receipts: dict[tuple[str, str], dict] = {}
    orders: dict[str, dict] = {}
    with connect(get_settings().database_url) as connection:
        rows = connection.execute(
            select(RECEIPTS).where(RECEIPTS.c.lockbox_file_id == file_id).order_by(RECEIPTS.c.id)
        ).all()
        for start in range(0, len(rows), 500):
            for view in receipt_views(connection, rows[start : start + 500]):
                _, _, batch, item = view["external_key"].rsplit(":", 3)
                receipts[(batch, item)] = view
        for number in {n for case in cases for n in case.shares}:
            orders[number] = order_view(connection, number)
    return receipts, orders


def _minor(text: str) -> int:
    return Money.parse(text, "USD").minor


def score(case: Case, receipt: dict, orders: dict[str, dict], specs: dict[str, OrderSpec]) -> str:
    """right, missed or misapplied (see the module docstring)."""
    placed = set(receipt["orders"])
    if not case.place:
        return "right" if not placed and receipt["status"] != "applied" else "misapplied"
    if not placed:
        return "missed"
    if receipt["status"] != "applied" or placed != set(case.shares):
        return "misapplied"
    for number, share in case.shares.items():
        view = orders[number]
        automatic = sum(
            _minor(w["amount"])
            for line in view["lines"]
            for w in line["write_offs"]
            if w.get("automatic")
        )
        written_off = case.written_off.get(number, 0)
        before = specs[number].balance  # no other case touches it
        if automatic != written_off or _minor(view["balance"]) != before - share - written_off:
            return "misapplied"
    return "right"


def report(
    cases: Sequence[Case],
    receipts: Sequence[dict],
    scores: Sequence[str],
    summary: dict,
    check: dict,
    seed: int,
    seconds: float,
) -> dict[str, Any]:
    """The figures: overall, per rule that placed (``match.rule``) and per kind of case."""
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    rules_of_kind: dict[str, Counter[str]] = defaultdict(Counter)
    by_rule: dict[str, Counter[str]] = defaultdict(Counter)
    for case, receipt, outcome in zip(cases, receipts, scores, strict=True):
        rule = (receipt["match"] or {}).get("rule") or "none"
        by_kind[case.kind][outcome] += 1
        rules_of_kind[case.kind][rule] += 1
        by_rule[rule][outcome] += 1
    kinds = {}
    for name, counts in by_kind.items():
        total = sum(counts.values())
        kinds[name] = {
            "should_place": next(c.place for c in cases if c.kind == name),
            "expected_rule": next(c.rule for c in cases if c.kind == name),
            "items": total,
            "right": counts["right"],
            "missed": counts["missed"],
            "misapplied": counts["misapplied"],
            "rate": _rate(counts["right"], total),
            "rules": dict(sorted(rules_of_kind[name].items())),
        }
    rules = {
        rule: {
            "receipts": sum(counts.values()),
            "right": counts["right"],
            "misapplied": counts["misapplied"],
        }
        for rule, counts in sorted(by_rule.items())
    }
    placeable = [s for c, s in zip(cases, scores, strict=True) if c.place]
    applied = sum(1 for r in receipts if r["status"] == "applied")
    return {
        "items": len(cases),
        "seed": seed,
        "seconds": round(seconds, 3),
        "automatic_rate": _rate(applied, len(cases)),
        "applied": applied,
        "should_place": len(placeable),
        "placed_right": placeable.count("right"),
        "placeable_rate": _rate(placeable.count("right"), len(placeable)),
        "noise": len(cases) - len(placeable),
        "missed": scores.count("missed"),
        "misapplications": scores.count("misapplied"),
        "by_rule": rules,
        "summary_by_rule": summary.get("by_rule", {}),
        "by_kind": {name: kinds[name] for name in KINDS if name in kinds},
        "failed": sum(1 for r in receipts if r["status"] == "failed"),
        "invariants_ok": bool(check.get("ok")),
    }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=3_400, help="checks in the messy file")
    parser.add_argument("--seed", type=int, default=7, help="the generator's seed")
    parser.add_argument(
        "--crowd",
        type=int,
        default=8,
        help="up to this many more open orders for each case's customer (the answers hold)",
    )
    parser.add_argument(
        "--database-url", default=None, help="an empty database (default: SQLite, temporary)"
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arledger-matching-") as directory:
        result = run(args.items, args.seed, args.database_url, Path(directory), args.crowd)
    print(
        f"{result['items']} checks: automatic rate {result['automatic_rate']}, placed right "
        f"{result['placed_right']} of {result['should_place']} that should place "
        f"({result['placeable_rate']}), misapplications {result['misapplications']}",
        file=sys.stderr,
    )
    for name, kind in result["by_kind"].items():
        flag = "place" if kind["should_place"] else "never"
        print(
            f"  {name:30} {flag:5} {kind['right']:5}/{kind['items']:<5} right,"
            f" {kind['missed']} missed, {kind['misapplied']} misapplied",
            file=sys.stderr,
        )
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
