"""Hypothesis properties of matching (SPEC section 15): for random customers (some with children
billing to them), orders in two currencies and two org units (paid ones among them), payer
accounts, and remittance made of real, mistyped and other customers' order numbers and noise:

(a) a receipt is never applied to an order that is not its customer's, nor across currencies or
    org units; a customer the receipt names stays its customer;
(b) when two answers tie, nothing is applied;
(c) applied + written off + parked adds up exactly, and the orders moved by exactly that;
(d) a brute-force oracle of rules 4, 5 and 6 (exact amount, whole balance, combination, with
    tolerance) agrees with :func:`match`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from ledger.domain import matching
from ledger.domain.calendar import Calendar, Period
from ledger.domain.journal import Side, TxnType
from ledger.domain.matching import Placement, combinations_adding_up, match
from ledger.domain.matching_config import RULES, MatchConfig, Tolerance
from ledger.domain.money import Money
from ledger.domain.order import Line, Order
from ledger.domain.order_book import (
    OpenOrders,
    OrderBook,
    OrdersNeeded,
    OrderSummary,
    belongs_to,
    oldest_key,
)
from ledger.domain.receipt import Receipt, ReceiptStatus
from ledger.domain.remittance import order_key, payer_key, reference_keys
from tests.support.factories import summary_of

pytestmark = pytest.mark.property

DAY = date(2026, 11, 5)
CALENDAR = Calendar([Period("2026-11", date(2026, 11, 1), date(2026, 11, 30), True)])
# K-1 bills to its parent C-1; K-2 is C-1's child but pays its own orders.
PARENTS = {"K-1": "C-1", "K-2": "C-1"}
BILLS_TO_PARENT = {"K-1"}
OWNERS = ["C-1", "C-2", "C-3", "K-1", "K-2"]
PAYERS = {"ACC-1": "C-1", "ACC-2": "C-2", "ACC-K": "K-1"}
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Unit:
    code: str
    cash_account: str
    unapplied_account: str


UNITS = {"ASSN": Unit("ASSN", "1000", "2100"), "FDN": Unit("FDN", "1010", "2110")}


@dataclass(frozen=True)
class OrderSpec:
    number: str
    owner: str
    currency: str
    unit: str
    balances: tuple[int, ...]  # minor units per line; 0 is a paid line
    age: int


def build(spec: OrderSpec) -> Order:
    lines = [
        Line(
            line_no=n,
            product="P",
            priority=100 + (n * 3) % 5,
            amount=Money.from_minor(balance or 1_000, spec.currency),
            balance=Money.from_minor(balance, spec.currency),
            ar_account="1100",
            revenue_account="4000",
            writeoff_account="6100",
            inventoried=False,
            shipped=True,
        )
        for n, balance in enumerate(spec.balances, start=1)
    ]
    return Order(
        number=spec.number,
        customer_id=spec.owner,
        currency=spec.currency,
        org_unit=spec.unit,
        credit_writeoff_account="2200",
        lines=lines,
        bills_to_parent=spec.owner in BILLS_TO_PARENT,
        order_date=date(2026, 10, 1) - timedelta(days=spec.age),
        parent_id=PARENTS.get(spec.owner),
    )


BALANCE = st.sampled_from([0, 1_000, 2_000, 2_500, 3_000, 4_550]) | st.integers(0, 6_000)


@st.composite
def order_specs(draw: st.DrawFn, owners: tuple[str, ...] = tuple(OWNERS)) -> list[OrderSpec]:
    n = draw(st.integers(1, 9))
    return [
        OrderSpec(
            number=f"O-{index + 10}",
            owner=draw(st.sampled_from(owners)),
            currency=draw(st.sampled_from(["USD", "USD", "USD", "EUR"])),
            unit=draw(st.sampled_from(["ASSN", "ASSN", "ASSN", "FDN"])),
            balances=tuple(draw(st.lists(BALANCE, min_size=1, max_size=2))),
            age=draw(st.integers(0, 400)),
        )
        for index in range(n)
    ]


@st.composite
def configs(draw: st.DrawFn) -> MatchConfig:
    config = MatchConfig()
    for rule in RULES:
        config = config.with_rule(rule, draw(st.booleans()))
    if draw(st.booleans()):
        percent = draw(st.sampled_from([None, "1", "5", "50"]))
        config = config.with_tolerance(
            "USD",
            Tolerance(
                Money.from_minor(draw(st.integers(0, 300)), "USD"),
                None if percent is None else Decimal(percent),
            ),
        )
    return config


def spelled(number: str, how: int) -> str:
    """An order number as remittance may write it: as is, padded, lower case, prefixed, split."""
    digits = number.split("-")[1]
    return [
        number,
        f"#o-00{digits}",
        f"INV#{number}",
        f"O {digits}",
        f"inv{number.lower()}",
        f"O-{digits}9",  # a typo: may name another order, or none
    ][how % 6]


@st.composite
def receipts(draw: st.DrawFn, specs: list[OrderSpec]) -> Receipt:
    usd_balances = [sum(s.balances) for s in specs if s.currency == "USD"]
    amount = draw(
        st.integers(1, 12_000)
        | st.sampled_from([b for b in usd_balances if b > 0] or [1])
        | st.lists(st.sampled_from(usd_balances or [1]), min_size=2, max_size=4).map(sum)
        | st.sampled_from(usd_balances or [1]).map(lambda b: b - 37)
    )
    amount = max(amount, 1)
    words: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 3))
        if kind <= 1 and specs:
            number = draw(st.sampled_from(specs)).number
            words.append(spelled(number, draw(st.integers(0, 5))))
            if draw(st.booleans()):
                words.append(f"{draw(st.integers(1, 60))}.{draw(st.integers(0, 99)):02d}")
        elif kind == 2:
            words.append(draw(st.sampled_from(["Ref:", "thanks", "O-999", "INV", "No", "12"])))
        else:
            words.append(draw(st.sampled_from([",", "; ", " / "])))
    requested: tuple[tuple[str, Money], ...] = ()
    named = draw(st.sampled_from(["none", "none", "found", "missing", "split"]))
    money = Money.from_minor(amount, "USD")
    if named == "found" and specs:
        requested = ((draw(st.sampled_from(specs)).number, money),)
    elif named == "missing":
        requested = ((draw(st.sampled_from(["O-0010", "O-404", "o 11"])), money),)
    elif named == "split" and specs and amount > 2:
        first, second = draw(st.sampled_from(specs)), draw(st.sampled_from(specs))
        requested = (
            (first.number, Money.from_minor(amount // 2, "USD")),
            (second.number, Money.from_minor(amount // 3, "USD")),
        )
    customer = draw(st.sampled_from([None, None, *OWNERS]))
    return Receipt(
        id=draw(st.integers(1, 10**6)),
        amount=money,
        status=ReceiptStatus.QUEUED,
        received_date=DAY,
        automated=True,
        requested=requested,
        customer_id=customer,
        requested_customer=customer,
        remittance=" ".join(words) or None,
        payer_account=draw(st.sampled_from([None, "acc-1", "ACC 2", "ACC-K", "ACC-9"])),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[OrderSpec], Receipt, MatchConfig]:
    specs = draw(order_specs())
    return specs, draw(receipts(specs)), draw(configs())


def book_for(specs: list[OrderSpec]) -> tuple[OrderBook, dict[str, Order]]:
    orders = {spec.number: build(spec) for spec in specs}
    return OrderBook(orders.values(), PAYERS, OWNERS), orders


def check_placement(receipt: Receipt, placement: Placement, orders: dict[str, Order]) -> None:
    placed = [orders[number] for number, _ in placement.shares]
    placed += [orders[number] for number, _ in placement.shortfalls]
    if receipt.customer_id is not None:
        assert placement.customer == receipt.customer_id
    first = next((orders[n] for n, _ in receipt.requested if n in orders), None)
    unit = first.org_unit if first is not None else "ASSN"
    assert placement.org_unit == unit
    for order in placed:
        assert placement.customer is not None
        assert belongs_to(order, placement.customer), (order.number, placement)
        assert order.currency == receipt.currency
        assert order.org_unit == unit
    if placement.rule is None:
        assert placement.shares == ()


# --- (a) never another customer's order, currency or org unit ------------------------------------


@SETTINGS
@given(cases())
def test_a_receipt_is_applied_only_to_its_customers_orders_in_its_currency_and_unit(case):
    specs, receipt, config = case
    book, orders = book_for(specs)
    check_placement(receipt, match(receipt, book, config, "ASSN"), orders)


@SETTINGS
@given(cases(), st.text(max_size=60))
def test_any_remittance_text_is_read_without_error_and_never_misplaces(case, text):
    specs, receipt, config = case
    receipt.remittance = f"{receipt.remittance or ''} {text}"
    book, orders = book_for(specs)
    check_placement(receipt, match(receipt, book, config, "ASSN"), orders)


@SETTINGS
@given(
    st.lists(st.integers(1, 40), max_size=9),
    st.integers(1, 120),
    st.integers(0, 5),
)
def test_the_combination_search_counts_sets_like_brute_force(balances, target, slack):
    sums = combinations_adding_up(balances, target, target + slack, range(2, 6))
    expected: dict[int, int] = {}
    for size in range(2, 6):
        for combo in itertools.combinations(range(len(balances)), size):
            total = sum(balances[i] for i in combo)
            if target <= total <= target + slack:
                expected[total] = expected.get(total, 0) + 1
    assert {t: s.count for t, s in sums.items()} == {t: min(c, 2) for t, c in expected.items()}
    for total, sets in sums.items():
        assert all(sum(balances[i] for i in w) == total for w in sets.witnesses)
        assert len({tuple(sorted(w)) for w in sets.witnesses}) == min(sets.count, 2)


@SETTINGS
@given(cases())
def test_the_orders_reference_keys_and_customers_load_decide_like_every_order(case):
    """What persistence loads — orders named, orders whose key :func:`reference_keys` gives, and
    every order of the customers those, the named customer and the payer account point at —
    decides exactly as the whole ledger would."""
    specs, receipt, config = case
    whole, orders = book_for(specs)
    named = [number for number, _ in receipt.requested]
    keys = reference_keys(receipt.remittance, named)
    found = [o for o in orders.values() if o.number in named or order_key(o.number) in keys]
    payers = {payer_key(account): owner for account, owner in PAYERS.items()}
    customers = {receipt.customer_id, payers.get(payer_key(receipt.payer_account or ""))}
    for order in found:
        customers |= {order.customer_id, order.parent_id}
    loaded = [
        o for o in orders.values() if o in found or any(belongs_to(o, c) for c in customers if c)
    ]
    _, copies = book_for([spec for spec in specs if spec.number in {o.number for o in loaded}])
    part = OrderBook(copies.values(), PAYERS, OWNERS)
    note(f"{specs} {receipt} {config}")
    assert match(receipt, part, config, "ASSN") == match(receipt, whole, config, "ASSN")


def summarised_book(
    orders: dict[str, Order],
    receipt: Receipt,
    config: MatchConfig,
    *,
    whole: set[str],
    complete: set[str],
    oldest: int,
) -> OrderBook:
    """The book distribution builds (services.distribution._order_book, persistence's
    load_summaries): the named orders, those whose key the text gives and ``whole`` held whole;
    of the customers concerned, the ``oldest`` oldest open orders per currency, those whose
    balance is in the exact-amount range and every one of the ``complete`` customers as
    summaries, with an account of what was not read."""
    named = {n for n, _ in receipt.requested}
    keys = reference_keys(receipt.remittance, list(named))
    held = [o for o in orders.values() if o.number in named | whole or order_key(o.number) in keys]
    payers = {payer_key(account): owner for account, owner in PAYERS.items()}
    concerned = {receipt.customer_id, payers.get(payer_key(receipt.payer_account or ""))}
    concerned |= {orders[n].customer_id for n in named if n in orders}
    amount = receipt.requested[0][1] if receipt.requested else receipt.amount
    tolerance = config.tolerance(receipt.currency)
    widest = 0 if tolerance is None else tolerance.amount.minor
    ranges = {(amount.minor, amount.minor + widest)}
    summaries: list[OrderSummary] = []
    unread = {}
    for owner in sorted(c for c in concerned if c):
        for currency in ("USD", "EUR"):
            open_orders = sorted(
                (
                    o
                    for o in orders.values()
                    if belongs_to(o, owner) and o.currency == currency and o.balance.is_positive
                ),
                key=oldest_key,
            )
            read = [
                summary_of(o)
                for age, o in enumerate(open_orders, start=1)
                if age <= oldest
                or owner in complete
                or o in held
                or any(low <= o.balance.minor <= high for low, high in ranges)
            ]
            last = read[oldest - 1] if len(open_orders) >= oldest else None
            total = sum(o.balance.minor for o in open_orders)
            unread[(owner, currency)] = OpenOrders.unread_of(
                len(open_orders), total, currency, read, last
            )
            summaries += read
    return OrderBook(
        held, PAYERS, OWNERS, summaries=summaries, unread=unread, ranges=ranges, seeking=1
    )


@SETTINGS
@given(cases(), st.integers(1, 4))
def test_summaries_of_the_customers_open_orders_decide_like_every_order(case, window):
    """A book holding whole only what the receipt names and, of its customer's other open
    orders, summaries of the oldest few and those at the amount decides, once it has loaded
    whatever matching asks for (OrdersNeeded, or an order it picks held as a summary), exactly
    as the whole ledger: same rule, same orders, same money. Suggestions of the nearest open
    orders may differ: they come from the orders read."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matching, "COMBINATION_WINDOW", window)
        decide_from_summaries(*case, window)


