"""The database schema: SQLAlchemy 2 typed mappings of every table arledger keeps.

Money columns are integer minor units (``*_minor``), never floats or numerics. Rows of the ledger
proper — journals, journal lines, write-offs — are append-only: nothing updates or deletes them
(triggers refuse it, see the initial migration). A few rows carry state that moves: a line's
cached ``balance_minor`` (verified against its AR entries by ``arledger check``), a receipt's
``status``, the outbox clock. Alembic migrations in ``ledger/persistence/migrations`` create these tables;
keep the two in step.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledger.domain.journal import ACCOUNT_TYPES

# SQLite only auto-numbers an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

RECEIPT_STATUSES = ("queued", "applied", "unapplied", "unidentified", "reversed", "failed")
WAITING = "status IN ('queued', 'unapplied', 'unidentified', 'failed')"


class Base(DeclarativeBase):
    """Declarative base with a naming convention Alembic can rely on."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


# --- reference data ----------------------------------------------------------------------------


class Account(Base):
    """A GL account."""

    __tablename__ = "gl_accounts"
    __table_args__ = (CheckConstraint(f"type IN {ACCOUNT_TYPES}", name="type"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class OrgUnit(Base):
    """An org unit and its default cash, AR, unapplied and credit write-off accounts."""

    __tablename__ = "org_units"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    cash_account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))
    ar_account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))
    unapplied_account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))
    credit_writeoff_account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))


class Subsystem(Base):
    """A subsystem (MTG, SUB, FND…) with its payment priority."""

    __tablename__ = "subsystems"
    __table_args__ = (CheckConstraint("priority BETWEEN 0 AND 99", name="priority"),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    priority: Mapped[int] = mapped_column(SmallInteger)


class Product(Base):
    """A product with its priority within the subsystem and its accounts."""

    __tablename__ = "products"
    __table_args__ = (CheckConstraint("priority BETWEEN 0 AND 99", name="priority"),)

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    subsystem: Mapped[str] = mapped_column(ForeignKey("subsystems.code"))
    priority: Mapped[int] = mapped_column(SmallInteger)
    revenue_account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))
    writeoff_account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))
    inventoried: Mapped[bool] = mapped_column(Boolean, default=False)


class Customer(Base):
    """A customer; a child account may be billed to its parent."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    bills_to_parent: Mapped[bool] = mapped_column(Boolean, default=False)


class Period(Base):
    """An accounting period."""

    __tablename__ = "periods"
    __table_args__ = (CheckConstraint("start_date <= end_date", name="range"),)

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)


# --- orders ------------------------------------------------------------------------------------


class OrderRow(Base):
    """An order: one customer, one org unit, one currency."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Id, Identity(), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    org_unit: Mapped[str] = mapped_column(ForeignKey("org_units.code"))
    currency: Mapped[str] = mapped_column(String(3))
    order_date: Mapped[date] = mapped_column(Date)


