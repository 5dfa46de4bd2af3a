"""Matching: placing a receipt whose remittance is messy on the right orders, or on none.

docs/rules.md section 14. A receipt names an order, or carries remittance
text and a payer's account, or only an amount; the rules here decide, conservatively, which of
its customer's open orders it pays: a wrong application is worse than none. A rule that finds
two equally good answers ends the search with nothing placed and the candidates suggested.

This module does no I/O: persistence reads the candidate orders (by the keys
:mod:`ledger.domain.remittance` gives, and the open orders of the customers a batch may concern)
into an :class:`~ledger.domain.order_book.OrderBook`, :func:`match` decides a
:class:`Placement`, and the receipt aggregate distributes over it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ledger.domain.matching_config import MatchConfig, Tolerance
from ledger.domain.money import Money
from ledger.domain.order_book import (
    Candidate,
    OpenOrders,
    OrderBook,
    OrdersNeeded,
    belongs_to,
    oldest_key,
)
from ledger.domain.remittance import Mention, amount_pattern, mentions, words_of

if TYPE_CHECKING:  # receipt.py imports this module; the receipt is only read here
    from ledger.domain.receipt import Receipt

# The combination rule looks at this many of the customer's oldest open orders, sets of 2..5.
COMBINATION_WINDOW = 30
COMBINATION_SIZES = range(2, 6)
MAX_SUGGESTIONS = 3


@dataclass(frozen=True, slots=True)
class Suggestion:
    """An order an operator may want to apply an unplaced receipt to, and why."""

    order: str
    reason: str  # human words, e.g. "balance 120.00 equals the amount; tied with O-13"


@dataclass(frozen=True, slots=True)
class Placement:
    """What matching decided for one receipt; the receipt aggregate carries it out."""

    rule: str | None  # "named", "reference", "payer_account+exact_amount", ..., None
    references: tuple[str, ...] = ()  # order numbers / text fragments / payer account
    shares: tuple[tuple[str, Money], ...] = ()  # order number -> money distributed onto it
    shortfalls: tuple[tuple[str, Money], ...] = ()  # order number -> tolerance write-off
    customer: str | None = None  # the receipt's customer as matching found it
    org_unit: str | None = None  # the org unit the rules searched (the named order's, else default)
    suggestions: tuple[Suggestion, ...] = ()  # up to 3 when something is left unplaced
    reasons: tuple[str, ...] = ()  # why named orders did not count


@dataclass(slots=True)
class _Answer:
    """A rule's outcome: a placement (shares), a stop (nothing placed, candidates suggested),
    or nothing (the next rule runs)."""

    shares: list[tuple[Candidate, Money]] = field(default_factory=list)
    shortfalls: list[tuple[Candidate, Money]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    stop: bool = False


class _Search:
    """The state of one receipt's search: what it pays, in what currency and org unit, for whom."""

    def __init__(
        self,
        book: OrderBook,
        tolerance: Tolerance | None,
        amount: Money,
        unit: str | None,
        customer: str | None,
    ) -> None:
        self.book = book
        self.amount = amount
        self.currency = amount.currency
        self.unit = unit
        self.customer = customer
        self.payer_customer: str | None = None  # whose registered account the money came from
        self.tolerance = tolerance

    # --- the tests every rule applies -----------------------------------------------------------

    def refusal(self, order: Candidate) -> str | None:
        """Why ``order`` cannot take this receipt, or None when it can."""
        if order.currency != self.currency:
            return f"in {order.currency}"
        if self.unit is not None and order.org_unit != self.unit:
            return f"in org unit {order.org_unit}"
        if self.customer is not None and not belongs_to(order, self.customer):
            return f"not customer {self.customer}'s"
        if not order.balance.is_positive:
            return "not open" if order.balance.is_zero else "in credit"
        return None

    def candidates(self) -> list[Candidate]:
        """The customer's open orders in the receipt's currency and org unit, oldest first."""
        assert self.customer is not None
        found = [o for o in self.book.of_customer(self.customer) if self.refusal(o) is None]
        return sorted(found, key=oldest_key)

    def customer_id(self) -> str:
        assert self.customer is not None  # rules 4 to 7 run only for a known customer
        return self.customer

    def unread(self) -> OpenOrders | None:
        """What the book was not given of the customer's open orders in this currency."""
        return self.book.unread(self.customer_id(), self.currency)

    def read_through(self, oldest: Sequence[Candidate], *, full: bool) -> bool:
        """Whether these oldest-first orders are the customer's oldest open ones for certain:
        the book holds every open order, or ``oldest`` is ``full`` (as many as the rule takes)
        and none is younger than the last one the book was given by age."""
        unread = self.unread()
        if unread is None:
            return True
        boundary = unread.read_up_to
        return full and boundary is not None and all(oldest_key(o) <= boundary for o in oldest)

    def shortfall(self, amount: Money, balance: Money) -> Money | None:
        """The shortfall to write off when ``amount`` pays ``balance`` within tolerance."""
        short = balance - amount
        if self.tolerance is None or not short.is_positive:
            return None
        return short if self.tolerance.allows(short, balance) else None

    def whole(self, order: Candidate, amount: Money, reference: str) -> _Answer:
        """All of ``amount`` on one order, the shortfall written off when within tolerance."""
        answer = _Answer(shares=[(order, amount)], references=[reference])
        short = self.shortfall(amount, order.balance)
        if short is not None:
            answer.shortfalls.append((order, short))
        return answer

    def oldest_first(
        self, orders: Sequence[Candidate], amount: Money
    ) -> list[tuple[Candidate, Money]]:
        """Each order up to its balance, oldest first, until ``amount`` runs out."""
        shares: list[tuple[Candidate, Money]] = []
        remaining = amount
        for order in sorted(orders, key=oldest_key):
            if not remaining.is_positive:
                break
            share = remaining.min(order.balance)
            if share.is_positive:
                shares.append((order, share))
                remaining -= share
        return shares

    # --- rule 2: reference ----------------------------------------------------------------------

    def reference(self, text: str, breaks: Collection[int] = ()) -> _Answer | None:
        words, cut = words_of(text, breaks)
        found_mentions = mentions(words, cut)
        amount_re = amount_pattern(self.currency)
        resolved: list[tuple[Mention, list[Candidate]]] = []
        for mention in found_mentions:
            named: dict[str, Candidate] = {}
            for key in mention.keys:
                for found in self.book.by_key(key):
                    named.setdefault(found.number, found)
            if named:
                resolved.append((mention, list(named.values())))
        # Two words read together that name an order say more than either word alone; a word
        # taken as the amount after an order is money, not another order.
        consumed: set[int] = set()
        for mention, _ in resolved:
            if len(mention.words) == 2:
                consumed.update(mention.words)
        amounts: set[int] = set()
        for mention, _ in resolved:
            if len(mention.words) == 1 and mention.words[0] in consumed:
                continue
            if mention.after < len(words) and amount_re.fullmatch(words[mention.after]):
                amounts.add(mention.after)

        counted: list[tuple[Candidate, str, Money | None]] = []
        stops: list[Suggestion] = []
        ties: list[Suggestion] = []
        for mention, orders in resolved:
            if len(mention.words) == 1 and (
                mention.words[0] in consumed or mention.words[0] in amounts
            ):
                continue
            passing = []
            for order in orders:
                why = self.refusal(order)
                if why is None:
                    passing.append(order)
                elif self.customer is not None and belongs_to(order, self.customer):
                    stops.append(
                        Suggestion(
                            order.number, f"named in the remittance ({mention.fragment}) but {why}"
                        )
                    )
            if len(passing) > 1:
                names = ", ".join(o.number for o in passing)
                ties.extend(
                    Suggestion(o.number, f"{mention.fragment!r} names {names}") for o in passing
                )
                continue
            if passing:
                after = mention.after
                given = None
                if after in amounts:
                    given = Money.parse(words[after].replace(",", "."), self.currency)
                counted.append((passing[0], mention.fragment, given))
        if stops:
            return _Answer(suggestions=_dedupe(stops), stop=True)
        if ties:
            return _Answer(suggestions=_dedupe(ties), stop=True)
        if not counted:
            return None

        orders_found: dict[str, Candidate] = {}
        for order, _, _ in counted:
            orders_found.setdefault(order.number, order)
        if self.customer is None:
            owner = _common_owner(list(orders_found.values()))
            payer = self.payer_customer
            # Money from an account registered to another customer: a typo in the text may
            # name someone else's order, so the text alone does not decide.
            if payer is not None and not all(belongs_to(o, payer) for o in orders_found.values()):
                owner = None
            if owner is None:
                return _Answer(
                    suggestions=[
                        Suggestion(o.number, f"named in the remittance; customer {o.customer_id}")
                        for o in orders_found.values()
                    ],
                    stop=True,
                )
            self.customer = owner
        # The orders that decided, then the words that named them where they differ.
        fragments = [*orders_found, *(f for _, f, _ in counted if f not in orders_found)]
        if len(orders_found) == 1:
            (order,) = orders_found.values()
            answer = self.whole(order, self.amount, order.number)
            answer.references = fragments
            return answer
        # Several orders: the amounts written after them when they account for the whole
        # receipt, else each up to its balance, oldest first.
        written = [(order, amount) for order, _, amount in counted if amount is not None]
        if len(written) == len(counted) == len(orders_found):
            total = Money.zero(self.currency)
            for _, amount in written:
                total += amount
            if total == self.amount and all(amount.is_positive for _, amount in written):
                return _Answer(shares=written, references=fragments)
        return _Answer(
            shares=self.oldest_first(list(orders_found.values()), self.amount),
            references=fragments,
        )

    # --- rules 4 to 7: the customer's open orders -----------------------------------------------

    def exact_amount(self, candidates: Sequence[Candidate]) -> _Answer | None:
        most = self.amount if self.tolerance is None else self.amount + self.tolerance.amount
        if self.unread() is not None and not self.book.holds_balances(self.amount, most):
            raise OrdersNeeded(customers=[(self.customer_id(), self.currency)])
        exact = [o for o in candidates if o.balance == self.amount]
        if len(exact) == 1:
            return self.whole(exact[0], self.amount, exact[0].number)
        if exact:
            return _tie(exact, lambda o: f"balance {o.balance} equals the amount")
        near = [o for o in candidates if self.shortfall(self.amount, o.balance) is not None]
        if len(near) == 1:
            return self.whole(near[0], self.amount, near[0].number)
        if near:
            return _tie(
                near,
                lambda o: (
                    f"balance {o.balance} is {o.balance - self.amount} above the amount, "
                    "within tolerance"
                ),
            )
        return None

    def whole_balance(self, candidates: Sequence[Candidate]) -> _Answer | None:
        total = Money.zero(self.currency)
        for order in candidates:
            total += order.balance
        unread = self.unread()
        if unread is not None and total <= self.amount <= total + unread.unread_total:
            # The orders not read may make up the difference: only all of them can tell.
            raise OrdersNeeded(customers=[(self.customer_id(), self.currency)])
        if not candidates or total != self.amount:
            return None
        return _Answer(
            shares=[(o, o.balance) for o in candidates], references=[o.number for o in candidates]
        )

    def combination(self, candidates: Sequence[Candidate]) -> _Answer | None:
        window = list(candidates[:COMBINATION_WINDOW])
        if not self.read_through(window, full=len(window) == COMBINATION_WINDOW):
            raise OrdersNeeded(customers=[(self.customer_id(), self.currency)])
        target = self.amount.minor
        limit = target + (self.tolerance.amount.minor if self.tolerance is not None else 0)
        sums = combinations_adding_up(
            [o.balance.minor for o in window], target, limit, COMBINATION_SIZES
        )
        exact = sums.get(target)
        if exact is not None:
            return self._combination_answer(window, exact, short=False)
        # No exact set: the sets within tolerance, and two of them are a tie.
        within = SetCount(0, [])
        for total in sorted(sums):
            if total > target and self.shortfall(
                self.amount, Money.from_minor(total, self.currency)
            ):
                within.add(sums[total].count, sums[total].witnesses)
        if within.count == 0:
            return None
        return self._combination_answer(window, within, short=True)

    def _combination_answer(
        self, window: Sequence[Candidate], sets: SetCount, short: bool
    ) -> _Answer:
        if sets.count >= 2:
            picked: dict[str, Candidate] = {}
            for witness in sets.witnesses:
                for index in witness:
                    picked.setdefault(window[index].number, window[index])
            return _tie(
                list(picked.values()),
                lambda o: (
                    f"balance {o.balance} is in a set adding up to the amount; another set does too"
                ),
            )
        orders = [window[index] for index in sets.witnesses[0]]
        shares = self.oldest_first(orders, self.amount)
        answer = _Answer(shares=shares, references=[o.number for o in orders])
        if short:
            paid = {o.number: s for o, s in shares}
            for order in orders:
                owed = order.balance - paid.get(order.number, Money.zero(self.currency))
                if owed.is_positive:
                    answer.shortfalls.append((order, owed))
        return answer

    def oldest(self, candidates: Sequence[Candidate]) -> _Answer | None:
        shares = self.oldest_first(candidates, self.amount)
        placed = sum((share.minor for _, share in shares), 0)
        if not self.read_through([o for o, _ in shares], full=placed == self.amount.minor):
            raise OrdersNeeded(customers=[(self.customer_id(), self.currency)])
        if not candidates:
            return None
        return _Answer(shares=shares, references=[o.number for o, _ in shares])

    def nearest(self, rest: Money, placed: Collection[str] = ()) -> list[Suggestion]:
        """For money left unplaced with a customer known: its open orders nearest the rest
        (not those ``placed`` already pays)."""
        if self.customer is None:
            return []
        candidates = [o for o in self.candidates() if o.number not in placed]
        candidates.sort(key=lambda o: (abs(o.balance - rest).amount, oldest_key(o)))
        return [
            Suggestion(o.number, f"open, balance {o.balance}; unplaced {rest}")
            for o in candidates[:MAX_SUGGESTIONS]
        ]