def decide_from_summaries(
    specs: list[OrderSpec], receipt: Receipt, config: MatchConfig, window: int
) -> None:
    whole_book, orders = book_for(specs)
    expected = match(receipt, whole_book, config, "ASSN")
    wanted: set[str] = set()
    complete: set[str] = set()
    for rounds in range(3):
        _, copies = book_for(specs)
        book = summarised_book(
            copies, receipt, config, whole=wanted, complete=complete, oldest=window
        )
        try:
            placement = match(receipt, book, config, "ASSN")
        except OrdersNeeded as needed:
            wanted |= set(needed.numbers)
            complete |= {customer for customer, _ in needed.customers}
            continue
        missing = book.missing(n for n, _ in (*placement.shares, *placement.shortfalls))
        if missing:
            wanted |= set(missing)
            continue
        note(f"{specs} {receipt} {config} window {window}")
        event(f"loaded after {rounds} rounds")
        assert replace(placement, suggestions=()) == replace(expected, suggestions=())
        for suggestion in placement.suggestions:
            assert suggestion.order in orders
        return
    raise AssertionError(f"still asking after three rounds: {wanted} {complete}")


# --- (b) a tie applies nothing -------------------------------------------------------------------


@SETTINGS
@given(order_specs(), st.integers(1, 5_000), st.sampled_from(["C-1", "C-2"]), configs())
def test_two_open_orders_with_the_amount_are_a_tie(specs, amount, customer, config):
    config = config.with_rule("exact_amount", True)
    twins = [OrderSpec(f"T-{n}", customer, "USD", "ASSN", (amount,), n) for n in (1, 2)]
    book, _ = book_for([*specs, *twins])
    receipt = Receipt(1, Money.from_minor(amount, "USD"), ReceiptStatus.QUEUED, DAY, True)
    receipt.customer_id = customer
    placement = match(receipt, book, config, "ASSN")
    assert placement.shares == () and placement.rule is None
    assert placement.suggestions and all("tied with" in s.reason for s in placement.suggestions)


