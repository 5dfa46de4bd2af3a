"""Matching's repository and the cash-application report's query, on SQLite and PostgreSQL.

The configurations and payer accounts read back as written, an account is never moved to another
customer, and the report counts each receipt once by how it ended (docs/rules.md section 14).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import update

from config.settings import Settings
from ledger.domain.errors import UnknownOrgUnit
from ledger.domain.matching_config import MatchConfig, Tolerance
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.persistence.db import connect
from ledger.persistence.tables import ORG_UNITS, RECEIPTS
from ledger.persistence.unit_of_work import UnitOfWork, reading
from ledger.queries.matching import cash_application_report
from tests.support.factories import usd


def test_an_org_unit_has_the_defaults_until_its_configuration_is_set(loaded: Settings) -> None:
    changed = (
        MatchConfig()
        .with_rule("oldest_first", True)
        .with_rule("combination", False)
        .with_tolerance("USD", Tolerance(usd("0.50"), Decimal("1")))
    )
    with UnitOfWork(loaded.database_url) as uow:
        assert uow.matching.configs() == {"ASSN": MatchConfig()}
        assert uow.matching.config("ASSN") == MatchConfig()
        uow.matching.set_config("ASSN", changed)
        uow.commit()
    with reading(loaded.database_url) as uow:
        assert uow.matching.config("ASSN").to_json() == changed.to_json()
        assert {code: c.to_json() for code, c in uow.matching.configs().items()} == {
            "ASSN": changed.to_json()
        }
    with UnitOfWork(loaded.database_url) as uow:
        uow.matching.set_config("ASSN", MatchConfig())  # back to the defaults: stored as NULL
        uow.commit()
        stored = uow.session.execute(
            ORG_UNITS.select().with_only_columns(ORG_UNITS.c.matching)
        ).scalar_one()
        assert stored is None


def test_an_unknown_org_unit_has_no_configuration_to_read_or_set(loaded: Settings) -> None:
    with UnitOfWork(loaded.database_url) as uow:
        with pytest.raises(UnknownOrgUnit):
            uow.matching.config("NOPE")
        with pytest.raises(UnknownOrgUnit):
            uow.matching.set_config("NOPE", MatchConfig())


def test_a_payer_account_is_registered_once_and_never_moved(loaded: Settings) -> None:
    with UnitOfWork(loaded.database_url) as uow:
        assert uow.matching.register_payer("DE893704", "C-1") == "C-1"
        assert uow.matching.register_payer("DE893704", "C-1") == "C-1"  # again: no change
        assert uow.matching.register_payer("DE893704", "C-2") == "C-1"  # someone else's already
        assert uow.matching.register_payer("02100002177", "C-2") == "C-2"
        # A customer the ledger does not know gets nothing, and the transaction goes on.
        assert uow.matching.register_payer("FREE", "C-NOBODY") is None
        uow.matching.add_payers({"111": "C-1"})
        uow.commit()
    with reading(loaded.database_url) as uow:
        assert uow.matching.payer_customers(["DE893704", "02100002177", "FREE", "UNKNOWN"]) == {
            "DE893704": "C-1",
            "02100002177": "C-2",
        }
        assert uow.matching.payer_customers([]) == {}
        # Beside the sample's own accounts, one each for C-1 and C-2.
        assert uow.matching.customers_payer_accounts({"C-1", "C-2", "C-3"}) == {
            "C-1": ["02100002144556677", "111", "DE893704"],
            "C-2": ["02100002177", "GB29NWBK60161331926819"],
        }
        assert uow.matching.customers_payer_accounts([]) == {}


# --- the cash-application report ---------------------------------------------------------------


def _receipt(
    uow: UnitOfWork,
    key: str,
    amount: str,
    *,
    status: str,
    rule: str | None,
    source: str = "operator",
    currency: str = "USD",
    day: date = date(2026, 11, 5),
    replaces: int | None = None,
) -> int:
    """A receipt row as distribution leaves it: inserted by the repository, then given the
    status and rule a distribution would have written."""
    request = ReceiptRequest(
        source, key, Money.parse(amount, currency), day, customer="C-1", replaces=replaces
    )
    receipt_id = uow.receipts.add_operator(request)
    assert receipt_id is not None
    uow.session.execute(
        update(RECEIPTS)
        .where(RECEIPTS.c.id == receipt_id)
        .values(status=status, match_rule=rule, replaces_id=replaces)
    )
    return receipt_id


def test_the_report_counts_each_receipt_once_by_how_it_ended(loaded: Settings) -> None:
    with UnitOfWork(loaded.database_url) as uow:
        _receipt(uow, "named", "10.00", status="applied", rule="named")
        _receipt(uow, "exact", "20.00", status="applied", rule="payer_account+exact_amount")
        _receipt(uow, "euro", "5.00", status="applied", rule="named", currency="EUR")
        _receipt(uow, "by-hand", "30.00", status="applied", rule="operator", source="lockbox")
        _receipt(uow, "rest", "40.00", status="unapplied", rule="oldest_first")
        _receipt(uow, "nobody", "50.00", status="unidentified", rule=None, source="gateway")
        _receipt(uow, "waiting", "1.00", status="queued", rule=None)
        _receipt(uow, "failed", "2.00", status="failed", rule=None)
        _receipt(uow, "returned", "3.00", status="reversed", rule="named")
        # Partly refunded: reversed, its rest received again (twice over) with its match.
        first = _receipt(uow, "refunded", "60.00", status="reversed", rule="reference")
        second = _receipt(
            uow, "refunded:rest", "45.00", status="reversed", rule="reference", replaces=first
        )
        _receipt(
            uow,
            "refunded:rest2",
            "15.00",
            status="applied",
            rule="reference",
            replaces=second,
            day=date(2026, 12, 20),
        )
        _receipt(uow, "later", "70.00", status="applied", rule="named", day=date(2026, 12, 1))
        uow.commit()

    with connect(loaded.database_url) as connection:
        november = cash_application_report(connection, date(2026, 11, 1), date(2026, 11, 30))
        everything = cash_application_report(connection)
        empty = cash_application_report(connection, date(2027, 1, 1))

    assert november == {
        "receipts": 10,
        # named, exact, euro, and the refunded one whose rest is applied by reference
        "applied_automatically": 4,
        "applied_by_operator": 1,
        "unapplied": 4,  # rest, nobody, waiting, failed; "returned" is in none of the three
        "automatic_rate": "0.4000",
        "by_rule": {
            "named": {"receipts": 3, "amount": {"EUR": "5.00", "USD": "13.00"}},
            "none": {"receipts": 3, "amount": "53.00"},
            "oldest_first": {"receipts": 1, "amount": "40.00"},
            "operator": {"receipts": 1, "amount": "30.00"},
            "payer_account+exact_amount": {"receipts": 1, "amount": "20.00"},
            "reference": {"receipts": 1, "amount": "60.00"},
        },
        "by_source": {
            "gateway": {"receipts": 1, "amount": "50.00"},
            "lockbox": {"receipts": 1, "amount": "30.00"},
            "operator": {"receipts": 8, "amount": {"EUR": "5.00", "USD": "136.00"}},
        },
    }
    assert (everything["receipts"], everything["applied_automatically"]) == (11, 5)
    assert everything["automatic_rate"] == "0.4545"
    assert empty == {
        "receipts": 0,
        "applied_automatically": 0,
        "applied_by_operator": 0,
        "unapplied": 0,
        "automatic_rate": "0.0000",
        "by_rule": {},
        "by_source": {},
    }


def test_the_automatic_rate_rounds_half_to_even(loaded: Settings) -> None:
    # 1 of 32 is 0.03125: half-even gives 0.0312 where half-up would give 0.0313.
    with UnitOfWork(loaded.database_url) as uow:
        _receipt(uow, "auto", "1.00", status="applied", rule="exact_amount")
        for n in range(31):
            _receipt(uow, f"waiting-{n}", "1.00", status="unapplied", rule=None)
        uow.commit()
    with connect(loaded.database_url) as connection:
        report = cash_application_report(connection)
    assert (report["receipts"], report["automatic_rate"]) == (32, "0.0312")


def test_payer_accounts_beyond_one_statements_chunk_are_all_found(loaded: Settings) -> None:
    accounts = {f"ACCT{n:05d}": "C-1" if n % 2 else "C-2" for n in range(6001)}
    with UnitOfWork(loaded.database_url) as uow:
        uow.matching.add_payers(accounts)
        uow.commit()
    with reading(loaded.database_url) as uow:
        assert uow.matching.payer_customers([*accounts, "NOT-THERE"]) == accounts