def _dedupe(suggestions: Iterable[Suggestion]) -> list[Suggestion]:
    seen: dict[str, Suggestion] = {}
    for suggestion in suggestions:
        seen.setdefault(suggestion.order, suggestion)
    return list(seen.values())


def _tie(orders: Sequence[Candidate], why: Callable[[Candidate], str]) -> _Answer:
    """Two or more equally good answers: nothing placed, the candidates suggested."""
    numbers = [o.number for o in orders]
    suggestions = []
    for order in orders:
        others = ", ".join(n for n in numbers if n != order.number)
        suggestions.append(Suggestion(order.number, f"{why(order)}; tied with {others}"))
    return _Answer(suggestions=suggestions, stop=True)


def _common_owner(orders: Sequence[Candidate]) -> str | None:
    """The one customer all ``orders`` belong to (their own customer when they share it, else
    the parent they all bill to), or None."""
    own = {o.customer_id for o in orders}
    if len(own) == 1:
        return next(iter(own))
    parents = {o.parent_id if o.bills_to_parent else None for o in orders}
    for candidate in sorted(c for c in parents | own if c is not None):
        if all(belongs_to(o, candidate) for o in orders):
            return candidate
    return None


@dataclass(slots=True)
class SetCount:
    """How many sets add up to one sum (capped at 2: one answer or a tie), and up to two of
    them as tuples of indexes."""

    count: int
    witnesses: list[tuple[int, ...]]

    def add(self, count: int, witnesses: Iterable[tuple[int, ...]]) -> None:
        self.count = min(self.count + count, 2)
        for witness in witnesses:
            if len(self.witnesses) >= 2:
                break
            self.witnesses.append(witness)


