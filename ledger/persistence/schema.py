"""The database schema as SQLAlchemy 2 typed mappings, for the write path.

Each class is declared over its Core table in :mod:`ledger.persistence.tables` (``__table__``),
so the ORM and the Core reads share one ``MetaData`` and one definition of every column,
constraint and index; the annotations type the mapped attributes. The table constants are
re-exported here for the modules that import them from this one.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import DeclarativeBase, Mapped

from ledger.persistence import tables
from ledger.persistence.tables import (
    ACCOUNTS,
    CLOCK,
    COMMITS,
    CUSTOMERS,
    INTAKE_EVENTS,
    JOURNAL_LINES,
    JOURNALS,
    LINES,
    LOCKBOX_FILES,
    ORDERS,
    ORG_UNITS,
    PAYER_ACCOUNTS,
    PERIODS,
    POISON_MESSAGES,
    PRODUCTS,
    PUBLISHER_CURSOR,
    RECEIPT_STATUSES,
    RECEIPTS,
    SUBSYSTEMS,
    WAITING,
    WRITE_OFFS,
    Id,
)

__all__ = [
    "ACCOUNTS",
    "CLOCK",
    "COMMITS",
    "CUSTOMERS",
    "INTAKE_EVENTS",
    "JOURNALS",
    "JOURNAL_LINES",
    "LINES",
    "LOCKBOX_FILES",
    "ORDERS",
    "ORG_UNITS",
    "PAYER_ACCOUNTS",
    "PERIODS",
    "POISON_MESSAGES",
    "PRODUCTS",
    "PUBLISHER_CURSOR",
    "RECEIPTS",
    "RECEIPT_STATUSES",
    "SUBSYSTEMS",
    "WAITING",
    "WRITE_OFFS",
    "Account",
    "Base",
    "Customer",
    "Id",
    "IntakeEvent",
    "Journal",
    "JournalLine",
    "LedgerCommit",
    "LockboxFile",
    "OrderLine",
    "OrderRow",
    "OrgUnit",
    "OutboxClock",
    "PayerAccount",
    "Period",
    "PoisonMessage",
    "Product",
    "PublisherCursor",
    "Receipt",
    "Subsystem",
    "WriteOff",
]


class Base(DeclarativeBase):
    """Declarative base over the tables' ``MetaData`` (and its naming convention)."""

    metadata = tables.METADATA


# --- reference data ----------------------------------------------------------------------------


class Account(Base):
    """A GL account."""

    __table__ = ACCOUNTS

    code: Mapped[str]
    name: Mapped[str]
    type: Mapped[str]
    active: Mapped[bool]


class OrgUnit(Base):
    """An org unit and its default cash, AR, unapplied and credit write-off accounts."""

    __table__ = ORG_UNITS

    code: Mapped[str]
    cash_account: Mapped[str]
    ar_account: Mapped[str]
    unapplied_account: Mapped[str]
    credit_writeoff_account: Mapped[str]
    matching: Mapped[str | None]


class Subsystem(Base):
    """A subsystem (MTG, SUB, FND…) with its payment priority."""

    __table__ = SUBSYSTEMS

    code: Mapped[str]
    priority: Mapped[int]


class Product(Base):
    """A product with its priority within the subsystem and its accounts."""

    __table__ = PRODUCTS

    code: Mapped[str]
    subsystem: Mapped[str]
    priority: Mapped[int]
    revenue_account: Mapped[str]
    writeoff_account: Mapped[str]
    inventoried: Mapped[bool]


class Customer(Base):
    """A customer; a child account may be billed to its parent."""

    __table__ = CUSTOMERS

    id: Mapped[str]
    name: Mapped[str]
    parent_id: Mapped[str | None]
    bills_to_parent: Mapped[bool]


class PayerAccount(Base):
    """A payer's bank account registered to the one customer it identifies."""

    __table__ = PAYER_ACCOUNTS

    account: Mapped[str]
    customer_id: Mapped[str]
    created_at: Mapped[datetime]


class Period(Base):
    """An accounting period."""

    __table__ = PERIODS

    name: Mapped[str]
    start_date: Mapped[date]
    end_date: Mapped[date]
    is_open: Mapped[bool]


# --- orders ------------------------------------------------------------------------------------


class OrderRow(Base):
    """An order: one customer, one org unit, one currency."""

    __table__ = ORDERS

    id: Mapped[int]
    number: Mapped[str]
    customer_id: Mapped[str]
    org_unit: Mapped[str]
    currency: Mapped[str]
    order_date: Mapped[date]
    number_key: Mapped[str]


