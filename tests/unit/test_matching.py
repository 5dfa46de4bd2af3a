"""SPEC section 15 (docs/rules.md section 14): matching a receipt's messy remittance to orders,
rule by rule, with the SPEC's examples and every "never" case."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest

from ledger.domain import matching
from ledger.domain.calendar import Calendar, Period
from ledger.domain.journal import TxnType
from ledger.domain.matching import Placement, combinations_adding_up, match, seeks_match
from ledger.domain.matching_config import MatchConfig, Tolerance
from ledger.domain.money import Money
from ledger.domain.order import Line, Order, Reason
from ledger.domain.order_book import OpenOrders, OrderBook, OrdersNeeded
from ledger.domain.receipt import Receipt, ReceiptStatus
from ledger.domain.remittance import order_key, payer_key, reference_keys
from tests.support.factories import DAY, book_of, summary_of, usd

CALENDAR = Calendar([Period("2026-11", date(2026, 11, 1), date(2026, 11, 30), True)])
_ids = itertools.count(1)


@dataclass(frozen=True)
class Unit:
    code: str
    cash_account: str
    unapplied_account: str


UNITS = {"ASSN": Unit("ASSN", "1000", "2100"), "FDN": Unit("FDN", "1010", "2110")}


def make(
    number: str,
    *balances: str,
    customer: str = "C-1",
    currency: str = "USD",
    unit: str = "ASSN",
    age: int = 0,
    parent: str | None = None,
    bills_to_parent: bool = False,
    unshipped: bool = False,
) -> Order:
    """An order with one line per balance (a balance of 0 is a line of 10 fully paid); a larger
    ``age`` is an older order."""
    lines = []
    for n, text in enumerate(balances or ("100.00",), start=1):
        balance = Money.parse(text, currency)
        amount = balance if balance.is_positive else Money.parse("10", currency)
        lines.append(
            Line(
                line_no=n,
                product="P",
                priority=100 + n,
                amount=amount,
                balance=balance,
                ar_account="1100",
                revenue_account="4000",
                writeoff_account="6100",
                inventoried=unshipped,
                shipped=not unshipped,
            )
        )
    return Order(
        number=number,
        customer_id=customer,
        currency=currency,
        org_unit=unit,
        credit_writeoff_account="2200",
        lines=lines,
        bills_to_parent=bills_to_parent,
        order_date=date(2026, 10, 1) - timedelta(days=age),
        parent_id=parent,
    )


def receipt(
    amount: str,
    *,
    order: str | None = None,
    orders: tuple[tuple[str, str], ...] = (),
    customer: str | None = None,
    remittance: str | None = None,
    payer: str | None = None,
    currency: str = "USD",
    breaks: tuple[int, ...] = (),
) -> Receipt:
    money = Money.parse(amount, currency)
    requested = tuple((n, Money.parse(a, currency)) for n, a in orders)
    if order is not None:
        requested = ((order, money),)
    return Receipt(
        id=next(_ids),
        amount=money,
        status=ReceiptStatus.QUEUED,
        received_date=DAY,
        automated=True,
        requested=requested,
        customer_id=customer,
        remittance=remittance,
        remittance_breaks=breaks,
        payer_account=payer,
    )


def run(
    r: Receipt,
    *orders: Order,
    config: MatchConfig | None = None,
    payers: dict[str, str] | None = None,
) -> Placement:
    return match(r, book_of(*orders, payers=payers), config or MatchConfig(), "ASSN")


def shares(placement: Placement) -> dict[str, str]:
    return {number: str(money) for number, money in placement.shares}


def suggested(placement: Placement) -> list[str]:
    return [s.order for s in placement.suggestions]


def tolerant(amount: str, percent: str | None = None, currency: str = "USD") -> MatchConfig:
    share = None if percent is None else Decimal(percent)
    return MatchConfig().with_tolerance(currency, Tolerance(Money.parse(amount, currency), share))


# --- keys ----------------------------------------------------------------------------------------


def test_payer_accounts_compare_without_spaces_dashes_or_case():
    assert payer_key(" de89 3704-0044 ") == payer_key("DE8937040044") == "DE8937040044"


def test_reference_keys_read_words_prefixes_and_pairs():
    assert {"o12", "o13"} <= reference_keys("Ref:O-12,O-13", [])
    assert "o12" in reference_keys("paid #o-0012", [])
    assert "o102" in reference_keys("INV#O-102", [])
    assert "o12" in reference_keys("O 12", [])
    assert "102" in reference_keys("Invoice No 102", [])
    assert "o9" in reference_keys(None, ["O-0009"])


def test_reference_keys_glue_only_the_words_either_side_of_a_record_break():
    # "pay O-1 02": a BAI2 reader joined "pay O-1" and its continuation "02" with the space at 7.
    assert "o102" in reference_keys("pay O-1 02", [], (7,))
    assert "o102" not in reference_keys("pay O-1 02", [])
    # Behind a named number the text (and its break) moves right.
    assert "o102" in reference_keys("O-1 02", ["X-9"], (3,))


def test_a_word_that_is_only_an_amount_is_never_an_order_key():
    keys = reference_keys("O-12 50.00 and 12,50", [])
    assert "5000" not in keys and "1250" not in keys and "o12" in keys


# --- rule 1: named -------------------------------------------------------------------------------


def test_a_named_order_takes_the_receipt_even_when_paid_already():
    paid = make("O-1", "0.00")
    placement = run(receipt("50.00", order="O-1"), paid)
    assert (placement.rule, shares(placement), placement.references) == (
        "named",
        {"O-1": "50.00"},
        ("O-1",),
    )
    assert placement.customer == "C-1"


def test_a_named_order_of_another_customer_than_the_named_one_does_not_count():
    theirs = make("O-1", "50.00", customer="C-2")
    mine = make("O-2", "50.00", customer="C-1")
    placement = run(receipt("50.00", order="O-1", customer="C-1"), theirs, mine)
    assert placement.rule == "exact_amount" and shares(placement) == {"O-2": "50.00"}
    assert placement.reasons == ("order O-1 is not one of customer C-1's orders",)


def test_a_named_order_in_another_currency_stops_the_search_and_is_suggested():
    eur = make("O-1", "60.00", currency="EUR")
    other = make("O-2", "60.00")  # would match by amount: the search stopped before
    placement = run(receipt("60.00", order="O-1"), eur, other)
    assert placement.rule is None and placement.shares == ()
    assert placement.reasons == ("order O-1 is in EUR, the receipt in USD",)
    assert suggested(placement) == ["O-1"]
    assert placement.customer == "C-1"  # the named order's customer


def test_a_named_order_not_found_is_read_as_text():
    placement = run(receipt("40.00", order="o-0012"), make("O-12", "40.00"))
    assert (placement.rule, shares(placement)) == ("reference", {"O-12": "40.00"})
    assert placement.reasons == ("order o-0012 not found",)


# --- rule 2: reference ---------------------------------------------------------------------------


def test_several_orders_in_the_text_are_paid_oldest_first_up_to_their_balance():
    o12, o13 = make("O-12", "30.00", age=1), make("O-13", "50.00", age=2)
    placement = run(receipt("100.00", remittance="Ref:O-12,O-13"), o12, o13)
    assert placement.rule == "reference"
    assert list(placement.shares) == [("O-13", usd("50.00")), ("O-12", usd("30.00"))]
    assert placement.references == ("O-12", "O-13")
    assert placement.customer == "C-1"


def test_amounts_after_the_numbers_give_each_order_its_amount():
    o12, o13 = make("O-12", "30.00"), make("O-13", "50.00")
    placement = run(receipt("75.00", remittance="O-12 50.00 O-13 25.00"), o12, o13)
    assert shares(placement) == {"O-12": "50.00", "O-13": "25.00"}


def test_amounts_that_do_not_add_up_fall_back_to_oldest_first():
    o12, o13 = make("O-12", "30.00", age=2), make("O-13", "50.00", age=1)
    placement = run(receipt("70.00", remittance="O-12 50.00 O-13 25.00"), o12, o13)
    assert shares(placement) == {"O-12": "30.00", "O-13": "40.00"}


def test_amounts_need_the_currency_decimals_jpy_has_none():
    o12 = make("O-12", "6000", currency="JPY")
    o13 = make("O-13", "6000", currency="JPY")
    placement = run(receipt("8000", remittance="O-12 5000 O-13 3000", currency="JPY"), o12, o13)
    assert shares(placement) == {"O-12": "5000", "O-13": "3000"}


def test_padded_lowercase_and_prefixed_and_split_numbers_are_read():
    for text, number in [("#o-0012", "O-12"), ("INV#O-102", "O-102"), ("pay O 12", "O-12")]:
        target = make(number, "20.00")
        placement = run(receipt("20.00", remittance=text), target, make("O-7", "20.00"))
        assert (placement.rule, shares(placement)) == ("reference", {number: "20.00"}), text


def test_an_order_number_cut_by_a_bai2_record_break_is_read_glued():
    o102 = make("O-102", "20.00")
    # The bank cut "O-102" where its 16 record ended; the reader joined the 88 with a space.
    text = "for order O-1 02 thanks"
    cut = (text.index(" 02"),)
    placement = run(receipt("20.00", remittance=text, breaks=cut), o102)
    assert (placement.rule, shares(placement)) == ("reference", {"O-102": "20.00"})
    assert placement.references == ("O-102",)
    # Glued, the words say more than either alone: O-1 is not also counted.
    both = run(receipt("20.00", remittance=text, breaks=cut), o102, make("O-1", "20.00"))
    assert shares(both) == {"O-102": "20.00"}
    # The same text without the break is two words: O-1 alone.
    apart = run(receipt("20.00", remittance=text), o102, make("O-1", "20.00"))
    assert shares(apart) == {"O-1": "20.00"}


def test_words_either_side_of_a_break_that_glued_name_nothing_are_read_apart():
    o12, o13 = make("O-12", "10.00", age=2), make("O-13", "10.00", age=1)
    # A bank that breaks between words: "O-12" | "O-13" glued is O-12O-13, no order.
    placement = run(receipt("20.00", remittance="O-12 O-13", breaks=(4,)), o12, o13)
    assert shares(placement) == {"O-12": "10.00", "O-13": "10.00"}


def test_references_name_the_orders_then_the_words_that_named_them():
    placement = run(receipt("20.00", remittance="paid #o-0012"), make("O-12", "20.00"))
    assert placement.references == ("O-12", "#o-0012")


def test_an_order_of_another_customer_in_the_text_does_not_count_when_the_customer_is_known():
    theirs = make("O-12", "20.00", customer="C-2")
    placement = run(receipt("20.00", customer="C-1", remittance="O-12"), theirs)
    assert placement.rule is None and placement.shares == ()
    assert placement.customer == "C-1" and suggested(placement) == []


def test_a_paid_order_of_the_customer_in_the_text_stops_the_search():
    paid = make("O-12", "0.00")
    exact = make("O-13", "20.00")
    placement = run(receipt("20.00", customer="C-1", remittance="O-12"), paid, exact)
    assert placement.rule is None and suggested(placement) == ["O-12"]
    assert "not open" in placement.suggestions[0].reason


def test_orders_of_two_customers_with_no_customer_known_place_nothing():
    a, b = make("O-12", "20.00", customer="C-1"), make("O-13", "20.00", customer="C-2")
    placement = run(receipt("40.00", remittance="O-12 O-13"), a, b)
    assert placement.rule is None and placement.customer is None
    assert suggested(placement) == ["O-12", "O-13"]


def test_a_word_naming_two_orders_is_a_tie():
    a, b = make("O-12", "20.00"), make("O12", "20.00")
    placement = run(receipt("20.00", remittance="o-12"), a, b)
    assert placement.rule is None and set(suggested(placement)) == {"O-12", "O12"}


def test_an_order_in_another_org_unit_is_not_counted():
    other_unit = make("O-12", "20.00", unit="FDN", customer="C-2")
    placement = run(receipt("20.00", remittance="O-12"), other_unit)
    assert placement.rule is None and placement.customer is None


def test_children_billing_to_the_parent_are_the_parents_orders():
    child = make("O-12", "20.00", customer="K-1", parent="P-1", bills_to_parent=True)
    own = make("O-13", "30.00", customer="P-1")
    placement = run(receipt("50.00", remittance="O-12 O-13"), child, own)
    assert placement.customer == "P-1" and shares(placement) == {"O-12": "20.00", "O-13": "30.00"}
    by_parent = run(receipt("20.00", customer="P-1"), child, own)
    assert (by_parent.rule, shares(by_parent)) == ("exact_amount", {"O-12": "20.00"})
    # A child that does not bill to its parent keeps its orders to itself.
    alone = make("O-14", "20.00", customer="K-2", parent="P-1")
    assert run(receipt("20.00", customer="P-1"), alone).rule is None


def test_a_reference_to_an_order_of_another_customer_than_the_payer_account_s_stops():
    typo = make("O-12", "20.00", customer="C-2")  # the payer meant their own O-21
    placement = run(
        receipt("20.00", remittance="O-12", payer="ACC-1"),
        typo,
        make("O-21", "20.00"),
        payers={"ACC-1": "C-1"},
    )
    assert placement.rule is None and suggested(placement) == ["O-12"]


def test_an_amount_too_long_to_be_one_is_not_read_as_an_amount():
    o12, o13 = make("O-12", "30.00", age=2), make("O-13", "50.00", age=1)
    text = "O-12 99999999999999999999999999.00 O-13 1.00"
    placement = run(receipt("80.00", remittance=text), o12, o13)
    assert shares(placement) == {"O-12": "30.00", "O-13": "50.00"}


# --- rule 3 and rules 4 to 7 ---------------------------------------------------------------------


def test_a_payer_account_identifies_the_customer_then_the_amount_finds_the_order():
    placement = run(
        receipt("45.00", payer="de89-3704 0044"),
        make("O-1", "45.00"),
        make("O-2", "60.00"),
        payers={"DE8937040044": "C-1"},
    )
    assert placement.rule == "payer_account+exact_amount"
    assert placement.references == ("de89-3704 0044", "O-1")
    assert shares(placement) == {"O-1": "45.00"} and placement.customer == "C-1"


def test_an_unknown_payer_account_leaves_the_receipt_unidentified():
    placement = run(receipt("45.00", payer="X1"), make("O-1", "45.00"), payers={"X2": "C-1"})
    assert (placement.rule, placement.customer, placement.shares) == (None, None, ())


def test_two_orders_with_the_amount_are_a_tie_and_no_later_rule_runs():
    a, b = make("O-1", "45.00"), make("O-2", "45.00")
    config = MatchConfig().with_rule("oldest_first", True)
    placement = run(receipt("45.00", customer="C-1"), a, b, config=config)
    assert placement.rule is None and placement.shares == ()
    assert [(s.order, s.reason) for s in placement.suggestions] == [
        ("O-1", "balance 45.00 equals the amount; tied with O-2"),
        ("O-2", "balance 45.00 equals the amount; tied with O-1"),
    ]


def test_the_whole_open_balance_pays_every_open_order():
    orders = [make("O-1", "10.00"), make("O-2", "20.00"), make("O-3", "0.00")]
    placement = run(receipt("30.00", customer="C-1"), *orders)
    assert (placement.rule, shares(placement)) == (
        "whole_balance",
        {"O-1": "10.00", "O-2": "20.00"},
    )


def test_exactly_one_combination_is_applied_and_two_are_a_tie():
    orders = [make("O-1", "10.00"), make("O-2", "25.00"), make("O-3", "40.00")]
    placement = run(receipt("50.00", customer="C-1"), *orders)
    assert (placement.rule, shares(placement)) == ("combination", {"O-1": "10.00", "O-3": "40.00"})
    tied = [*orders, make("O-4", "15.00"), make("O-5", "35.00")]  # 10+40 and 15+35
    placement = run(receipt("50.00", customer="C-1"), *tied)
    assert placement.rule is None and len(placement.suggestions) == 3


def test_the_combination_looks_only_at_the_30_oldest_open_orders():
    old = [make(f"O-{n}", "1000.00", age=100 + n) for n in range(30)]
    young = [make("O-90", "0.01", age=1), make("O-91", "0.02", age=0)]
    assert run(receipt("0.03", customer="C-1"), *old, *young).rule is None
    tied = run(receipt("2000.00", customer="C-1"), *old, *young)  # any two of the old
    assert tied.rule is None and len(tied.suggestions) == 3
    placement = run(receipt("0.03", customer="C-1"), *old[:28], *young)
    assert placement.rule == "combination"


def test_combinations_adding_up_counts_sets_capped_at_two():
    sums = combinations_adding_up([1, 2, 3, 4], 5, 5, range(2, 6))
    assert sums[5].count == 2  # 1+4 and 2+3
    sums = combinations_adding_up([1, 2, 3, 4], 10, 10, range(2, 6))
    assert sums[10].count == 1 and [sorted(w) for w in sums[10].witnesses] == [[0, 1, 2, 3]]
    assert 11 not in combinations_adding_up([5, 6], 11, 10, range(2, 6))


def test_oldest_first_is_off_by_default_and_pays_oldest_first_when_on():
    a, b = make("O-1", "30.00", age=1), make("O-2", "30.00", age=5)
    assert run(receipt("40.00", customer="C-1"), a, b).rule is None
    config = MatchConfig().with_rule("oldest_first", True)
    placement = run(receipt("40.00", customer="C-1"), a, b, config=config)
    assert (placement.rule, shares(placement)) == (
        "oldest_first",
        {"O-2": "30.00", "O-1": "10.00"},
    )


def test_a_rule_turned_off_does_not_run():
    config = MatchConfig().with_rule("exact_amount", False)
    placement = run(receipt("45.00", customer="C-1"), make("O-1", "45.00"), config=config)
    assert placement.rule == "whole_balance"
    config = config.with_rule("whole_balance", False)
    placement = run(receipt("45.00", customer="C-1"), make("O-1", "45.00"), config=config)
    assert placement.rule is None and suggested(placement) == ["O-1"]


def test_orders_in_another_currency_or_org_unit_are_not_the_customers_candidates():
    eur = make("O-1", "45.00", currency="EUR")
    fdn = make("O-2", "45.00", unit="FDN")
    placement = run(receipt("45.00", customer="C-1"), eur, fdn)
    assert placement.rule is None and placement.shares == ()


# --- tolerance -----------------------------------------------------------------------------------


def test_a_short_payment_within_tolerance_is_placed_with_the_shortfall():
    placement = run(
        receipt("99.50", customer="C-1"), make("O-1", "100.00"), config=tolerant("1.00")
    )
    assert placement.rule == "exact_amount"
    assert shares(placement) == {"O-1": "99.50"}
    assert placement.shortfalls == (("O-1", usd("0.50")),)


def test_tolerance_with_a_percentage_needs_both():
    order = make("O-1", "10.00")
    assert run(receipt("9.50", customer="C-1"), order, config=tolerant("1.00", "1")).rule is None
    assert run(receipt("9.95", customer="C-1"), order, config=tolerant("1.00", "1")).rule == (
        "exact_amount"
    )


def test_an_exact_answer_beats_one_within_tolerance_and_two_within_are_a_tie():
    exact, near = make("O-1", "50.00"), make("O-2", "50.40")
    placement = run(receipt("50.00", customer="C-1"), exact, near, config=tolerant("1.00"))
    assert shares(placement) == {"O-1": "50.00"} and placement.shortfalls == ()
    other = make("O-3", "50.70")
    placement = run(receipt("50.00", customer="C-1"), near, other, config=tolerant("1.00"))
    assert placement.rule is None and set(suggested(placement)) == {"O-2", "O-3"}


def test_tolerance_applies_to_named_reference_and_combination_not_whole_balance():
    config = tolerant("0.10")
    named = run(receipt("9.95", order="O-1"), make("O-1", "10.00"), config=config)
    assert (named.rule, named.shortfalls) == ("named", (("O-1", usd("0.05")),))
    ref = run(receipt("9.95", remittance="O-1"), make("O-1", "10.00"), config=config)
    assert (ref.rule, ref.shortfalls) == ("reference", (("O-1", usd("0.05")),))
    combination = run(
        receipt("29.95", customer="C-1"),
        make("O-1", "10.00", age=2),
        make("O-2", "20.00", age=1),
        make("O-3", "50.00"),
        config=config,
    )
    assert combination.rule == "combination"
    assert shares(combination) == {"O-1": "10.00", "O-2": "19.95"}
    assert combination.shortfalls == (("O-2", usd("0.05")),)


def test_a_short_payment_without_tolerance_is_not_placed_by_amount():
    assert run(receipt("99.50", customer="C-1"), make("O-1", "100.00")).rule is None


# --- split lockbox checks ------------------------------------------------------------------------


def test_the_rest_of_a_split_check_is_not_matched():
    a, b = make("O-1", "30.00"), make("O-2", "20.00")
    placement = run(receipt("50.00", orders=(("O-1", "30.00"), ("O-9", "5.00"))), a, b)
    assert (placement.rule, shares(placement)) == ("named", {"O-1": "30.00"})
    assert placement.reasons == ("order O-9 not found",)


def test_a_split_check_pays_only_one_customers_orders():
    mine, theirs = make("O-1", "30.00"), make("O-2", "20.00", customer="C-2")
    placement = run(receipt("50.00", orders=(("O-1", "30.00"), ("O-2", "20.00"))), mine, theirs)
    assert (placement.customer, shares(placement)) == ("C-1", {"O-1": "30.00"})
    assert placement.reasons == ("order O-2 is not one of customer C-1's orders",)
    child = make("O-3", "20.00", customer="K-1", parent="C-1", bills_to_parent=True)
    placement = run(receipt("50.00", orders=(("O-3", "20.00"), ("O-1", "30.00"))), mine, child)
    assert (placement.customer, shares(placement)) == ("C-1", {"O-3": "20.00", "O-1": "30.00"})


# --- the receipt carries it out ------------------------------------------------------------------


def distribute(r: Receipt, *orders: Order, config: MatchConfig | None = None) -> list:
    configs = {"ASSN": config} if config is not None else {}
    return r.distribute(book_of(*orders), UNITS, "ASSN", CALENDAR, configs)


def test_a_receipt_within_tolerance_writes_off_the_shortfall_last_priority_first():
    order = make("O-1", "60.00", "40.00")  # line 2 is paid last
    r = receipt("99.00", customer="C-1")
    journals = distribute(r, order, config=tolerant("1.00"))
    assert [j.type for j in journals] == [TxnType.RECEIPT, TxnType.WRITE_OFF]
    (write_off,) = order.lines[1].write_offs
    assert (write_off.amount, write_off.reason, write_off.automatic) == (
        usd("1.00"),
        Reason.SMALL_BALANCE,
        True,
    )
    assert order.balance.is_zero
    assert (r.status, r.match_rule, r.match_references) == (
        ReceiptStatus.APPLIED,
        "exact_amount",
        ("O-1",),
    )


def test_a_shortfall_that_section_6_refuses_stays_owed_and_the_receipt_is_applied():
    for order in (
        make("O-1", "100.00", customer="K-1", parent="C-1", bills_to_parent=True),
        make("O-1", "100.00", unshipped=True),
    ):
        r = receipt("99.50", order="O-1")
        journals = distribute(r, order, config=tolerant("1.00"))
        assert [j.type for j in journals] == [TxnType.RECEIPT]
        assert order.balance == usd("0.50") and r.status is ReceiptStatus.APPLIED


def test_a_later_overpayment_reverses_an_automatic_write_off():
    order = make("O-1", "100.00")
    distribute(receipt("99.50", order="O-1"), order, config=tolerant("1.00"))
    journals = distribute(receipt("0.50", order="O-1"), order)
    assert [j.type for j in journals] == [TxnType.RECEIPT, TxnType.WRITE_OFF_REVERSAL]


def test_an_unplaced_receipt_keeps_its_suggestions_until_an_operator_applies_it():
    a, b = make("O-1", "45.00"), make("O-2", "45.00")
    r = receipt("45.00", customer="C-1")
    distribute(r, a, b)
    assert r.status is ReceiptStatus.UNAPPLIED and r.match_rule is None
    assert [s.order for s in r.suggestions] == ["O-1", "O-2"]
    r.apply(a, usd("20.00"), usd("45.00"), unapplied_account="2100", posting_date=DAY)
    assert (r.match_rule, r.match_references, len(r.suggestions)) == ("operator", ("O-1",), 2)
    r.apply(b, None, usd("25.00"), unapplied_account="2100", posting_date=DAY)
    assert (r.status, r.match_references, r.suggestions) == (
        ReceiptStatus.APPLIED,
        ("O-1", "O-2"),
        (),
    )


def test_an_operator_application_keeps_the_rule_that_placed_the_first_part():
    o12, o13 = make("O-12", "30.00"), make("O-13", "50.00")
    r = receipt("100.00", remittance="O-12 O-13")
    distribute(r, o12, o13)
    assert (r.status, r.match_rule) == (ReceiptStatus.UNAPPLIED, "reference")
    r.apply(o12, None, usd("20.00"), unapplied_account="2100", posting_date=DAY)
    assert (r.match_rule, r.match_references) == ("reference", ("O-12", "O-13"))


def test_order_keys_ignore_case_separators_and_leading_zeros():
    assert order_key("#o-0012") == order_key("O-12") == "o12"
    assert order_key("INV-0000") == "inv0"


def test_money_received_again_keeps_the_match_of_the_receipt_it_replaces():
    order = make("O-12", "80.00")
    again = receipt("50.00", customer="C-1", remittance="O-12")
    again.match_rule, again.match_references = "reference", ("O-12", "#o-0012")
    distribute(again, order)
    assert (again.status, again.match_rule, again.match_references) == (
        ReceiptStatus.APPLIED,
        "reference",
        ("O-12", "#o-0012"),
    )


def test_only_a_receipt_naming_no_usable_single_order_seeks_a_match():
    found, eur = make("O-1", "10.00"), make("O-2", "10.00", currency="EUR")
    named = {"O-1": found, "O-2": eur}
    assert seeks_match(receipt("10.00"), named)
    assert not seeks_match(receipt("10.00", order="O-1"), named)
    assert seeks_match(receipt("10.00", order="O-9"), named)
    assert seeks_match(receipt("10.00", order="O-2"), named)
    assert seeks_match(receipt("10.00", order="O-1", customer="C-2"), named)
    assert not seeks_match(receipt("10.00", orders=(("O-9", "5.00"), ("O-1", "5.00"))), named)
    assert book_of(found, eur).orders() == [found, eur]


# --- summaries: what the book was not given ------------------------------------------------------


def partial_book(
    read: list[Order], unread: list[Order], ranges: set[tuple[int, int]], last: Order | None
) -> OrderBook:
    """C-1's open orders: ``read`` as summaries, ``unread`` counted but not given; every one up
    to ``last`` by age was read."""
    total = sum(o.balance.minor for o in [*read, *unread])
    summaries = [summary_of(o) for o in read]
    counted = OpenOrders.unread_of(
        len(read) + len(unread), total, "USD", summaries, None if last is None else summary_of(last)
    )
    return OrderBook(
        (), {}, {"C-1"}, summaries=summaries, unread={("C-1", "USD"): counted}, ranges=ranges
    )


def test_an_amount_outside_the_balances_read_asks_for_every_open_order():
    oldest, other = make("O-1", "10.00", age=9), make("O-2", "55.00", age=1)
    book = partial_book([oldest], [other], {(1_000, 1_000)}, last=oldest)
    with pytest.raises(OrdersNeeded) as needed:
        match(receipt("55.00", customer="C-1"), book, MatchConfig(), "ASSN")
    assert needed.value.customers == (("C-1", "USD"),)
    # Read with the balances at the amount, the one order there is picked, as a summary.
    book = partial_book([oldest, other], [make("O-3", "70.00")], {(5_500, 5_500)}, last=oldest)
    placement = match(receipt("55.00", customer="C-1"), book, MatchConfig(), "ASSN")
    assert shares(placement) == {"O-2": "55.00"} and book.missing(["O-2"]) == ["O-2"]


def test_a_whole_balance_the_unread_orders_may_complete_asks_for_them():
    read, unread = make("O-1", "10.00", age=9), make("O-2", "20.00", age=1)
    book = partial_book([read], [unread], {(3_000, 3_000)}, last=read)
    config = MatchConfig().with_rule("exact_amount", False).with_rule("combination", False)
    with pytest.raises(OrdersNeeded):
        match(receipt("30.00", customer="C-1"), book, config, "ASSN")
    # An amount below what was read cannot be the whole balance: the next rules run.
    placement = match(receipt("5.00", customer="C-1"), book, config, "ASSN")
    assert placement.rule is None


def test_a_combination_window_beyond_the_orders_read_asks_for_them(monkeypatch):
    monkeypatch.setattr(matching, "COMBINATION_WINDOW", 2)
    first, second = make("O-1", "10.00", age=9), make("O-2", "20.00", age=8)
    config = MatchConfig().with_rule("exact_amount", False).with_rule("whole_balance", False)
    full = partial_book([first, second], [make("O-3", "40.00", age=1)], set(), last=second)
    placement = match(receipt("30.00", customer="C-1"), full, config, "ASSN")
    assert placement.rule == "combination" and shares(placement) == {"O-1": "10.00", "O-2": "20.00"}
    # Only the oldest read: the window's second order may be one not read.
    short = partial_book([first], [second, make("O-3", "40.00", age=1)], set(), last=first)
    with pytest.raises(OrdersNeeded):
        match(receipt("30.00", customer="C-1"), short, config, "ASSN")


def test_oldest_first_beyond_the_orders_read_asks_for_them():
    first, second = make("O-1", "10.00", age=9), make("O-2", "20.00", age=8)
    config = MatchConfig()
    for rule in ("exact_amount", "whole_balance", "combination"):
        config = config.with_rule(rule, False)
    config = config.with_rule("oldest_first", True)
    book = partial_book([first], [second], set(), last=first)
    assert shares(match(receipt("6.00", customer="C-1"), book, config, "ASSN")) == {"O-1": "6.00"}
    with pytest.raises(OrdersNeeded):
        match(receipt("25.00", customer="C-1"), book, config, "ASSN")


def test_distributing_onto_an_order_held_as_a_summary_asks_for_it_and_changes_nothing():
    held = make("O-7", "40.00")
    book = OrderBook((), {}, {"C-1"}, summaries=[summary_of(held)])
    r = receipt("40.00", customer="C-1")
    with pytest.raises(OrdersNeeded) as needed:
        r.distribute(book, UNITS, "ASSN", CALENDAR, {})
    assert needed.value.numbers == ("O-7",) and r.status is ReceiptStatus.QUEUED
    book.load([held])
    journals = r.distribute(book, UNITS, "ASSN", CALENDAR, {})
    assert r.status is ReceiptStatus.APPLIED and str(held.balance) == "0.00" and journals
