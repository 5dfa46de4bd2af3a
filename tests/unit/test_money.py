"""docs/rules.md section 1: money is exact, carries its currency, and refuses floats and extra decimals."""

from decimal import Decimal

import pytest

from ledger.domain.errors import (
    AmountNotADecimalString,
    AmountTooLarge,
    AmountTooPrecise,
    CurrencyMismatch,
    UnknownCurrency,
)
from ledger.domain.money import Money, currency_decimals


def test_minor_units_come_from_the_currency():
    assert (currency_decimals("USD"), currency_decimals("JPY"), currency_decimals("KWD")) == (
        2,
        0,
        3,
    )
    assert Money.parse("12.50", "USD").minor == 1250
    assert Money.parse("1250", "JPY").minor == 1250
    assert Money.parse("1.250", "KWD").minor == 1250


def test_amounts_round_trip_through_minor_units_exactly():
    for currency in ("USD", "JPY", "KWD"):
        for minor in (0, 1, 7, 99, 100, 123456789, -5):
            assert Money.from_minor(minor, currency).minor == minor


def test_output_amounts_carry_exactly_the_currency_decimals():
    assert str(Money.parse("12.5", "USD")) == "12.50"
    assert str(Money.parse("3", "KWD")) == "3.000"
    assert str(Money.parse("7", "JPY")) == "7"


@pytest.mark.parametrize(
    ("text", "currency"), [("12.505", "USD"), ("12.500", "USD"), ("1.5", "JPY"), ("0.0001", "KWD")]
)
def test_more_decimal_places_than_the_currency_allows_is_rejected_not_rounded(text, currency):
    with pytest.raises(AmountTooPrecise, match="more decimal places"):
        Money.parse(text, currency)


@pytest.mark.parametrize("value", [1.5, 12, True, None, Decimal("1.5")])
def test_a_non_string_amount_is_refused_at_parse(value):
    with pytest.raises(AmountNotADecimalString):
        Money.parse(value, "USD")


def test_a_float_is_refused_when_building_money():
    with pytest.raises(AmountNotADecimalString, match="float"):
        Money(1.5, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["1e3", "1E-2", "NaN", "Infinity", " 1", "1,000.00", "+1", "", ".5", "5."]
)
def test_exponents_and_junk_are_not_amounts(text):
    with pytest.raises(AmountNotADecimalString):
        Money.parse(text, "USD")


@pytest.mark.parametrize("code", ["usd", "US", "XAU", "XXX", "ZZZ", "", 840])
def test_unknown_currencies_are_refused(code):
    with pytest.raises(UnknownCurrency):
        Money.parse("1", code)


def test_mixing_currencies_raises():
    with pytest.raises(CurrencyMismatch):
        Money.parse("1", "USD") + Money.parse("1", "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = Money.parse("1", "USD") < Money.parse("1", "EUR")


def test_absurdly_large_amounts_are_refused():
    with pytest.raises(AmountTooLarge):
        Money.parse("1" + "0" * 20, "USD")


def test_arithmetic_is_exact():
    total = Money.zero("USD")
    for _ in range(10):
        total += Money.parse("0.10", "USD")
    assert total == Money.parse("1.00", "USD")
    assert (Money.parse("0.30", "USD") - Money.parse("0.10", "USD")).minor == 20