@SETTINGS
@given(order_specs(), st.integers(1, 5_000), configs())
def test_orders_of_two_customers_named_with_no_customer_known_are_a_tie(specs, amount, config):
    config = config.with_rule("reference", True)
    mine = OrderSpec("X-1", "C-2", "USD", "ASSN", (amount,), 1)
    theirs = OrderSpec("X-2", "C-3", "USD", "ASSN", (amount,), 2)
    book, _ = book_for([*specs, mine, theirs])
    receipt = Receipt(1, Money.from_minor(amount, "USD"), ReceiptStatus.QUEUED, DAY, True)
    receipt.remittance = "paying X-1 and X-2"
    placement = match(receipt, book, config, "ASSN")
    assert placement.shares == () and placement.customer is None


# --- (c) the money adds up -----------------------------------------------------------------------


@SETTINGS
@given(cases())
def test_applied_written_off_and_parked_add_up(case):
    specs, receipt, config = case
    book, orders = book_for(specs)
    before = {number: order.balance.minor for number, order in orders.items()}
    journals = receipt.distribute(book, UNITS, "ASSN", CALENDAR, {"ASSN": config, "FDN": config})
    totals: dict[TxnType, int] = {}
    for journal in journals:
        assert journal.currency == receipt.currency
        totals[journal.type] = totals.get(journal.type, 0) + journal.amount.minor
    applied, parked = totals.get(TxnType.RECEIPT, 0), totals.get(TxnType.UNAPPLIED, 0)
    assert applied + parked == receipt.amount.minor
    written_off = totals.get(TxnType.WRITE_OFF, 0)
    reversed_ = totals.get(TxnType.WRITE_OFF_REVERSAL, 0)
    moved = sum(before[n] - o.balance.minor for n, o in orders.items())
    assert moved == applied - reversed_ + written_off
    # Cash comes in once, on the receipt's org unit.
    cash = sum(
        e.amount.minor
        for j in journals
        if j.type in (TxnType.RECEIPT, TxnType.UNAPPLIED)
        for e in j.entries
        if e.side is Side.DEBIT
    )
    assert cash == receipt.amount.minor
    if written_off:
        tolerance = config.tolerance("USD")
        assert tolerance is not None and receipt.match_rule is not None
    expected = ReceiptStatus.APPLIED if parked == 0 else None
    if expected is not None:
        assert receipt.status is expected and receipt.suggestions == ()
    else:
        assert receipt.status in (ReceiptStatus.UNAPPLIED, ReceiptStatus.UNIDENTIFIED)
        assert (receipt.status is ReceiptStatus.UNIDENTIFIED) == (receipt.customer_id is None)


