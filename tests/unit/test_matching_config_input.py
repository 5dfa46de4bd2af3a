"""The matching configuration as operators and load files give it (docs/rules.md section 14):
`matching set` options, the load file's ``org_units[].matching`` and ``customers[].payer_accounts``,
and the stored JSON text. Each refusal names what is wrong; nothing here touches a database."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from ledger.domain.errors import InputRefused
from ledger.domain.matching_config import MatchConfig, Tolerance
from ledger.domain.money import Money
from ledger.intake.inputs import validate_load_file
from ledger.intake.matching_changes import parse_changes
from ledger.persistence.matching import config_of, stored_form
from tests.support.factories import usd
from tests.support.paths import SAMPLE


def test_rule_and_tolerance_options_change_only_what_they_name():
    change = parse_changes(
        ["oldest_first=on", "combination=OFF"], ["USD:0.50", "EUR:1.00:2.5", "JPY:off"]
    )
    before = MatchConfig().with_tolerance("JPY", Tolerance(Money.parse("5", "JPY")))
    after = change.applied_to(before)
    assert after.enabled("oldest_first") and not after.enabled("combination")
    assert after.enabled("named") and after.enabled("exact_amount")
    assert after.tolerance("USD") == Tolerance(usd("0.50"))
    eur = after.tolerance("EUR")
    assert eur is not None and (str(eur.amount), eur.percent) == ("1.00", Decimal("2.5"))
    assert after.tolerance("JPY") is None


@pytest.mark.parametrize(
    ("rules", "tolerances", "fragment"),
    [
        ([], [], "needs at least one --rule or --tolerance"),
        (["nonsense=on"], [], "unknown matching rule 'nonsense'"),
        (["named"], [], "expected NAME=on or NAME=off"),
        (["named=maybe"], [], "'maybe' is neither on nor off"),
        (["named=on", "named=off"], [], "--rule named is given twice"),
        ([], ["USD"], "expected CUR:AMOUNT"),
        ([], ["USD:1:2:3"], "expected CUR:AMOUNT"),
        ([], ["USD:-0.50"], "must not be negative"),
        ([], ["USD:0.005"], "more decimal places than USD allows"),
        ([], ["JPY:0.5"], "more decimal places than JPY allows"),
        ([], ["XXX:1.00"], "unknown currency 'XXX'"),
        ([], ["XXX:off"], "unknown currency 'XXX'"),
        ([], ["USD:1.00:101"], "between 0 and 100"),
        ([], ["USD:1e2"], "--tolerance 'USD:1e2'"),
        ([], ["USD:1.00", "USD:off"], "--tolerance USD is given twice"),
    ],
)
def test_a_wrong_option_is_refused_naming_it(rules, tolerances, fragment):
    with pytest.raises(InputRefused) as refused:
        parse_changes(rules, tolerances)
    assert fragment in refused.value.message
    assert refused.value.exit_code == 2


def _sample(**changes: Any) -> dict[str, Any]:
    data = json.loads(SAMPLE.read_text())
    for unit in data["org_units"]:
        unit.pop("matching", None)
    for customer in data["customers"]:
        customer.pop("payer_accounts", None)
    for path, value in changes.items():
        kind, index, key = path.split("__")
        data[kind][int(index)][key] = value
    return data


def _load(data: dict[str, Any]):
    return validate_load_file(json.dumps(data))


def test_a_load_file_gives_each_org_unit_its_configuration():
    loaded = _load(
        _sample(
            org_units__0__matching={
                "rules": {"oldest_first": True, "reference": False},
                "tolerance": {"USD": {"amount": "0.50", "percent": "1"}},
            }
        )
    )
    config = loaded.org_units[0].matching
    assert config is not None
    assert config.enabled("oldest_first") and not config.enabled("reference")
    assert config.tolerance("USD") == Tolerance(usd("0.50"), Decimal("1"))
    # Without the block the org unit keeps what it has: the file says nothing about it.
    assert _load(_sample()).org_units[0].matching is None


@pytest.mark.parametrize(
    ("matching", "fragment"),
    [
        ({"rules": {"guess": True}}, "unknown matching rule 'guess'"),
        ({"rules": {"named": "yes"}}, "must be true or false"),
        ({"tolerance": {"USD": {"amount": "-1.00"}}}, "must not be negative"),
        ({"tolerance": {"USD": {"amount": "0.505"}}}, "more decimal places than USD allows"),
        ({"tolerance": {"USD": {"amount": 0.5}}}, "decimal string"),
        ({"tolerance": {"ZZZ": {"amount": "1"}}}, "unknown currency 'ZZZ'"),
        ({"tolerance": {"USD": {"percent": "1"}}}, "must be an object with amount"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_a_wrong_matching_block_refuses_the_file_naming_the_org_unit(matching, fragment):
    with pytest.raises(InputRefused) as refused:
        _load(_sample(org_units__0__matching=matching))
    assert refused.value.message.startswith("load file: org_units[0].matching: ")
    assert fragment in refused.value.message


def test_payer_accounts_are_normalised_and_kept_once():
    loaded = _load(_sample(customers__0__payer_accounts=[" de89 3704-0044 ", "021000021/77"]))
    assert loaded.customers[0].payer_accounts == ["DE8937040044", "021000021/77"]
    assert _load(_sample()).customers[0].payer_accounts == []


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        (
            {"customers__0__payer_accounts": ["DE89 3704", "de893704"]},
            "customers[0].payer_accounts: payer account DE893704 appears twice",
        ),
        (
            {"customers__0__payer_accounts": ["12-34"], "customers__1__payer_accounts": ["1234"]},
            "payer account 1234 is listed for both C-1 and C-2",
        ),
        ({"customers__0__payer_accounts": [" - "]}, "must be 1 to 100 printable characters"),
        ({"customers__0__payer_accounts": ["9" * 101]}, "must be 1 to 100 printable characters"),
        ({"customers__0__payer_accounts": "1234"}, "must be a list of account strings"),
    ],
)
def test_a_wrong_payer_account_refuses_the_file(changes, fragment):
    with pytest.raises(InputRefused) as refused:
        _load(_sample(**changes))
    assert fragment in refused.value.message


def test_the_stored_text_is_canonical_and_null_for_the_defaults():
    assert stored_form(MatchConfig()) is None
    assert stored_form(MatchConfig().with_rule("named", True)) is None
    assert config_of(None) == MatchConfig()
    config = (
        MatchConfig()
        .with_tolerance("USD", Tolerance(usd("0.50"), Decimal("1")))
        .with_tolerance("EUR", Tolerance(Money.parse("2.00", "EUR")))
        .with_rule("oldest_first", True)
    )
    text = stored_form(config)
    assert text is not None
    assert config_of(text).to_json() == config.to_json()
    # Built in another order, the same configuration is the same text: a reload compares equal.
    again = (
        MatchConfig()
        .with_rule("oldest_first", True)
        .with_tolerance("EUR", config.tolerances["EUR"])
        .with_tolerance("USD", config.tolerances["USD"])
    )
    assert stored_form(again) == text
