"""`arledger load`: upsert reference data and orders from the JSON file of docs/rules.md section 10.

The whole file is one transaction: validated against what it says and what the database already
holds, then written, or refused with one line and nothing written. Reference data is upserted
(names, flags, priorities, accounts may change). Orders are append-only where money is concerned:
an invoiced line's product and amount cannot change (that would need an adjustment transaction),
new lines may be added, and the ``shipped`` flag may change. Every newly invoiced line is posted
in a SALE journal (Dr the line's AR account, Cr the product's revenue account), one per order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from ledger.domain.errors import InvalidInput
from ledger.domain.money import Money
from ledger.domain.order import Line, Order, line_priority
from ledger.intake.inputs import LoadFile, OrderIn, OrgUnitIn
from ledger.persistence import schema
from ledger.persistence.matching import stored_form
from ledger.persistence.reference import ReferenceRepository
from ledger.persistence.unit_of_work import UnitOfWork


@dataclass
class LoadSummary:
    """What a load created, updated and left unchanged, per kind of row."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    sale_journals: int = 0

    def count(self, bucket: str, kind: str, n: int = 1) -> None:
        target = getattr(self, bucket)
        target[kind] = target.get(kind, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "sale_journals": self.sale_journals,
        }


def _upsert(
    reference: ReferenceRepository,
    summary: LoadSummary,
    kind: str,
    model: Any,
    key: str,
    rows: Sequence[dict[str, Any]],
) -> None:
    """Insert new rows, update changed ones; count which was which."""
    if not rows:
        return
    created, updated, unchanged = reference.upsert(model, key, rows)
    for bucket, count in (("created", created), ("updated", updated), ("unchanged", unchanged)):
        if count:
            summary.count(bucket, kind, count)


def load(uow: UnitOfWork, data: LoadFile) -> LoadSummary:
    """Validate the file against the database and write it in the caller's unit of work; the
    caller commits."""
    summary = LoadSummary()
    reference = uow.reference
    accounts = reference.existing(schema.Account, "code", _referenced_accounts(data))
    file_accounts = {account.code: account for account in data.accounts}

    def account_type(code: str, where: str) -> str:
        if code in file_accounts:
            return file_accounts[code].type
        if code in accounts:
            return str(accounts[code].type)
        raise InvalidInput(f"{where}: unknown GL account {code}")

    for unit in data.org_units:
        where = f"org unit {unit.code}"
        types = {
            "cash_account": account_type(unit.cash_account, where),
            "ar_account": account_type(unit.ar_account, where),
            "unapplied_account": account_type(unit.unapplied_account, where),
            "credit_writeoff_account": account_type(unit.credit_writeoff_account, where),
        }
        for role, expected in (
            ("cash_account", "asset"),
            ("ar_account", "asset"),
            ("unapplied_account", "liability"),
        ):
            if types[role] != expected:
                raise InvalidInput(
                    f"{where}: {role} {getattr(unit, role)} is a {types[role]} account; it must be "
                    f"a {expected} account"
                )
        others = {unit.cash_account, unit.unapplied_account, unit.credit_writeoff_account}
        if unit.ar_account in others:
            raise InvalidInput(
                f"{where}: the AR account {unit.ar_account} must not double as its cash, unapplied or credit write-off account"
            )

    ar_accounts = {unit.ar_account for unit in data.org_units} | reference.ar_accounts()
    subsystems = {s.code for s in data.subsystems} | set(
        reference.existing(schema.Subsystem, "code", (p.subsystem for p in data.products))
    )
    for product in data.products:
        where = f"product {product.code}"
        if product.subsystem not in subsystems:
            raise InvalidInput(f"{where}: unknown subsystem {product.subsystem}")
        for role in ("revenue_account", "writeoff_account"):
            code = getattr(product, role)
            account_type(code, where)
            if code in ar_accounts:
                raise InvalidInput(f"{where}: {role} {code} is an AR account")

    customer_ids = (
        {c.id for c in data.customers}
        | {c.parent for c in data.customers if c.parent}
        | {o.customer for o in data.orders}
    )
    known_customers = {c.id for c in data.customers} | set(
        reference.existing(schema.Customer, "id", customer_ids)
    )
    for customer in data.customers:
        if customer.parent is not None and customer.parent not in known_customers:
            raise InvalidInput(f"customer {customer.id}: unknown parent customer {customer.parent}")
    _refuse_parent_cycles(reference, data)
    _refuse_overlapping_periods(reference, data)
    new_payers = _new_payer_accounts(uow, data, summary)

    _upsert(
        reference,
        summary,
        "accounts",
        schema.Account,
        "code",
        [a.model_dump() for a in data.accounts],
    )
    _upsert(
        reference,
        summary,
        "org_units",
        schema.OrgUnit,
        "code",
        [_org_unit_row(u) for u in data.org_units],
    )
    _upsert(
        reference,
        summary,
        "subsystems",
        schema.Subsystem,
        "code",
        [s.model_dump() for s in data.subsystems],
    )
    _upsert(
        reference,
        summary,
        "products",
        schema.Product,
        "code",
        [p.model_dump() for p in data.products],
    )
    # Parents first, so the self-referencing foreign key holds at every insert.
    customers = sorted(
        data.customers, key=lambda c: _depth(c.id, {x.id: x.parent for x in data.customers})
    )
    _upsert(
        reference,
        summary,
        "customers",
        schema.Customer,
        "id",
        [
            {
                "id": c.id,
                "name": c.name,
                "parent_id": c.parent,
                "bills_to_parent": c.bills_to_parent,
            }
            for c in customers
        ],
    )
    uow.matching.add_payers(new_payers)
    _upsert(
        reference,
        summary,
        "periods",
        schema.Period,
        "name",
        [
            {"name": p.name, "start_date": p.start, "end_date": p.end, "is_open": p.open}
            for p in data.periods
        ],
    )
    if data.orders:
        _load_orders(uow, data.orders, known_customers, summary)
    return summary