def combinations_adding_up(
    balances: Sequence[int], target: int, limit: int, sizes: range
) -> dict[int, SetCount]:
    """The sums in [target, limit] that sets of ``sizes`` of ``balances`` (minor units) add up
    to, each with its :class:`SetCount`.

    A dynamic programme over (set size, sum) with counts capped at 2 and sums above ``limit``
    pruned, instead of enumerating the up to 174,000 sets of 2..5 among 30 orders.
    """
    biggest = max(sizes)
    # Largest balance first: what is left to add after an item is then the next few items, so
    # a partial set that cannot reach ``target`` any more is dropped early.
    order = sorted(
        (i for i, balance in enumerate(balances) if 0 < balance <= limit),
        key=lambda i: -balances[i],
    )
    values = [balances[i] for i in order]

    def reach(after: int, count: int) -> int:
        return sum(values[after : after + count])

    by_size: list[dict[int, SetCount]] = [{} for _ in range(biggest + 1)]
    by_size[0][0] = SetCount(1, [()])
    for position, balance in enumerate(values):
        index = order[position]
        # Largest size first, so this balance joins each set at most once.
        for k in range(biggest, 0, -1):
            current = by_size[k]
            headroom = reach(position + 1, biggest - k)
            for total, sets in list(by_size[k - 1].items()):
                new_total = total + balance
                if new_total > limit or new_total + headroom < target:
                    continue
                extended = [(*witness, index) for witness in sets.witnesses]
                known = current.get(new_total)
                if known is None:
                    current[new_total] = SetCount(sets.count, extended)
                elif known.count < 2:
                    known.add(sets.count, extended)
    found: dict[int, SetCount] = {}
    for k in sizes:
        for total, sets in by_size[k].items():
            if total < target:
                continue
            if total in found:
                found[total].add(sets.count, sets.witnesses)
            else:
                found[total] = SetCount(sets.count, list(sets.witnesses))
    return found