class OrderLine(Base):
    """An invoiced order line and its cached balance."""

    __tablename__ = "order_lines"
    __table_args__ = (  # fillfactor 80 on PostgreSQL (migration 0003): balances update in place
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("amount_minor >= 0", name="amount"),
        CheckConstraint("line_no > 0", name="line_no"),
    )

    id: Mapped[int] = mapped_column(Id, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    product: Mapped[str] = mapped_column(ForeignKey("products.code"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    ar_account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)
    # Cached running sum of the line's AR entries, moved in the same transaction as they are
    # posted; `arledger check` proves it equals the entries.
    balance_minor: Mapped[int] = mapped_column(BigInteger)


# --- intake ------------------------------------------------------------------------------------


class Receipt(Base):
    """Money received: persisted at intake (the inbox) before anything distributes it."""

    __tablename__ = "receipts"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount"),
        CheckConstraint(f"status IN {RECEIPT_STATUSES}", name="status"),
        # Partial indexes (migration 0003): only the rows a lookup can want pay for an entry.
        Index(
            "ix_receipts_status",
            "status",
            postgresql_where=text(WAITING),
            sqlite_where=text(WAITING),
        ),
    )

    id: Mapped[int] = mapped_column(Id, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    # The source-derived idempotency key (docs/rules.md section 6): gateway + event id, file hash +
    # batch + item, operator + external id.
    external_key: Mapped[str] = mapped_column(String(300), unique=True)
    payload_hash: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    org_unit: Mapped[str | None] = mapped_column(ForeignKey("org_units.code"))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    received_date: Mapped[date] = mapped_column(Date)
    # Operator receipts refuse closed periods; automated ones move to the next open day.
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    # The request as the source sent it (JSON, amounts in minor units): what the idempotency key
    # is compared against, and where the money was meant to go ("orders").
    request: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The gateway's payment ("<gateway>:<payment_id>"): one receipt per payment, whatever event
    # ids the gateway sends it under. Refunds and disputes find their receipt by it.
    reference: Mapped[str | None] = mapped_column(String(300))
    # After a partial refund the receipt is reversed and the rest received again as a new receipt
    # that replaces it; a later refund of the same payment follows the chain.
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))
    lockbox_file_id: Mapped[int | None] = mapped_column(ForeignKey("lockbox_files.id"))


Index(
    "ix_receipts_reference",
    Receipt.reference,
    unique=True,
    postgresql_where=Receipt.reference.is_not(None),
    sqlite_where=Receipt.reference.is_not(None),
)
Index(
    "ix_receipts_replaces_id",
    Receipt.replaces_id,
    postgresql_where=Receipt.replaces_id.is_not(None),
    sqlite_where=Receipt.replaces_id.is_not(None),
)
Index(
    "ix_receipts_lockbox_file_id",
    Receipt.lockbox_file_id,
    postgresql_where=Receipt.lockbox_file_id.is_not(None),
    sqlite_where=Receipt.lockbox_file_id.is_not(None),
)


class LockboxFile(Base):
    """A bank lockbox file, recorded once (by content hash and by bank file id) before its checks
    are received as receipts."""

    __tablename__ = "lockbox_files"

    id: Mapped[int] = mapped_column(Id, Identity(), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    bank_file_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(8))
    items: Mapped[int] = mapped_column(Integer)
    # False while its checks are being received: importing it again resumes instead of refusing.
    complete: Mapped[bool] = mapped_column(Boolean, default=False, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IntakeEvent(Base):
    """A gateway event that is not itself money (a refund, a dispute): persisted under its
    source-derived key before it is processed, so a lost task loses nothing."""

    __tablename__ = "intake_events"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'waiting', 'done', 'failed')", name="status"),
        Index(None, "status"),
    )

    id: Mapped[int] = mapped_column(Id, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    payload_hash: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str] = mapped_column(String(300), index=True)  # the payment it concerns
    status: Mapped[str] = mapped_column(String(16), default="queued")
    status_reason: Mapped[str | None] = mapped_column(Text)
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PoisonMessage(Base):
    """A task message that could not be processed (malformed body, a bug): kept with its reason
    for an operator instead of blocking or vanishing from the queue."""

    __tablename__ = "poison_messages"

    id: Mapped[int] = mapped_column(Id, Identity(), primary_key=True)
    task: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PublisherCursor(Base):
    """How far the GL publisher has delivered: every commit with ``seq <= published_seq`` is
    published. A row of its own, so publishing never holds the clock that writers seal with."""

    __tablename__ = "publisher_cursor"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    published_seq: Mapped[int] = mapped_column(BigInteger, default=0)


# --- the ledger --------------------------------------------------------------------------------


