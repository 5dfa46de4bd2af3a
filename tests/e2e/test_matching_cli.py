"""Matching's configuration, payer accounts and the cash-application report through `arledger`,
as an operator types them (docs/rules.md section 14): every refusal exits 2 with one line and
changes nothing, the configuration and the accounts included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.persistence.db import dispose_engines
from tests.support.cli import Cli
from tests.support.paths import SAMPLE

DEFAULTS = {
    "org_unit": "ASSN",
    "rules": {
        "named": True,
        "reference": True,
        "payer_account": True,
        "exact_amount": True,
        "whole_balance": True,
        "combination": True,
        "oldest_first": False,
    },
    "tolerance": {},
}


@pytest.fixture
def cli(loaded, tmp_path: Path) -> Cli:
    """The CLI on a database holding the sample organisation (SQLite, then PostgreSQL)."""
    dispose_engines()
    return Cli(loaded.database_url, tmp_path)


def test_matching_set_changes_the_rules_and_tolerances_it_names(cli: Cli):
    assert cli.json("matching", "show", "ASSN") == DEFAULTS
    changed = cli.json(
        "matching",
        "set",
        "ASSN",
        "--rule",
        "oldest_first=on",
        "--rule",
        "combination=off",
        "--tolerance",
        "USD:0.50:1",
        "--tolerance",
        "EUR:2.00",
    )
    expected = {
        **DEFAULTS,
        "rules": {**DEFAULTS["rules"], "oldest_first": True, "combination": False},
        "tolerance": {
            "EUR": {"amount": "2.00", "percent": None},
            "USD": {"amount": "0.50", "percent": "1"},
        },
    }
    assert changed == expected
    assert cli.json("matching", "show", "ASSN") == expected
    text = cli.run("matching", "show", "ASSN").stdout
    assert "oldest_first" in text and "0.50" in text
    # CUR:off turns a tolerance off; the rest stays as it was.
    after = cli.json("matching", "set", "ASSN", "--tolerance", "EUR:off")
    assert after["tolerance"] == {"USD": {"amount": "0.50", "percent": "1"}}
    assert after["rules"] == expected["rules"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["NOPE", "--rule", "named=off"], "unknown org unit NOPE"),
        (["ASSN", "--rule", "guess=on"], "unknown matching rule 'guess'"),
        (["ASSN", "--rule", "named=yes"], "'yes' is neither on nor off"),
        (["ASSN", "--tolerance", "USD:-0.50"], "must not be negative"),
        (["ASSN", "--tolerance", "USD:0.505"], "more decimal places than USD allows"),
        (["ASSN", "--tolerance", "JPY:1.5"], "more decimal places than JPY allows"),
        (["ASSN", "--tolerance", "XYZ:1.00"], "unknown currency 'XYZ'"),
        # A good option beside a bad one: nothing of either is stored.
        (["ASSN", "--rule", "oldest_first=on", "--tolerance", "USD:1:150"], "between 0 and 100"),
        (["ASSN"], "needs at least one --rule or --tolerance"),
    ],
)
def test_a_wrong_matching_set_is_refused_and_changes_nothing(cli: Cli, args, fragment):
    cli.json("matching", "set", "ASSN", "--tolerance", "USD:0.25")
    before = cli.json("matching", "show", "ASSN")
    line = cli.refused("matching", "set", *args)
    assert line.startswith("arledger: error:") and fragment in line
    assert cli.json("matching", "show", "ASSN") == before


def test_matching_show_of_an_unknown_org_unit_is_refused(cli: Cli):
    assert "unknown org unit NOPE" in cli.refused("matching", "show", "NOPE")


# --- the load file -----------------------------------------------------------------------------


def _file(tmp_path: Path, name: str, **changes: Any) -> str:
    """The sample load file with ``kind__index__key`` fields set."""
    data = json.loads(SAMPLE.read_text())
    for path, value in changes.items():
        kind, index, key = path.split("__")
        data[kind][int(index)][key] = value
    target = tmp_path / f"{name}.json"
    target.write_text(json.dumps(data))
    return str(target)


def test_a_load_file_registers_payer_accounts_and_configures_matching_once(
    cli: Cli, tmp_path: Path
):
    matching = {
        "rules": {"oldest_first": True},
        "tolerance": {"USD": {"amount": "0.50", "percent": "1"}},
    }
    path = _file(
        tmp_path,
        "payers",
        org_units__0__matching=matching,
        customers__0__payer_accounts=["021000021 1234-5678", "DE89 3704 0044"],
        customers__1__payer_accounts=["99-99"],
    )
    first = cli.json("load", path)
    assert first["created"] == {"payer_accounts": 3}
    assert first["updated"] == {"org_units": 1}
    shown = cli.json("matching", "show", "ASSN")
    assert shown["rules"]["oldest_first"] is True
    assert shown["tolerance"] == {"USD": {"amount": "0.50", "percent": "1"}}
    again = cli.json("load", path)  # an upsert: the same file again changes nothing
    assert (again["created"], again["updated"]) == ({}, {})
    assert again["unchanged"]["payer_accounts"] == 3 and again["unchanged"]["org_units"] == 1
    # A file that says nothing of matching leaves the configuration as it was.
    cli.json("matching", "set", "ASSN", "--rule", "reference=off")
    plain = cli.json("load", str(SAMPLE))
    assert plain["updated"] == {}
    assert cli.json("matching", "show", "ASSN")["rules"]["reference"] is False


def test_a_wrong_load_file_is_refused_naming_the_field_and_loads_nothing(cli: Cli, tmp_path: Path):
    cli.json("load", _file(tmp_path, "mine", customers__0__payer_accounts=["1234-5678"]))
    cases = {
        "taken": (
            {"customers__1__payer_accounts": ["12345678"], "customers__2__name": "Renamed"},
            "customer C-2: payer account 12345678 is already registered to customer C-1",
        ),
        "twice": (
            {"customers__1__payer_accounts": ["55"], "customers__2__payer_accounts": ["5-5"]},
            "payer account 55 is listed for both C-2 and C-3",
        ),
        "twice in one": (
            {"customers__1__payer_accounts": ["55", "5 5"]},
            "customers[1].payer_accounts: payer account 55 appears twice",
        ),
        "rule": (
            {"org_units__0__matching": {"rules": {"guess": True}}},
            "org_units[0].matching: unknown matching rule 'guess'",
        ),
        "negative": (
            {"org_units__0__matching": {"tolerance": {"USD": {"amount": "-0.50"}}}},
            "org_units[0].matching: tolerance for USD must not be negative",
        ),
        "precise": (
            {"org_units__0__matching": {"tolerance": {"USD": {"amount": "0.501"}}}},
            "org_units[0].matching: amount 0.501 has more decimal places than USD allows",
        ),
    }
    for name, (changes, fragment) in cases.items():
        line = cli.refused("load", _file(tmp_path, name.replace(" ", "_"), **changes))
        assert fragment in line, (name, line)
    assert cli.json("matching", "show", "ASSN") == DEFAULTS


# --- the cash-application report ---------------------------------------------------------------


def _submit(cli: Cli, key: str, amount: str, day: str, *extra: str) -> dict[str, Any]:
    result = cli.json(
        "receipt", "submit", "--amount", amount, "--external-id", key, "--date", day, *extra
    )
    assert isinstance(result, dict)
    return result


def test_the_cash_application_report_counts_receipts_by_received_date(cli: Cli):
    _submit(cli, "R-1", "100.00", "2026-11-05", "--order", "O-100")
    waiting = _submit(cli, "R-2", "7.77", "2026-11-06", "--order", "O-999", "--customer", "C-2")
    by_hand = _submit(cli, "R-3", "60.00", "2026-11-07", "--order", "O-999", "--customer", "C-2")
    cli.json("receipt", "apply", str(by_hand["id"]), "--order", "O-101")
    _submit(cli, "R-4", "10.00", "2026-12-02", "--order", "O-100")
    assert waiting["status"] == "unapplied"

    november = cli.json("report", "cash-application", "--from", "2026-11-01", "--to", "2026-11-30")
    assert isinstance(november, dict)
    assert list(november) == [
        "receipts",
        "applied_automatically",
        "applied_by_operator",
        "unapplied",
        "automatic_rate",
        "by_rule",
        "by_source",
    ]
    assert november == {
        "receipts": 3,
        "applied_automatically": 1,  # R-1, by the order it names
        "applied_by_operator": 1,  # R-3, applied by hand
        "unapplied": 1,  # no order, nothing matches 7.77
        "automatic_rate": "0.3333",
        "by_rule": {
            "named": {"receipts": 1, "amount": "100.00"},
            "none": {"receipts": 1, "amount": "7.77"},
            "operator": {"receipts": 1, "amount": "60.00"},
        },
        "by_source": {"operator": {"receipts": 3, "amount": "167.77"}},
    }

    december = cli.json("report", "cash-application", "--from", "2026-12-01")
    assert isinstance(december, dict)
    assert december["receipts"] == 1 and december["by_source"]["operator"]["amount"] == "10.00"
    everything = cli.json("report", "cash-application")
    assert isinstance(everything, dict) and everything["receipts"] == 4
    text = cli.run("report", "cash-application").stdout
    assert "automatic rate" in text and "by source" in text
    assert "--to 2026-11-01 is before --from 2026-11-30" in cli.refused(
        "report", "cash-application", "--from", "2026-11-30", "--to", "2026-11-01"
    )
    assert "is not a date" in cli.refused("report", "cash-application", "--from", "November")