# --- the rules in order ------------------------------------------------------------------------


def match(
    receipt: Receipt, book: OrderBook, config: MatchConfig, default_unit: str | None
) -> Placement:
    """Decide where a queued receipt's money goes (docs/rules.md section 14), touching nothing.

    Several named orders (a split lockbox check) are only rule 1, each taking its amount; what
    they leave is not matched. Otherwise a named order that resolves is rule 1; one that does
    not, the remittance text, the payer account and the amount go through rules 2 to 7, the
    first rule with an answer winning and a tie ending the search with nothing placed.
    ``default_unit`` is the org unit a receipt naming no found order is booked to
    (:meth:`Receipt.distribute` always gives one; None considers every org unit, which only a
    ledger with a single org unit may do).
    """
    currency = receipt.currency
    named_customer = receipt.customer_id
    requested_customer = receipt.requested_customer
    if named_customer is None and requested_customer and book.has_customer(requested_customer):
        named_customer = requested_customer
    first_found = next(
        (order for number, _ in receipt.requested if (order := book.named(number)) is not None),
        None,
    )
    unit = first_found.org_unit if first_found is not None else receipt.org_unit or default_unit
    customer = named_customer or (first_found.customer_id if first_found is not None else None)
    reasons: list[str] = []

    def named_refusal(number: str) -> tuple[Candidate | None, str | None]:
        order = book.named(number)
        if order is None:
            return None, f"order {number} not found"
        if order.currency != currency:
            return order, f"order {number} is in {order.currency}, the receipt in {currency}"
        if named_customer is not None and not belongs_to(order, named_customer):
            return order, f"order {number} is not one of customer {named_customer}'s orders"
        if unit is not None and order.org_unit != unit:
            return order, f"order {number} is in org unit {order.org_unit}, the receipt in {unit}"
        return order, None

    if len(receipt.requested) > 1:
        if named_customer is None:
            # A split check pays one customer's orders: the one they all belong to (a parent
            # paying its children's), else the first found order's; the others are refused.
            listed = [o for n, _ in receipt.requested if (o := book.named(n)) is not None]
            named_customer = _common_owner(listed) or customer  # named_refusal reads it
        return _split(receipt, config, named_refusal, named_customer, unit)

    amount = receipt.requested[0][1] if receipt.requested else receipt.amount
    search = _Search(book, config.tolerance(currency), amount, unit, customer)
    if receipt.payer_account:
        search.payer_customer = book.payer(receipt.payer_account)
    text = receipt.remittance or ""
    breaks = set(receipt.remittance_breaks)
    if receipt.requested:
        number = receipt.requested[0][0]
        order, refused = named_refusal(number)
        if refused is None and order is not None and config.enabled("named"):
            return _placed("named", search.whole(order, amount, number), search, unit, reasons)
        if refused is not None:
            reasons.append(refused)
        text = f"{number} {text}"
        breaks = {at + len(number) + 1 for at in breaks}

    if config.enabled("reference") and text.strip():
        found = search.reference(text, breaks)
        if found is not None:
            if found.stop:
                return _unplaced(search, unit, reasons, found.suggestions)
            return _placed("reference", found, search, unit, reasons)

    prefix = ""
    payer_reference: list[str] = []
    if search.customer is None and config.enabled("payer_account") and receipt.payer_account:
        owner = book.payer(receipt.payer_account)
        if owner is not None:
            search.customer = owner
            prefix = "payer_account+"
            payer_reference = [receipt.payer_account]
    if search.customer is None:
        return _unplaced(search, unit, reasons, [])

    candidates = search.candidates()
    for rule, run in (
        ("exact_amount", search.exact_amount),
        ("whole_balance", search.whole_balance),
        ("combination", search.combination),
        ("oldest_first", search.oldest),
    ):
        if not config.enabled(rule):
            continue
        answer = run(candidates)
        if answer is None:
            continue
        if answer.stop:
            return _unplaced(search, unit, reasons, answer.suggestions)
        answer.references = [*payer_reference, *answer.references]
        return _placed(prefix + rule, answer, search, unit, reasons)
    return _unplaced(search, unit, reasons, search.nearest(amount))


