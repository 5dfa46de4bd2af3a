"""Every table arledger keeps, as SQLAlchemy Core ``Table`` objects on one ``MetaData``.

The read commands import this module and never ``sqlalchemy.orm`` (about 0.3 s of an operator
command); the typed ORM classes of :mod:`ledger.persistence.schema` are declared on these very
tables. Money columns are integer minor units (``*_minor``), never floats or numerics. Rows of the
ledger proper — journals, journal lines, write-offs — are append-only (triggers refuse updates and
deletes, see the initial migration). Alembic migrations in ``ledger/persistence/migrations``
create these tables; keep the two in step.

Every ``ForeignKey`` below is a real constraint on SQLite and defines the ORM's relationships. On
PostgreSQL, the keys of ``journal_lines``, ``journals``, ``order_lines`` and ``receipts`` are
enforced by triggers instead (migration 0009: checked once per statement, and the rows they point
at can never be deleted or re-keyed); the other tables' keys are real constraints there too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
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
    false,
    func,
    text,
    true,
)
from sqlalchemy.sql.elements import ClauseElement

from ledger.domain.journal import ACCOUNT_TYPES

# SQLite only auto-numbers an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

RECEIPT_STATUSES = ("queued", "applied", "unapplied", "unidentified", "reversed", "failed")
WAITING = "status IN ('queued', 'unapplied', 'unidentified', 'failed')"

# A naming convention Alembic can rely on.
METADATA = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[int]:
    return Column("id", Id, Identity(), primary_key=True)


def _created_at() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _partial(index: Index, where: ClauseElement) -> Index:
    """``index`` made partial on PostgreSQL and SQLite alike: only rows where ``where`` holds get an
    entry (the DDL of ``postgresql_where=`` and ``sqlite_where=``).

    The options are filled in when something first asks for a dialect's options of the index (its
    DDL compiler, Alembic), not passed as keyword arguments: SQLAlchemy validates those by importing
    the dialect, and the PostgreSQL one cost every read command about 20 ms on SQLite too
    (docs/performance.md). ``tests/unit/test_tables.py`` pins the DDL.
    """
    options = index.dialect_options
    populate = options.creator

    def with_where(dialect: str) -> Any:
        found = populate(dialect)
        if dialect in ("postgresql", "sqlite"):
            found["where"] = where
        return found

    options.creator = with_where
    return index


def _set(column: str) -> ClauseElement:
    """``column IS NOT NULL``: the rows a lookup by ``column`` can want."""
    return text(f"{column} IS NOT NULL")


# --- reference data ----------------------------------------------------------------------------

ACCOUNTS = Table(
    "gl_accounts",
    METADATA,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("type", String(16), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    CheckConstraint(f"type IN {ACCOUNT_TYPES}", name="type"),
)

# An org unit and its default cash, AR, unapplied and credit write-off accounts.
ORG_UNITS = Table(
    "org_units",
    METADATA,
    Column("code", String(32), primary_key=True),
    Column("cash_account", ForeignKey("gl_accounts.code"), nullable=False),
    Column("ar_account", ForeignKey("gl_accounts.code"), nullable=False),
    Column("unapplied_account", ForeignKey("gl_accounts.code"), nullable=False),
    Column("credit_writeoff_account", ForeignKey("gl_accounts.code"), nullable=False),
    # Its matching rules and tolerances (docs/rules.md section 14) as JSON; NULL: the defaults.
    Column("matching", Text, nullable=True),
)

# A subsystem (MTG, SUB, FND…) with its payment priority.
SUBSYSTEMS = Table(
    "subsystems",
    METADATA,
    Column("code", String(32), primary_key=True),
    Column("priority", SmallInteger, nullable=False),
    CheckConstraint("priority BETWEEN 0 AND 99", name="priority"),
)

# A product with its priority within the subsystem and its accounts.
PRODUCTS = Table(
    "products",
    METADATA,
    Column("code", String(64), primary_key=True),
    Column("subsystem", ForeignKey("subsystems.code"), nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("revenue_account", ForeignKey("gl_accounts.code"), nullable=False),
    Column("writeoff_account", ForeignKey("gl_accounts.code"), nullable=False),
    Column("inventoried", Boolean, nullable=False, default=False),
    CheckConstraint("priority BETWEEN 0 AND 99", name="priority"),
)

# A customer; a child account may be billed to its parent.
CUSTOMERS = Table(
    "customers",
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("parent_id", ForeignKey("customers.id"), nullable=True),
    Column("bills_to_parent", Boolean, nullable=False, default=False),
)

# A payer's bank account (routing/account or IBAN, normalised) registered to the one customer it
# identifies when a receipt names no customer (docs/rules.md section 14, rule 3).
PAYER_ACCOUNTS = Table(
    "payer_accounts",
    METADATA,
    Column("account", String(100), primary_key=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=False),
    _created_at(),
    Index(None, "customer_id"),
)

PERIODS = Table(
    "periods",
    METADATA,
    Column("name", String(32), primary_key=True),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("is_open", Boolean, nullable=False, default=True),
    CheckConstraint("start_date <= end_date", name="range"),
)

# --- orders ------------------------------------------------------------------------------------

# An order: one customer, one org unit, one currency.
ORDERS = Table(
    "orders",
    METADATA,
    _id(),
    Column("number", String(64), nullable=False, unique=True),
    Column("customer_id", ForeignKey("customers.id"), nullable=False),
    Column("org_unit", ForeignKey("org_units.code"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("order_date", Date, nullable=False),
    # The number as remittance text names it (ledger.domain.remittance.order_key): case, separators
    # and leading zeros ignored. Not unique: O-12 and O-012 share a key.
    Column("number_key", String(64), nullable=False),
    Index(None, "number_key"),
    Index(None, "customer_id"),
)

# An invoiced order line and its cached balance; fillfactor 80 on PostgreSQL (migration 0003):
# balances update in place.
LINES = Table(
    "order_lines",
    METADATA,
    _id(),
    Column("order_id", ForeignKey("orders.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("product", ForeignKey("products.code"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("ar_account", ForeignKey("gl_accounts.code"), nullable=False),
    Column("shipped", Boolean, nullable=False, default=False),
    # Cached running sum of the line's AR entries, moved in the same transaction as they are
    # posted; `arledger check` proves it equals the entries.
    Column("balance_minor", BigInteger, nullable=False),
    UniqueConstraint("order_id", "line_no"),
    CheckConstraint("amount_minor >= 0", name="amount"),
    CheckConstraint("line_no > 0", name="line_no"),
)

# --- intake ------------------------------------------------------------------------------------

# Money received: persisted at intake (the inbox) before anything distributes it.
RECEIPTS = Table(
    "receipts",
    METADATA,
    _id(),
    Column("source", String(32), nullable=False),
    # The source-derived idempotency key (docs/rules.md section 6): gateway + event id, file hash +
    # batch + item, operator + external id.
    Column("external_key", String(300), nullable=False, unique=True),
    Column("payload_hash", String(64), nullable=False),
    Column("customer_id", ForeignKey("customers.id"), nullable=True),
    Column("org_unit", ForeignKey("org_units.code"), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("received_date", Date, nullable=False),
    # Operator receipts refuse closed periods; automated ones move to the next open day.
    Column("automated", Boolean, nullable=False, default=False),
    # The request as the source sent it (JSON, amounts in minor units): what the idempotency key
    # is compared against, and where the money was meant to go ("orders").
    Column("request", Text, nullable=False),
    Column("status", String(16), nullable=False, default="queued"),
    Column("status_reason", Text, nullable=True),
    _created_at(),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    # The gateway's payment ("<gateway>:<payment_id>"): one receipt per payment, whatever event
    # ids the gateway sends it under. Refunds and disputes find their receipt by it.
    Column("reference", String(300), nullable=True),
    # After a partial refund the receipt is reversed and the rest received again as a new receipt
    # that replaces it; a later refund of the same payment follows the chain.
    Column("replaces_id", ForeignKey("receipts.id"), nullable=True),
    Column("lockbox_file_id", ForeignKey("lockbox_files.id"), nullable=True),
    # How matching placed it (docs/rules.md section 14): the rule, the order numbers, text or payer
    # account that decided it (JSON list), and for a receipt left waiting the orders suggested
    # (JSON list of {"order", "reason"}).
    Column("match_rule", String(48), nullable=True),
    Column("match_references", Text, nullable=True),
    Column("suggestions", Text, nullable=True),
    # Who paid, as the bank names them (a camt credit's debtor): shown to a clerk, never matched on.
    Column("payer_name", String(140), nullable=True),
    CheckConstraint("amount_minor > 0", name="amount"),
    CheckConstraint(f"status IN {RECEIPT_STATUSES}", name="status"),
    # Partial indexes (migration 0003): only the rows a lookup can want pay for an entry.
    _partial(Index("ix_receipts_status", "status"), text(WAITING)),
)

for _name, _unique in (("reference", True), ("replaces_id", False), ("lockbox_file_id", False)):
    _partial(
        Index(f"ix_receipts_{_name}", RECEIPTS.c[_name], unique=_unique),
        RECEIPTS.c[_name].is_not(None),
    )

# A bank lockbox file, recorded once (by content hash and by bank file id) before its checks are
# received as receipts.
LOCKBOX_FILES = Table(
    "lockbox_files",
    METADATA,
    _id(),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("bank_file_id", String(64), nullable=True, unique=True),
    Column("name", String(300), nullable=False),
    Column("format", String(8), nullable=False),
    Column("items", Integer, nullable=False),
    # False while its checks are being received: importing it again resumes instead of refusing.
    Column("complete", Boolean, nullable=False, default=False, server_default=true()),
    # A bank statement's debit entries, counted and skipped (docs/rules.md section 13).
    Column("debits_skipped", Integer, nullable=False, default=0, server_default=text("0")),
    _created_at(),
)

# A gateway event that is not itself money (a refund, a dispute): persisted under its
# source-derived key before it is processed, so a lost task loses nothing.
INTAKE_EVENTS = Table(
    "intake_events",
    METADATA,
    _id(),
    Column("source", String(32), nullable=False),
    Column("external_key", String(300), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("reference", String(300), nullable=False, index=True),  # the payment it concerns
    Column("status", String(16), nullable=False, default="queued"),
    Column("status_reason", Text, nullable=True),
    Column("receipt_id", ForeignKey("receipts.id"), nullable=True),
    _created_at(),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("status IN ('queued', 'waiting', 'done', 'failed')", name="status"),
    Index(None, "status"),
)

# A task message that could not be processed (malformed body, a bug): kept with its reason for
# an operator instead of blocking or vanishing from the queue.
POISON_MESSAGES = Table(
    "poison_messages",
    METADATA,
    _id(),
    Column("task", String(100), nullable=False),
    Column("body", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False, default="open"),
    _created_at(),
)

# How far the GL publisher has delivered: every commit with ``seq <= published_seq`` is
# published. A row of its own, so publishing never holds the clock that writers seal with.
PUBLISHER_CURSOR = Table(
    "publisher_cursor",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("published_seq", BigInteger, nullable=False, default=0),
    CheckConstraint("id = 1", name="single_row"),
)

# --- the ledger --------------------------------------------------------------------------------

# One database transaction's worth of journals, numbered in commit order: ``seq`` is taken from
# the outbox clock as the transaction's last step, under the clock's row lock, so sequence order
# is commit order and has no gaps; ``chain_hash`` chains each commit's content to the previous
# one, so `arledger check` can prove no posted row was changed or removed.
COMMITS = Table(
    "ledger_commits",
    METADATA,
    _id(),
    Column("seq", BigInteger, nullable=True, unique=True),
    Column("chain_hash", String(64), nullable=True),
    Column("committed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A subledger transaction and its GL journal: one row, one id.
JOURNALS = Table(
    "journals",
    METADATA,
    _id(),
    Column("commit_id", ForeignKey("ledger_commits.id"), nullable=False),
    Column("type", String(24), nullable=False),
    Column("code", SmallInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("posting_date", Date, nullable=False),
    Column("original_date", Date, nullable=True),
    Column("order_id", ForeignKey("orders.id"), nullable=True),
    Column("receipt_id", ForeignKey("receipts.id"), nullable=True),
    Column("write_off_id", ForeignKey("write_offs.id"), nullable=True),
    Column("reverses_id", ForeignKey("journals.id"), nullable=True),
    Column("memo", Text, nullable=True),
    CheckConstraint("amount_minor > 0", name="amount"),
    Index(None, "order_id"),
    _partial(Index("ix_journals_receipt_id", "receipt_id"), _set("receipt_id")),
    _partial(Index("ix_journals_write_off_id", "write_off_id"), _set("write_off_id")),
    _partial(Index("ix_journals_reverses_id", "reverses_id"), _set("reverses_id")),
    Index(None, "commit_id"),
)

# One debit or credit of a journal, with the order line it concerns where it concerns one.
JOURNAL_LINES = Table(
    "journal_lines",
    METADATA,
    _id(),
    Column("journal_id", ForeignKey("journals.id"), nullable=False),
    Column("account", ForeignKey("gl_accounts.code"), nullable=False),
    Column("debit_minor", BigInteger, nullable=False),
    Column("credit_minor", BigInteger, nullable=False),
    Column("order_id", ForeignKey("orders.id"), nullable=True),
    Column("line_id", ForeignKey("order_lines.id"), nullable=True),
    CheckConstraint(
        "(debit_minor > 0 AND credit_minor = 0) OR (credit_minor > 0 AND debit_minor = 0)",
        name="one_side",
    ),
    Index(None, "journal_id"),
)

# A line-level write-off; its reversed amount is derived from the journals that reverse it.
WRITE_OFFS = Table(
    "write_offs",
    METADATA,
    _id(),
    Column("order_id", ForeignKey("orders.id"), nullable=False),
    Column("line_id", ForeignKey("order_lines.id"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("advanced", Boolean, nullable=False, default=False),
    Column("reason", String(32), nullable=False),
    Column("comment", Text, nullable=True),  # internal: never on a statement
    Column("debit_account", ForeignKey("gl_accounts.code"), nullable=False),
    Column("credit_account", ForeignKey("gl_accounts.code"), nullable=False),
    Column("posting_date", Date, nullable=False),
    # Written off by matching's tolerance for a short payment, not by an operator.
    Column("automatic", Boolean, nullable=False, default=False, server_default=false()),
    CheckConstraint("amount_minor > 0", name="amount"),
    CheckConstraint("kind IN ('debit', 'zero', 'credit')", name="kind"),
    Index(None, "line_id"),
    Index(None, "order_id"),
)

# A single row: the last commit sequence handed out and its chain hash.
CLOCK = Table(
    "outbox_clock",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("chain_hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)