class LedgerCommit(Base):
    """One database transaction's worth of journals, numbered in commit order.

    ``seq`` is taken from the outbox clock as the transaction's last step, under the clock's row
    lock, so sequence order is commit order and has no gaps; the publisher delivers by it.
    ``chain_hash`` chains each commit's content to the previous one, so `arledger check` can
    prove no posted row was changed or removed.
    """

    __tablename__ = "ledger_commits"

    id: Mapped[int] = mapped_column(Id, Identity(), primary_key=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chain_hash: Mapped[str | None] = mapped_column(String(64))
    committed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Journal(Base):
    """A subledger transaction and its GL journal: one row, one id."""

    __tablename__ = "journals"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount"),
        Index(None, "order_id"),
        Index(
            "ix_journals_receipt_id",
            "receipt_id",
            postgresql_where=text("receipt_id IS NOT NULL"),
            sqlite_where=text("receipt_id IS NOT NULL"),
        ),
        Index(
            "ix_journals_write_off_id",
            "write_off_id",
            postgresql_where=text("write_off_id IS NOT NULL"),
            sqlite_where=text("write_off_id IS NOT NULL"),
        ),
        Index(None, "commit_id"),
    )

    id: Mapped[int] = mapped_column(Id, Identity(), primary_key=True)
    commit_id: Mapped[int] = mapped_column(ForeignKey("ledger_commits.id"))
    type: Mapped[str] = mapped_column(String(24))
    code: Mapped[int] = mapped_column(SmallInteger)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    posting_date: Mapped[date] = mapped_column(Date)
    original_date: Mapped[date | None] = mapped_column(Date)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))
    write_off_id: Mapped[int | None] = mapped_column(ForeignKey("write_offs.id"))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journals.id"))
    memo: Mapped[str | None] = mapped_column(Text)


class JournalLine(Base):
    """One debit or credit of a journal, with the order line it concerns where it concerns one."""

    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint(
            "(debit_minor > 0 AND credit_minor = 0) OR (credit_minor > 0 AND debit_minor = 0)",
            name="one_side",
        ),
        Index(None, "journal_id"),
    )

    id: Mapped[int] = mapped_column(Id, Identity(), primary_key=True)
    journal_id: Mapped[int] = mapped_column(ForeignKey("journals.id"))
    account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))
    debit_minor: Mapped[int] = mapped_column(BigInteger)
    credit_minor: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"))


class WriteOff(Base):
    """A line-level write-off; its reversed amount is derived from the journals that reverse it."""

    __tablename__ = "write_offs"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount"),
        CheckConstraint("kind IN ('debit', 'zero', 'credit')", name="kind"),
        Index(None, "line_id"),
        Index(None, "order_id"),
    )

    id: Mapped[int] = mapped_column(Id, Identity(), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(8))
    advanced: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)  # internal: never on a statement
    debit_account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))
    credit_account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))
    posting_date: Mapped[date] = mapped_column(Date)


class OutboxClock(Base):
    """A single row: the last commit sequence handed out and its chain hash."""

    __tablename__ = "outbox_clock"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    chain_hash: Mapped[str] = mapped_column(String(64))


# Core handles on the tables, for the set-based reads and bulk writes of the hot path.
ACCOUNTS = cast(Table, Account.__table__)
ORG_UNITS = cast(Table, OrgUnit.__table__)
PERIODS = cast(Table, Period.__table__)
SUBSYSTEMS = cast(Table, Subsystem.__table__)
PRODUCTS = cast(Table, Product.__table__)
CUSTOMERS = cast(Table, Customer.__table__)
ORDERS = cast(Table, OrderRow.__table__)
LINES = cast(Table, OrderLine.__table__)
RECEIPTS = cast(Table, Receipt.__table__)
COMMITS = cast(Table, LedgerCommit.__table__)
JOURNALS = cast(Table, Journal.__table__)
JOURNAL_LINES = cast(Table, JournalLine.__table__)
WRITE_OFFS = cast(Table, WriteOff.__table__)
CLOCK = cast(Table, OutboxClock.__table__)
LOCKBOX_FILES = cast(Table, LockboxFile.__table__)
INTAKE_EVENTS = cast(Table, IntakeEvent.__table__)
POISON_MESSAGES = cast(Table, PoisonMessage.__table__)
PUBLISHER_CURSOR = cast(Table, PublisherCursor.__table__)
