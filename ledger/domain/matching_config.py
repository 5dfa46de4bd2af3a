"""An org unit's matching configuration: which rules run, and the tolerance for short payments.

docs/rules.md section 14. Each rule is on or off per org unit (defaults below); a tolerance is
set per currency as an amount and optionally a percentage, and is off until set. The JSON form
(:meth:`MatchConfig.to_json` / :meth:`MatchConfig.from_json`) is what the load file's
``org_units[].matching`` holds and what the org unit row stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from ledger.domain.errors import InvalidInput
from ledger.domain.money import Money, currency_decimals, parse_decimal

# The rules in the order they run, and whether each is on by default.
DEFAULT_RULES: Mapping[str, bool] = {
    "named": True,
    "reference": True,
    "payer_account": True,
    "exact_amount": True,
    "whole_balance": True,
    "combination": True,
    "oldest_first": False,
}
RULES: tuple[str, ...] = tuple(DEFAULT_RULES)


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How short a payment may be and still be applied, the rest written off: at most
    ``amount``, and when ``percent`` is set also at most that share of the balance paid."""

    amount: Money
    percent: Decimal | None = None

    def allows(self, shortfall: Money, balance: Money) -> bool:
        """Whether ``shortfall`` on orders whose balance is ``balance`` is within tolerance."""
        if shortfall > self.amount:
            return False
        if self.percent is None:
            return True
        return shortfall.amount * 100 <= balance.amount * self.percent

    def to_json(self) -> dict[str, str | None]:
        return {
            "amount": str(self.amount),
            "percent": None if self.percent is None else str(self.percent),
        }


@dataclass(frozen=True, slots=True)
class MatchConfig:
    """One org unit's rules (name -> on) and tolerances (currency -> Tolerance)."""

    rules: Mapping[str, bool] = field(default_factory=lambda: dict(DEFAULT_RULES))
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)

    def enabled(self, rule: str) -> bool:
        return self.rules.get(rule, DEFAULT_RULES[rule])

    def tolerance(self, currency: str) -> Tolerance | None:
        return self.tolerances.get(currency)

    def with_rule(self, rule: str, on: bool) -> MatchConfig:
        check_rule(rule)
        return replace(self, rules={**self.rules, rule: on})

    def with_tolerance(self, currency: str, tolerance: Tolerance | None) -> MatchConfig:
        tolerances = dict(self.tolerances)
        if tolerance is None:
            tolerances.pop(currency, None)
        else:
            tolerances[currency] = tolerance
        return replace(self, tolerances=tolerances)

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": {rule: self.enabled(rule) for rule in RULES},
            "tolerance": {
                currency: tolerance.to_json()
                for currency, tolerance in sorted(self.tolerances.items())
            },
        }

    @classmethod
    def from_json(cls, data: object) -> MatchConfig:
        """A configuration from its JSON form; missing rules take their defaults. Raises
        InvalidInput naming the first thing wrong."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidInput(
                "matching must be an object with rules and tolerance", field="matching"
            )
        unknown = set(data) - {"rules", "tolerance"}
        if unknown:
            raise InvalidInput(
                f"matching has unknown field {sorted(unknown)[0]!r}: expected rules, tolerance",
                field="matching",
            )
        config = cls()
        rules = data.get("rules") or {}
        if not isinstance(rules, Mapping):
            raise InvalidInput(
                "matching.rules must be an object of NAME: true|false", field="matching"
            )
        for rule, on in rules.items():
            if not isinstance(on, bool):
                raise InvalidInput(
                    f"matching rule {rule} must be true or false, not {on!r}", field="matching"
                )
            config = config.with_rule(rule, on)
        tolerances = data.get("tolerance") or {}
        if not isinstance(tolerances, Mapping):
            raise InvalidInput(
                "matching.tolerance must be an object of CUR: {amount, percent}", field="matching"
            )
        for currency, spec in tolerances.items():
            if not isinstance(spec, Mapping) or "amount" not in spec:
                raise InvalidInput(
                    f"tolerance for {currency} must be an object with amount (and percent)",
                    field="matching",
                )
            config = config.with_tolerance(
                currency, parse_tolerance(currency, spec["amount"], spec.get("percent"))
            )
        return config


def check_rule(rule: str) -> None:
    if rule not in DEFAULT_RULES:
        raise InvalidInput(
            f"unknown matching rule {rule!r}: must be one of {', '.join(RULES)}", field="rule"
        )


def parse_tolerance(currency: str, amount: object, percent: object = None) -> Tolerance:
    """A tolerance from its text form; refuses an unknown currency, a negative amount or one
    with more decimals than the currency has, and a percentage outside 0–100."""
    currency_decimals(currency)  # UnknownCurrency for a code that is not one
    money = Money.parse(amount, currency, what=f"tolerance for {currency}")
    if money.amount < 0:
        raise InvalidInput(
            f"tolerance for {currency} must not be negative: {money}", field="tolerance"
        )
    share: Decimal | None = None
    if percent is not None:
        share = parse_decimal(percent, what=f"tolerance percent for {currency}")
        if not Decimal(0) <= share <= Decimal(100):
            raise InvalidInput(
                f"tolerance percent for {currency} must be between 0 and 100: {percent}",
                field="tolerance",
            )
    return Tolerance(money, share)