def seeks_match(
    receipt: Receipt,
    named: Mapping[str, Candidate],
    configs: Mapping[str, MatchConfig] | None = None,
) -> bool:
    """Whether matching must look beyond the orders a receipt names (``named``: the orders of
    the batch by number): it names none, or one that is not found or fails rule 1's tests
    (another currency, not the named customer's), or rule 1 is off for its org unit (in
    ``configs``); it is then read as text. A split check's orders are only rule 1; its rest is
    not matched."""
    if len(receipt.requested) > 1:
        return False
    if not receipt.requested:
        return True
    order = named.get(receipt.requested[0][0])
    if order is None or order.currency != receipt.currency:
        return True
    config = (configs or {}).get(order.org_unit)
    if config is not None and not config.enabled("named"):
        return True
    customer = receipt.customer_id
    return customer is not None and not belongs_to(order, customer)


def _split(
    receipt: Receipt,
    config: MatchConfig,
    named_refusal: Callable[[str], tuple[Candidate | None, str | None]],
    customer: str | None,
    unit: str | None,
) -> Placement:
    """A split lockbox check: each listed order that passes rule 1 takes its amount; the rest
    of the check stays unapplied for the customer, unmatched."""
    reasons: list[str] = []
    totals: dict[str, tuple[Candidate, Money]] = {}
    for number, share in receipt.requested:
        order, refused = named_refusal(number)
        if refused is not None or order is None:
            reasons.append(refused or f"order {number} not found")
            continue
        if not config.enabled("named"):
            continue
        known = totals.get(number)
        totals[number] = (order, share if known is None else known[1] + share)
    tolerance = config.tolerance(receipt.currency)
    search = _Search(OrderBook((), {}, ()), tolerance, receipt.amount, unit, customer)
    shares = [(number, share) for number, share in receipt.requested if number in totals]
    shortfalls: list[tuple[str, Money]] = []
    for number, (order, total) in totals.items():
        short = search.shortfall(total, order.balance)
        if short is not None:
            shortfalls.append((number, short))
    return Placement(
        rule="named" if shares else None,
        references=tuple(totals),
        shares=tuple(shares),
        shortfalls=tuple(shortfalls),
        customer=customer,
        org_unit=unit,
        reasons=tuple(reasons),
    )


def _placed(
    rule: str, answer: _Answer, search: _Search, unit: str | None, reasons: list[str]
) -> Placement:
    placed = Money.zero(search.currency)
    for _, share in answer.shares:
        placed += share
    rest = search.amount - placed
    paid = {order.number for order, _ in answer.shares}
    suggestions = search.nearest(rest, paid) if rest.is_positive else []
    return Placement(
        rule=rule,
        references=tuple(dict.fromkeys(answer.references)),
        shares=tuple((order.number, share) for order, share in answer.shares),
        shortfalls=tuple((order.number, short) for order, short in answer.shortfalls),
        customer=search.customer,
        org_unit=unit,
        suggestions=tuple(suggestions[:MAX_SUGGESTIONS]),
        reasons=tuple(reasons),
    )


def _unplaced(
    search: _Search, unit: str | None, reasons: list[str], suggestions: Sequence[Suggestion]
) -> Placement:
    return Placement(
        rule=None,
        customer=search.customer,
        org_unit=unit,
        suggestions=tuple(suggestions[:MAX_SUGGESTIONS]),
        reasons=tuple(reasons),
    )