def _org_unit_row(unit: OrgUnitIn) -> dict[str, Any]:
    """An org unit's row; its matching configuration only when the file gives one, so a load
    without it keeps what `arledger matching set` stored."""
    row = unit.model_dump(exclude={"matching"})
    if unit.matching is not None:
        row["matching"] = stored_form(unit.matching)
    return row


def _new_payer_accounts(uow: UnitOfWork, data: LoadFile, summary: LoadSummary) -> dict[str, str]:
    """The file's payer accounts not registered yet (account -> customer). An account already
    registered to another customer refuses the file: an account is never moved. One listed
    before for the same customer is unchanged; a load never unregisters an account."""
    listed = {
        account: customer.id for customer in data.customers for account in customer.payer_accounts
    }
    registered = uow.matching.payer_customers(listed)
    for account, customer in listed.items():
        owner = registered.get(account)
        if owner is not None and owner != customer:
            raise InvalidInput(
                f"customer {customer}: payer account {account} is already registered to "
                f"customer {owner}",
                field="payer_accounts",
            )
    new = {account: customer for account, customer in listed.items() if account not in registered}
    if new:
        summary.count("created", "payer_accounts", len(new))
    if registered:
        summary.count("unchanged", "payer_accounts", len(registered))
    return new


def _referenced_accounts(data: LoadFile) -> set[str]:
    codes = {a.code for a in data.accounts}
    for unit in data.org_units:
        codes |= {
            unit.cash_account,
            unit.ar_account,
            unit.unapplied_account,
            unit.credit_writeoff_account,
        }
    for product in data.products:
        codes |= {product.revenue_account, product.writeoff_account}
    for order in data.orders:
        codes |= {line.ar_account for line in order.lines if line.ar_account}
    return codes


def _depth(customer: str, parents: dict[str, str | None]) -> int:
    depth, seen = 0, set()
    while (parent := parents.get(customer)) is not None and customer not in seen:
        seen.add(customer)
        customer, depth = parent, depth + 1
    return depth


def _refuse_parent_cycles(reference: ReferenceRepository, data: LoadFile) -> None:
    if not data.customers:
        return
    parents = reference.customer_parents()
    parents.update({c.id: c.parent for c in data.customers})
    for customer in data.customers:
        seen, current = {customer.id}, customer.parent
        while current is not None:
            if current in seen:
                raise InvalidInput(f"customer {customer.id}: parent chain loops through {current}")
            seen.add(current)
            current = parents.get(current)


def _refuse_overlapping_periods(reference: ReferenceRepository, data: LoadFile) -> None:
    if not data.periods:
        return
    periods = {p.name: (p.start, p.end) for p in reference.periods()}
    periods.update({p.name: (p.start, p.end) for p in data.periods})
    ordered = sorted(periods.items(), key=lambda item: item[1][0])
    for (name_a, (_, end_a)), (name_b, (start_b, _)) in pairwise(ordered):
        if start_b <= end_a:
            raise InvalidInput(f"periods {name_a} and {name_b} overlap")


