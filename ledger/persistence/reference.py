"""Reference data: accounts, org units, subsystems, products, customers, periods.

``arledger load`` upserts them; intake checks receipts against them; every posting reads the
calendar of periods.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from ledger.domain.calendar import Calendar, Period
from ledger.persistence import schema
from ledger.persistence.db import among
from ledger.persistence.receipts import org_units as distribution_org_units
from ledger.persistence.schema import CUSTOMERS, ORDERS, PERIODS

# Keys per SELECT … IN: far below every database's limit on parameters.
_CHUNK = 5000


class Upserted(NamedTuple):
    """How many rows an upsert inserted, changed and found as they were."""

    created: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class StoredPeriod:
    """An accounting period as recorded (its dates; whether it is open does not matter here)."""

    name: str
    start: date
    end: date


class ReferenceRepository:
    """Reference data in one unit of work's transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def existing(self, model: Any, key: str, values: Iterable[str]) -> dict[str, Any]:
        """The rows of ``model`` (a mapped class) whose ``key`` is one of ``values``, by key."""
        wanted = sorted(set(values))
        column = getattr(model, key)
        found: dict[str, Any] = {}
        for start in range(0, len(wanted), _CHUNK):
            for row in self._session.execute(
                select(model).where(column.in_(wanted[start : start + _CHUNK]))
            ).scalars():
                found[getattr(row, key)] = row
        return found

    def upsert(self, model: Any, key: str, rows: Sequence[dict[str, Any]]) -> Upserted:
        """Insert the rows whose key is new, update the changed columns of the others."""
        if not rows:
            return Upserted(0, 0, 0)
        existing = self.existing(model, key, (row[key] for row in rows))
        new = [row for row in rows if row[key] not in existing]
        if new:
            self._session.execute(insert(model), new)
        updated = unchanged = 0
        for row in rows:
            current = existing.get(row[key])
            if current is None:
                continue
            changes = {
                name: value for name, value in row.items() if getattr(current, name) != value
            }
            if changes:
                self._session.execute(
                    update(model).where(getattr(model, key) == row[key]).values(**changes)
                )
                updated += 1
            else:
                unchanged += 1
        return Upserted(len(new), updated, unchanged)

    def ar_accounts(self) -> set[str]:
        """The AR account of every org unit."""
        return set(self._session.execute(select(schema.OrgUnit.ar_account)).scalars())

    def customer_parents(self) -> dict[str, str | None]:
        """Every customer's parent (None for a top-level customer)."""
        return dict(
            self._session.execute(select(schema.Customer.id, schema.Customer.parent_id)).all()
        )

    def periods(self) -> list[StoredPeriod]:
        return [
            StoredPeriod(p.name, p.start_date, p.end_date)
            for p in self._session.execute(select(schema.Period)).scalars()
        ]

    def calendar(self) -> Calendar:
        """The posting calendar (every period, open or closed)."""
        return load_calendar(self._session)

    def known_customers(self, customers: Collection[str]) -> set[str]:
        """Which of these customer ids this ledger knows."""
        if not customers:
            return set()
        return set(
            self._session.execute(
                select(CUSTOMERS.c.id).where(CUSTOMERS.c.id.in_(list(customers)))
            ).scalars()
        )

    def has_customer(self, customer: str) -> bool:
        return self._session.get(schema.Customer, customer) is not None

    def has_org_unit(self, code: str) -> bool:
        return self._session.get(schema.OrgUnit, code) is not None

    def org_unit_accounts(self) -> dict[str, Any]:
        """Every org unit by code, as distribution reads them (rows with ``code``,
        ``cash_account``, ``unapplied_account``; one cached statement)."""
        return distribution_org_units(self._session)

    def account(self, code: str) -> schema.Account | None:
        return self._session.get(schema.Account, code)

    def org_units(self) -> dict[str, schema.OrgUnit]:
        """Every org unit, by code."""
        return {unit.code: unit for unit in self._session.execute(select(schema.OrgUnit)).scalars()}

    def order_currencies(self, numbers: Collection[str]) -> dict[str, str]:
        """The currency of each order with one of these numbers (an unknown number is left out)."""
        if not numbers:
            return {}
        return dict(
            self._session.execute(
                select(ORDERS.c.number, ORDERS.c.currency).where(
                    among(self._session, ORDERS.c.number, numbers)
                )
            ).all()
        )


def load_calendar(session: Session) -> Calendar:
    periods = session.execute(_PERIODS).all()
    return Calendar([Period(p.name, p.start_date, p.end_date, p.is_open) for p in periods])


# Read on every posting: a plain select of the columns, built once, not an ORM query of entities.
_PERIODS = select(PERIODS.c.name, PERIODS.c.start_date, PERIODS.c.end_date, PERIODS.c.is_open)