class OrderLine(Base):
    """An invoiced order line and its cached balance."""

    __table__ = LINES

    id: Mapped[int]
    order_id: Mapped[int]
    line_no: Mapped[int]
    product: Mapped[str]
    amount_minor: Mapped[int]
    ar_account: Mapped[str]
    shipped: Mapped[bool]
    balance_minor: Mapped[int]


# --- intake ------------------------------------------------------------------------------------


class Receipt(Base):
    """Money received: persisted at intake (the inbox) before anything distributes it."""

    __table__ = RECEIPTS

    id: Mapped[int]
    source: Mapped[str]
    external_key: Mapped[str]
    payload_hash: Mapped[str]
    customer_id: Mapped[str | None]
    org_unit: Mapped[str | None]
    currency: Mapped[str]
    amount_minor: Mapped[int]
    received_date: Mapped[date]
    automated: Mapped[bool]
    request: Mapped[str]
    status: Mapped[str]
    status_reason: Mapped[str | None]
    created_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    reference: Mapped[str | None]
    replaces_id: Mapped[int | None]
    lockbox_file_id: Mapped[int | None]
    match_rule: Mapped[str | None]
    match_references: Mapped[str | None]
    suggestions: Mapped[str | None]
    payer_name: Mapped[str | None]


class LockboxFile(Base):
    """A bank lockbox file, recorded once (by content hash and by bank file id) before its checks
    are received as receipts."""

    __table__ = LOCKBOX_FILES

    id: Mapped[int]
    sha256: Mapped[str]
    bank_file_id: Mapped[str | None]
    name: Mapped[str]
    format: Mapped[str]
    items: Mapped[int]
    complete: Mapped[bool]
    debits_skipped: Mapped[int]
    created_at: Mapped[datetime]


class IntakeEvent(Base):
    """A gateway event that is not itself money (a refund, a dispute), persisted before it is
    processed."""

    __table__ = INTAKE_EVENTS

    id: Mapped[int]
    source: Mapped[str]
    external_key: Mapped[str]
    kind: Mapped[str]
    payload: Mapped[str]
    payload_hash: Mapped[str]
    reference: Mapped[str]
    status: Mapped[str]
    status_reason: Mapped[str | None]
    receipt_id: Mapped[int | None]
    created_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]


class PoisonMessage(Base):
    """A task message that could not be processed, kept with its reason for an operator."""

    __table__ = POISON_MESSAGES

    id: Mapped[int]
    task: Mapped[str]
    body: Mapped[str]
    reason: Mapped[str]
    status: Mapped[str]
    created_at: Mapped[datetime]


class PublisherCursor(Base):
    """How far the GL publisher has delivered."""

    __table__ = PUBLISHER_CURSOR

    id: Mapped[int]
    published_seq: Mapped[int]


# --- the ledger --------------------------------------------------------------------------------


class LedgerCommit(Base):
    """One database transaction's worth of journals, numbered in commit order."""

    __table__ = COMMITS

    id: Mapped[int]
    seq: Mapped[int | None]
    chain_hash: Mapped[str | None]
    committed_at: Mapped[datetime]


class Journal(Base):
    """A subledger transaction and its GL journal: one row, one id."""

    __table__ = JOURNALS

    id: Mapped[int]
    commit_id: Mapped[int]
    type: Mapped[str]
    code: Mapped[int]
    currency: Mapped[str]
    amount_minor: Mapped[int]
    posting_date: Mapped[date]
    original_date: Mapped[date | None]
    order_id: Mapped[int | None]
    receipt_id: Mapped[int | None]
    write_off_id: Mapped[int | None]
    reverses_id: Mapped[int | None]
    memo: Mapped[str | None]


class JournalLine(Base):
    """One debit or credit of a journal, with the order line it concerns where it concerns one."""

    __table__ = JOURNAL_LINES

    id: Mapped[int]
    journal_id: Mapped[int]
    account: Mapped[str]
    debit_minor: Mapped[int]
    credit_minor: Mapped[int]
    order_id: Mapped[int | None]
    line_id: Mapped[int | None]


class WriteOff(Base):
    """A line-level write-off; its reversed amount is derived from the journals that reverse it."""

    __table__ = WRITE_OFFS

    id: Mapped[int]
    order_id: Mapped[int]
    line_id: Mapped[int]
    amount_minor: Mapped[int]
    kind: Mapped[str]
    advanced: Mapped[bool]
    reason: Mapped[str]
    comment: Mapped[str | None]
    debit_account: Mapped[str]
    credit_account: Mapped[str]
    posting_date: Mapped[date]
    automatic: Mapped[bool]


class OutboxClock(Base):
    """A single row: the last commit sequence handed out and its chain hash."""

    __table__ = CLOCK

    id: Mapped[int]
    last_seq: Mapped[int]
    chain_hash: Mapped[str]
