"""Money: an immutable Decimal amount with its ISO 4217 currency (docs/rules.md section 1).

Amounts are exact. A float is refused wherever an amount is built, an amount with more decimal
places than its currency allows is refused (never rounded), and arithmetic across currencies
raises. Integer minor units appear only at the storage and wire boundaries (:meth:`Money.minor`,
:meth:`Money.from_minor`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from iso4217 import Currency

from ledger.domain.errors import (
    AmountNotADecimalString,
    AmountTooLarge,
    AmountTooPrecise,
    CurrencyMismatch,
    UnknownCurrency,
)

# A plain decimal literal: optional sign, digits, optional fraction. No exponent, no spaces,
# no thousands separators, no "NaN"/"Infinity": anything else is not an amount.
_DECIMAL_LITERAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
# Minor units are stored as 64-bit integers; 10**17 leaves room to sum many of them.
_MAX_MINOR_DIGITS = 17
_MAX_LITERAL_LENGTH = 40
_MINOR_LIMIT = 10**_MAX_MINOR_DIGITS
_QUANTUM = tuple(Decimal(1).scaleb(-places) for places in range(5))


@cache
def currency_decimals(code: str) -> int:
    """Number of minor-unit digits of an ISO 4217 currency (USD 2, JPY 0, KWD 3).

    Raises UnknownCurrency for a code that is not an ISO 4217 currency with minor units (funds,
    precious metals and test codes have none and cannot carry order amounts).
    """
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha() or not code.isupper():
        raise UnknownCurrency(code)
    try:
        exponent = Currency(code).exponent
    except ValueError:
        raise UnknownCurrency(code) from None
    if exponent is None:
        raise UnknownCurrency(code)
    return int(exponent)


def parse_decimal(text: object, *, what: str = "amount") -> Decimal:
    """Read a decimal amount from its string form, refusing floats, exponents and junk."""
    if not isinstance(text, str):
        raise AmountNotADecimalString(what, text)
    if len(text) > _MAX_LITERAL_LENGTH or _DECIMAL_LITERAL.fullmatch(text) is None:
        raise AmountNotADecimalString(what, text)
    return Decimal(text)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in one currency. Negative amounts exist (balances); receipts are positive."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or isinstance(self.amount, bool):
            # A float here is the bug this class exists to stop.
            raise AmountNotADecimalString("amount", self.amount)
        if not self.amount.is_finite():
            raise AmountNotADecimalString("amount", str(self.amount))
        places = currency_decimals(self.currency)
        quantum = _QUANTUM[places] if places < len(_QUANTUM) else Decimal(1).scaleb(-places)
        exact = self.amount.quantize(quantum)
        if exact != self.amount:
            raise AmountTooPrecise(self.amount, self.currency, places)
        if exact.adjusted() + places >= _MAX_MINOR_DIGITS:
            raise AmountTooLarge(self.amount, self.currency)
        # Normalise the exponent so that equal amounts print alike ("12.5" and "12.50").
        object.__setattr__(self, "amount", exact)

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: object, currency: str, *, what: str = "amount") -> Money:
        """Money from a decimal string such as ``"12.50"``; floats and exponents are refused.

        The string may not carry more decimal places than the currency has, even as trailing
        zeros: "12.500" for USD is refused like "12.505", because a clerk who typed three places
        meant something this currency cannot hold.
        """
        value = parse_decimal(text, what=what)
        places = currency_decimals(currency)
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        if -exponent > places:
            raise AmountTooPrecise(str(text), currency, places)
        return cls(value, currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        """Money from integer minor units, as stored in the database."""
        if not isinstance(minor, int) or isinstance(minor, bool):
            raise AmountNotADecimalString("minor units", minor)
        places = currency_decimals(currency)
        if abs(minor) >= _MINOR_LIMIT:
            raise AmountTooLarge(minor, currency)
        # Exact by construction (an integer scaled by the currency's own exponent).
        return cls._exact(Decimal(minor).scaleb(-places), currency)

    @classmethod
    def _exact(cls, amount: Decimal, currency: str) -> Money:
        """Money from an amount already exact in a known currency: skips re-validation on the hot
        path. Only for values built from validated Money (sums, differences, minor units)."""
        money = object.__new__(cls)
        object.__setattr__(money, "amount", amount)
        object.__setattr__(money, "currency", currency)
        return money

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls.from_minor(0, currency)

    # --- conversion ---------------------------------------------------------------------------

    @property
    def minor(self) -> int:
        """The amount in integer minor units (cents for USD)."""
        return int(self.amount.scaleb(currency_decimals(self.currency)))

    def __str__(self) -> str:
        """The amount with exactly the currency's decimals, as the JSON output carries it."""
        return f"{self.amount:f}"

    def __repr__(self) -> str:
        return f"Money('{self}', '{self.currency}')"

    def display(self) -> str:
        return f"{self} {self.currency}"

    # --- arithmetic ---------------------------------------------------------------------------

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    # Sums and differences of amounts exact in one currency are exact in it: no re-validation.

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money._exact(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money._exact(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money._exact(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money._exact(abs(self.amount), self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def min(self, other: Money) -> Money:
        return self if self <= other else other

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    @property
    def is_positive(self) -> bool:
        return self.amount > 0


def format_minor(minor: int, currency: str) -> str:
    """Integer minor units as the JSON output carries them ("12.50"), without building Money:
    the publisher formats hundreds of thousands of amounts, half of them zero."""
    if minor == 0:
        return _zero_text(currency)
    places = currency_decimals(currency)
    whole, part = divmod(abs(minor), 10**places)
    sign = "-" if minor < 0 else ""
    return f"{sign}{whole}.{part:0{places}d}" if places else f"{sign}{whole}"


@cache
def _zero_text(currency: str) -> str:
    places = currency_decimals(currency)
    return "0." + "0" * places if places else "0"