# --- (d) an oracle for rules 4, 5 and 6 ----------------------------------------------------------


def oracle(
    candidates: list[Order], amount: int, config: MatchConfig
) -> tuple[str | None, frozenset[str]]:
    """Rules 4 to 6 by brute force: (rule, the orders paid), (None, empty) for a tie or nothing."""
    tolerance = config.tolerance("USD")

    def within(total: int) -> bool:
        if tolerance is None or total <= amount:
            return False
        short = Money.from_minor(total - amount, "USD")
        return tolerance.allows(short, Money.from_minor(total, "USD"))

    balance = {o.number: o.balance.minor for o in candidates}
    if config.enabled("exact_amount"):
        exact = [n for n, b in balance.items() if b == amount]
        near = [n for n, b in balance.items() if within(b)]
        for found in (exact, near):
            if len(found) == 1:
                return "exact_amount", frozenset(found)
            if found:
                return None, frozenset()
    if config.enabled("whole_balance") and candidates and sum(balance.values()) == amount:
        return "whole_balance", frozenset(balance)
    if config.enabled("combination"):
        oldest = sorted(candidates, key=lambda o: (o.order_date, o.number))[:30]
        sets = [
            combo
            for size in range(2, 6)
            for combo in itertools.combinations([o.number for o in oldest], size)
        ]
        exact_sets = [c for c in sets if sum(balance[n] for n in c) == amount]
        near_sets = [c for c in sets if within(sum(balance[n] for n in c))]
        for found_sets in (exact_sets, near_sets):
            if len(found_sets) == 1:
                return "combination", frozenset(found_sets[0])
            if found_sets:
                return None, frozenset()
    return None, frozenset()


