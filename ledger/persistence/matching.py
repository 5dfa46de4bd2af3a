"""Matching's reference data: each org unit's configuration and the payer accounts of customers.

docs/rules.md section 14. An org unit's configuration is stored as JSON text on its row (NULL
while it is the defaults); a payer account (already normalised, ``payer_key``) belongs to one
customer and is never moved to another. Every lookup here is one statement, whatever the number
of org units or accounts, so the distribution batch can read them beside its orders.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, literal, select, update

from ledger.domain.errors import UnknownOrgUnit
from ledger.domain.matching_config import MatchConfig
from ledger.persistence.db import among, is_postgres
from ledger.persistence.tables import CUSTOMERS, ORG_UNITS, PAYER_ACCOUNTS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_DEFAULTS = MatchConfig().to_json()
# Accounts per lookup statement.
_CHUNK = 5000


def stored_form(config: MatchConfig) -> str | None:
    """The text an org unit row holds for ``config``: canonical JSON (sorted keys, so the same
    configuration is always the same text and a repeated load changes nothing), or NULL for the
    defaults."""
    data = config.to_json()
    if data == _DEFAULTS:
        return None
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def config_of(text: str | None) -> MatchConfig:
    """The configuration an org unit row's ``matching`` text holds (NULL: the defaults)."""
    if text is None:
        return MatchConfig()
    return MatchConfig.from_json(json.loads(text))


@lru_cache(maxsize=64)
def _cached_config(text: str | None) -> MatchConfig:
    # Every distribution batch reads every org unit's text; the same text is the same
    # (immutable) configuration, parsed once.
    return config_of(text)


class MatchingRepository:
    """Matching configurations and payer accounts in one unit of work's transaction."""

    def __init__(self, session: Session | Connection) -> None:
        self._session = session

    def configs(self) -> dict[str, MatchConfig]:
        """Every org unit's configuration (the defaults where none is set), by code."""
        rows = self._session.execute(select(ORG_UNITS.c.code, ORG_UNITS.c.matching))
        return {code: config_of(text) for code, text in rows}

    def configs_of(self, units: Mapping[str, Any]) -> dict[str, MatchConfig]:
        """The configurations of org unit rows already read (with their ``matching`` column),
        by code: no statement."""
        return {code: _cached_config(row.matching) for code, row in units.items()}

    def config(self, org_unit: str) -> MatchConfig:
        """One org unit's configuration; UnknownOrgUnit when there is no such org unit."""
        row = self._session.execute(
            select(ORG_UNITS.c.matching).where(ORG_UNITS.c.code == org_unit)
        ).first()
        if row is None:
            raise UnknownOrgUnit(org_unit)
        return config_of(row.matching)

    def set_config(self, org_unit: str, config: MatchConfig) -> None:
        """Store an org unit's configuration; UnknownOrgUnit when there is no such org unit."""
        result = self._session.execute(
            update(ORG_UNITS)
            .where(ORG_UNITS.c.code == org_unit)
            .values(matching=stored_form(config))
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise UnknownOrgUnit(org_unit)

    def payer_customers(self, accounts: Collection[str]) -> dict[str, str]:
        """The customer each of these (normalised) payer accounts is registered to; an account
        registered to nobody is left out."""
        wanted = sorted(set(accounts))
        found: dict[str, str] = {}
        # One statement for a batch; a load file's thousands go in chunks, far below SQLite's
        # limit on parameters (PostgreSQL takes the chunk as one array).
        for start in range(0, len(wanted), _CHUNK):
            rows = self._session.execute(
                select(PAYER_ACCOUNTS.c.account, PAYER_ACCOUNTS.c.customer_id).where(
                    among(self._session, PAYER_ACCOUNTS.c.account, wanted[start : start + _CHUNK])
                )
            )
            found.update({account: customer for account, customer in rows})
        return found

    def register_payer(self, account: str, customer: str) -> str | None:
        """Register ``account`` (normalised) to ``customer`` unless it is already registered;
        never reassigns it. Returns the customer the account belongs to afterwards: ``customer``,
        another customer (the caller tells the operator), or None when the account was free
        and ``customer`` does not exist."""
        # Imported here: the read commands (matching show, the report) use this module and need
        # neither dialect's insert; the PostgreSQL dialect costs a SQLite run ~0.1 s to load.
        from sqlalchemy.dialects import postgresql, sqlite  # noqa: PLC0415

        dialect_insert = postgresql.insert if is_postgres(self._session) else sqlite.insert
        # Inserted from a SELECT of the customer, so an unknown customer inserts nothing rather
        # than breaking the transaction on the foreign key; a concurrent registration of the
        # same account wins and is read back below.
        self._session.execute(
            dialect_insert(PAYER_ACCOUNTS)
            .from_select(
                ["account", "customer_id"],
                select(literal(account), CUSTOMERS.c.id).where(CUSTOMERS.c.id == customer),
            )
            .on_conflict_do_nothing()
        )
        return self._session.execute(
            select(PAYER_ACCOUNTS.c.customer_id).where(PAYER_ACCOUNTS.c.account == account)
        ).scalar()

    def add_payers(self, accounts: dict[str, str]) -> None:
        """Register new accounts (account -> customer) in one statement; the caller has checked
        that none is registered yet (the load file's validation)."""
        if accounts:
            self._session.execute(
                PAYER_ACCOUNTS.insert(),
                [
                    {"account": account, "customer_id": customer}
                    for account, customer in sorted(accounts.items())
                ],
            )

    def customers_payer_accounts(self, customers: Collection[str]) -> dict[str, list[str]]:
        """Each of these customers' payer accounts, sorted; a customer with none is left out."""
        if not customers:
            return {}
        rows = self._session.execute(
            select(PAYER_ACCOUNTS.c.customer_id, PAYER_ACCOUNTS.c.account)
            .where(among(self._session, PAYER_ACCOUNTS.c.customer_id, set(customers)))
            .order_by(PAYER_ACCOUNTS.c.customer_id, PAYER_ACCOUNTS.c.account)
        )
        result: dict[str, list[str]] = {}
        for customer, account in rows:
            result.setdefault(customer, []).append(account)
        return result