def _load_orders(
    uow: UnitOfWork, orders: Sequence[OrderIn], known_customers: set[str], summary: LoadSummary
) -> None:
    reference = uow.reference
    org_units = reference.org_units()
    product_codes = {line.product for order in orders for line in order.lines}
    products = reference.existing(schema.Product, "code", product_codes)
    line_accounts = {line.ar_account for order in orders for line in order.lines if line.ar_account}
    accounts = reference.existing(schema.Account, "code", line_accounts)
    existing = reference.existing(schema.OrderRow, "number", (o.number for o in orders))
    existing_lines: dict[int, dict[int, Any]] = {}
    if existing:
        existing_lines = dict(uow.orders.stored_lines([row.id for row in existing.values()]))

    new_orders = [o for o in orders if o.number not in existing]
    order_ids = dict(
        zip(
            (o.number for o in new_orders),
            uow.orders.reserve_order_ids(len(new_orders)),
            strict=True,
        )
    )
    order_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    new_lines: dict[str, list[tuple[dict[str, Any], str]]] = {}
    shipped_changes: list[tuple[int, bool]] = []
    for order in orders:
        where = f"order {order.number}"
        if order.customer not in known_customers:
            raise InvalidInput(f"{where}: unknown customer {order.customer}")
        unit = org_units.get(order.org_unit)
        if unit is None:
            raise InvalidInput(f"{where}: unknown org unit {order.org_unit}")
        current = existing.get(order.number)
        if current is None:
            order_id = order_ids[order.number]
            order_rows.append(
                {
                    "id": order_id,
                    "number": order.number,
                    "customer_id": order.customer,
                    "org_unit": order.org_unit,
                    "currency": order.currency,
                    "order_date": order.date,
                }
            )
            summary.count("created", "orders")
        else:
            order_id = current.id
            for name, was, now in (
                ("customer", current.customer_id, order.customer),
                ("org unit", current.org_unit, order.org_unit),
                ("currency", current.currency, order.currency),
            ):
                if was != now:
                    raise InvalidInput(f"{where}: {name} is {was} and cannot change to {now}")
        lines_now = existing_lines.get(order_id, {})
        changed = False
        for line in order.lines:
            product = products.get(line.product)
            if product is None:
                raise InvalidInput(f"{where} line {line.line}: unknown product {line.product}")
            amount = Money.parse(line.amount, order.currency)
            if line.ar_account is not None:
                account = accounts.get(line.ar_account)
                if account is None:
                    raise InvalidInput(
                        f"{where} line {line.line}: unknown GL account {line.ar_account}"
                    )
                if account.type != "asset":
                    raise InvalidInput(
                        f"{where} line {line.line}: AR account {line.ar_account} is not an asset account"
                    )
            ar_account = line.ar_account or unit.ar_account
            stored = lines_now.get(line.line)
            if stored is None:
                row = {
                    "order_id": order_id,
                    "line_no": line.line,
                    "product": line.product,
                    "amount_minor": amount.minor,
                    "ar_account": ar_account,
                    "shipped": line.shipped,
                    # "balance_minor": set by the aggregate when it invoices the line, below
                }
                line_rows.append(row)
                new_lines.setdefault(order.number, []).append((row, product.revenue_account))
                changed = True
                continue
            if stored.product != line.product or stored.amount_minor != amount.minor:
                raise InvalidInput(
                    f"{where} line {line.line} is invoiced as {stored.product} "
                    f"{Money.from_minor(stored.amount_minor, order.currency)}; it cannot change to "
                    f"{line.product} {amount} (post an adjustment instead)"
                )
            if stored.ar_account != ar_account:
                raise InvalidInput(
                    f"{where} line {line.line}: AR account {stored.ar_account} cannot change"
                )
            if stored.shipped != line.shipped:
                shipped_changes.append((stored.id, line.shipped))
                changed = True
        if current is not None:
            summary.count("updated" if changed else "unchanged", "orders")

    for row, line_id in zip(line_rows, uow.orders.reserve_line_ids(len(line_rows)), strict=True):
        row["id"] = line_id
    # New lines are invoiced through the aggregate, like every other balance change: each order
    # with new lines takes them at balance zero and posts its SALE journal, which gives the
    # lines the balances their rows are inserted with.
    calendar = reference.calendar()
    subsystems = reference.existing(
        schema.Subsystem, "code", {p.subsystem for p in products.values()}
    )
    journals = []
    by_number = {o.number: o for o in orders}
    for number, lines in new_lines.items():
        order = by_number[number]
        # The aggregate knows its lines by number; persistence is told the ids just allocated.
        uow.orders.know(
            number, lines[0][0]["order_id"], {row["line_no"]: row["id"] for row, _ in lines}
        )
        aggregate = Order(
            number=number,
            customer_id=order.customer,
            currency=order.currency,
            org_unit=order.org_unit,
            credit_writeoff_account=org_units[order.org_unit].credit_writeoff_account,
            lines=[],  # only the new lines: invoicing touches nothing else
        )
        invoiced = [
            _new_line(row, products[row["product"]], subsystems, order.currency) for row, _ in lines
        ]
        journal = aggregate.invoice(
            invoiced, posting_date=calendar.automated_date(order.date), order_date=order.date
        )
        for (row, _), invoiced_line in zip(lines, invoiced, strict=True):
            row["balance_minor"] = invoiced_line.balance.minor
        if journal is not None:
            journals.append(journal)
    uow.orders.add(order_rows, line_rows)
    uow.orders.set_shipped(shipped_changes)
    uow.journals.write(journals)
    summary.sale_journals = len(journals)


def _new_line(row: dict[str, Any], product: Any, subsystems: dict[str, Any], currency: str) -> Line:
    """The aggregate's view of a line about to be invoiced: its amount, balance zero."""
    return Line(
        line_no=row["line_no"],
        product=row["product"],
        priority=line_priority(subsystems[product.subsystem].priority, product.priority),
        amount=Money.from_minor(row["amount_minor"], currency),
        balance=Money.zero(currency),
        ar_account=row["ar_account"],
        revenue_account=product.revenue_account,
        writeoff_account=product.writeoff_account,
        inventoried=product.inventoried,
        shipped=row["shipped"],
    )