SMALL = st.sampled_from([0, 500, 1_000, 1_500, 2_000, 2_500]) | st.integers(1, 3_000)


@st.composite
def customer_books(draw: st.DrawFn, customer: str) -> list[OrderSpec]:
    """Mostly the customer's open orders in USD and ASSN, with balances that often repeat, so
    that sets adding up to an amount, and ties between them, are common."""
    return [
        OrderSpec(
            number=f"O-{index + 10}",
            owner=draw(st.sampled_from([customer] * 6 + ["K-1", "C-3"])),
            currency=draw(st.sampled_from(["USD"] * 9 + ["EUR"])),
            unit=draw(st.sampled_from(["ASSN"] * 9 + ["FDN"])),
            balances=(draw(SMALL),),
            age=draw(st.integers(0, 400)),
        )
        for index in range(draw(st.integers(1, 12)))
    ]


@SETTINGS
@given(st.sampled_from(["C-1", "C-2", "K-1"]), st.data(), configs())
def test_rules_4_to_6_agree_with_a_brute_force_oracle(customer, data, config):
    specs = data.draw(customer_books(customer))
    config = config.with_rule("oldest_first", False)
    book, orders = book_for(specs)
    candidates = [
        o
        for o in orders.values()
        if belongs_to(o, customer)
        and o.currency == "USD"
        and o.org_unit == "ASSN"
        and o.balance.is_positive
    ]
    balances = [o.balance.minor for o in candidates] or [1]
    subset_sums = st.lists(
        st.sampled_from(range(len(balances))), min_size=1, max_size=5, unique=True
    ).map(lambda picked: sum(balances[i] for i in picked))
    amount = data.draw(
        st.integers(1, 12_000)
        | subset_sums
        | subset_sums.map(lambda total: total - 3)
        | st.just(sum(balances))
    )
    amount = max(amount, 1)
    receipt = Receipt(1, Money.from_minor(amount, "USD"), ReceiptStatus.QUEUED, DAY, True)
    receipt.customer_id = customer
    placement = match(receipt, book, config, "ASSN")
    rule, paid = oracle(candidates, amount, config)
    assert placement.rule == rule
    placed = {n for n, _ in placement.shares} | {n for n, _ in placement.shortfalls}
    assert placed == paid
