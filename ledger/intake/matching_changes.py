"""The options of `arledger matching set`, checked and turned into one change of a configuration.

``--rule NAME=on|off`` and ``--tolerance CUR:AMOUNT[:PERCENT]`` or ``CUR:off`` (docs/rules.md
section 14), each repeatable. Every option is checked before anything is stored: an unknown rule,
a value other than on or off, an unknown currency, a negative tolerance or one with more
decimals than its currency refuses the whole command.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ledger.domain.errors import InputRefused, InvalidInput
from ledger.domain.matching_config import MatchConfig, Tolerance, check_rule, parse_tolerance

_SWITCH = {"on": True, "off": False}
_T = TypeVar("_T")


@dataclass(frozen=True)
class MatchingChange:
    """Rules to turn on or off, tolerances to set (or, with None, to turn off)."""

    rules: tuple[tuple[str, bool], ...] = ()
    tolerances: tuple[tuple[str, Tolerance | None], ...] = ()

    def applied_to(self, config: MatchConfig) -> MatchConfig:
        for rule, on in self.rules:
            config = config.with_rule(rule, on)
        for currency, tolerance in self.tolerances:
            config = config.with_tolerance(currency, tolerance)
        return config


def parse_changes(rules: Sequence[str], tolerances: Sequence[str]) -> MatchingChange:
    """The change the options ask for; InvalidInput naming the first option that is wrong."""
    if not rules and not tolerances:
        raise InvalidInput("matching set needs at least one --rule or --tolerance")
    return MatchingChange(
        tuple(_unique("--rule", [_named("--rule", parse_rule, option) for option in rules])),
        tuple(
            _unique(
                "--tolerance",
                [_named("--tolerance", parse_tolerance_option, option) for option in tolerances],
            )
        ),
    )


def _named(option: str, parse: Callable[[str], _T], value: str) -> _T:
    """``parse(value)``, a refusal naming the option as the operator typed it."""
    try:
        return parse(value)
    except InputRefused as exc:
        if exc.message.startswith(option):
            raise
        raise InvalidInput(f"{option} {value!r}: {exc.message}", field=exc.field) from None


def parse_rule(option: str) -> tuple[str, bool]:
    """``NAME=on`` or ``NAME=off``."""
    name, equals, value = option.partition("=")
    if not equals:
        raise InvalidInput(f"--rule {option!r}: expected NAME=on or NAME=off", field="rule")
    check_rule(name.strip())
    switch = _SWITCH.get(value.strip().lower())
    if switch is None:
        raise InvalidInput(f"--rule {option!r}: {value!r} is neither on nor off", field="rule")
    return name.strip(), switch


def parse_tolerance_option(option: str) -> tuple[str, Tolerance | None]:
    """``CUR:AMOUNT``, ``CUR:AMOUNT:PERCENT`` or ``CUR:off``."""
    parts = option.split(":")
    if len(parts) not in (2, 3) or not all(part.strip() for part in parts):
        raise InvalidInput(
            f"--tolerance {option!r}: expected CUR:AMOUNT, CUR:AMOUNT:PERCENT or CUR:off",
            field="tolerance",
        )
    currency = parts[0].strip()
    if len(parts) == 2 and parts[1].strip().lower() == "off":
        parse_tolerance(currency, "0")  # an unknown currency is refused here too
        return currency, None
    percent = parts[2].strip() if len(parts) == 3 else None
    return currency, parse_tolerance(currency, parts[1].strip(), percent)


def _unique(option: str, changes: list[tuple[str, _T]]) -> list[tuple[str, _T]]:
    seen: set[str] = set()
    for name, _ in changes:
        if name in seen:
            raise InvalidInput(f"{option} {name} is given twice", field=option.lstrip("-"))
        seen.add(name)
    return changes
