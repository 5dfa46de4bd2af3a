"""Initial schema: reference data, orders, receipts, the append-only ledger and its guards.

Besides the tables, this migration installs what keeps the ledger honest even against a bug:
- PostgreSQL: a deferred constraint trigger refusing to commit a journal whose debits and credits
  differ, or whose lines do not add up to its amount (django-hordak's ``check_leg``);
- both dialects: triggers refusing UPDATE and DELETE of posted journals, journal lines and
  write-offs, and any change to the amount of a receipt or an order line (docs/rules.md section 9.5).
TRUNCATE (used by test fixtures) fires no row trigger.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The chain hash of an empty ledger (sha256 of nothing); ledger.persistence.audit starts from the same value.
GENESIS_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

_IMMUTABLE_TABLES = ("journals", "journal_lines", "write_offs")

POSTGRES_GUARDS = [
    """
    CREATE FUNCTION arledger_check_journal_balance() RETURNS trigger AS $$
    DECLARE
        debits bigint;
        credits bigint;
        legs integer;
        expected bigint;
    BEGIN
        SELECT COALESCE(SUM(debit_minor), 0), COALESCE(SUM(credit_minor), 0), COUNT(*)
          INTO debits, credits, legs
          FROM journal_lines WHERE journal_id = NEW.journal_id;
        SELECT amount_minor INTO expected FROM journals WHERE id = NEW.journal_id;
        IF debits <> credits THEN
            RAISE EXCEPTION 'unbalanced journal %: debits % <> credits %',
                NEW.journal_id, debits, credits USING ERRCODE = 'check_violation';
        END IF;
        IF legs < 2 OR debits <> expected THEN
            RAISE EXCEPTION 'journal %: % lines totalling % do not make its amount %',
                NEW.journal_id, legs, debits, expected USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE CONSTRAINT TRIGGER journal_lines_balance
        AFTER INSERT ON journal_lines
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION arledger_check_journal_balance()
    """,
    """
    CREATE FUNCTION arledger_refuse_change() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION '% of % row refused: posted ledger rows are append-only',
            TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END;
    $$ LANGUAGE plpgsql
    """,
    *[
        f"""
        CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION arledger_refuse_change()
        """
        for table in _IMMUTABLE_TABLES
    ],
    """
    CREATE TRIGGER receipts_amount_fixed BEFORE UPDATE ON receipts FOR EACH ROW
        WHEN (OLD.amount_minor IS DISTINCT FROM NEW.amount_minor
              OR OLD.currency IS DISTINCT FROM NEW.currency
              OR OLD.external_key IS DISTINCT FROM NEW.external_key)
        EXECUTE FUNCTION arledger_refuse_change()
    """,
    """
    CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
        FOR EACH ROW EXECUTE FUNCTION arledger_refuse_change()
    """,
    """
    CREATE TRIGGER order_lines_amount_fixed BEFORE UPDATE ON order_lines FOR EACH ROW
        WHEN (OLD.amount_minor IS DISTINCT FROM NEW.amount_minor)
        EXECUTE FUNCTION arledger_refuse_change()
    """,
    """
    CREATE TRIGGER order_lines_no_delete BEFORE DELETE ON order_lines
        FOR EACH ROW EXECUTE FUNCTION arledger_refuse_change()
    """,
    """
    CREATE TRIGGER ledger_commits_sealed BEFORE UPDATE ON ledger_commits FOR EACH ROW
        WHEN (OLD.seq IS NOT NULL) EXECUTE FUNCTION arledger_refuse_change()
    """,
    """
    CREATE TRIGGER ledger_commits_no_delete BEFORE DELETE ON ledger_commits
        FOR EACH ROW EXECUTE FUNCTION arledger_refuse_change()
    """,
]

POSTGRES_DROP_GUARDS = [
    *[f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in _IMMUTABLE_TABLES],
    "DROP TRIGGER IF EXISTS journal_lines_balance ON journal_lines",
    "DROP TRIGGER IF EXISTS receipts_amount_fixed ON receipts",
    "DROP TRIGGER IF EXISTS receipts_no_delete ON receipts",
    "DROP TRIGGER IF EXISTS order_lines_amount_fixed ON order_lines",
    "DROP TRIGGER IF EXISTS order_lines_no_delete ON order_lines",
    "DROP TRIGGER IF EXISTS ledger_commits_sealed ON ledger_commits",
    "DROP TRIGGER IF EXISTS ledger_commits_no_delete ON ledger_commits",
    "DROP FUNCTION IF EXISTS arledger_check_journal_balance()",
    "DROP FUNCTION IF EXISTS arledger_refuse_change()",
]


def _sqlite_refuse(name: str, event: str, table: str, when: str = "") -> str:
    return (
        f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW {when} BEGIN "
        f"SELECT RAISE(ABORT, '{event} of {table} row refused: posted ledger rows are "
        "append-only'); END"
    )


SQLITE_GUARDS = [
    *[_sqlite_refuse(f"{table}_no_update", "UPDATE", table) for table in _IMMUTABLE_TABLES],
    *[_sqlite_refuse(f"{table}_no_delete", "DELETE", table) for table in _IMMUTABLE_TABLES],
    _sqlite_refuse(
        "receipts_amount_fixed",
        "UPDATE",
        "receipts",
        "WHEN OLD.amount_minor IS NOT NEW.amount_minor OR OLD.currency IS NOT NEW.currency "
        "OR OLD.external_key IS NOT NEW.external_key",
    ),
    _sqlite_refuse("receipts_no_delete", "DELETE", "receipts"),
    _sqlite_refuse(
        "order_lines_amount_fixed",
        "UPDATE",
        "order_lines",
        "WHEN OLD.amount_minor IS NOT NEW.amount_minor",
    ),
    _sqlite_refuse("order_lines_no_delete", "DELETE", "order_lines"),
    _sqlite_refuse("ledger_commits_sealed", "UPDATE", "ledger_commits", "WHEN OLD.seq IS NOT NULL"),
    _sqlite_refuse("ledger_commits_no_delete", "DELETE", "ledger_commits"),
]


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("bills_to_parent", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["customers.id"], name=op.f("fk_customers_parent_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_table(
        "gl_accounts",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "type IN ('asset', 'liability', 'equity', 'revenue', 'expense')",
            name=op.f("ck_gl_accounts_type"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_gl_accounts")),
    )
    op.create_table(
        "ledger_commits",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("chain_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "committed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_commits")),
        sa.UniqueConstraint("seq", name=op.f("uq_ledger_commits_seq")),
    )
    op.create_table(
        "outbox_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.String(length=64), nullable=False),
        sa.Column("published_seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_outbox_clock_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_clock")),
    )
    op.create_table(
        "periods",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.CheckConstraint("start_date <= end_date", name=op.f("ck_periods_range")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periods")),
    )
    op.create_table(
        "subsystems",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("priority BETWEEN 0 AND 99", name=op.f("ck_subsystems_priority")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_subsystems")),
    )
    op.create_table(
        "org_units",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("cash_account", sa.String(length=32), nullable=False),
        sa.Column("ar_account", sa.String(length=32), nullable=False),
        sa.Column("unapplied_account", sa.String(length=32), nullable=False),
        sa.Column("credit_writeoff_account", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["ar_account"], ["gl_accounts.code"], name=op.f("fk_org_units_ar_account_gl_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["cash_account"],
            ["gl_accounts.code"],
            name=op.f("fk_org_units_cash_account_gl_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["credit_writeoff_account"],
            ["gl_accounts.code"],
            name=op.f("fk_org_units_credit_writeoff_account_gl_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["unapplied_account"],
            ["gl_accounts.code"],
            name=op.f("fk_org_units_unapplied_account_gl_accounts"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_org_units")),
    )
    op.create_table(
        "products",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("subsystem", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("revenue_account", sa.String(length=32), nullable=False),
        sa.Column("writeoff_account", sa.String(length=32), nullable=False),
        sa.Column("inventoried", sa.Boolean(), nullable=False),
        sa.CheckConstraint("priority BETWEEN 0 AND 99", name=op.f("ck_products_priority")),
        sa.ForeignKeyConstraint(
            ["revenue_account"],
            ["gl_accounts.code"],
            name=op.f("fk_products_revenue_account_gl_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["subsystem"], ["subsystems.code"], name=op.f("fk_products_subsystem_subsystems")
        ),
        sa.ForeignKeyConstraint(
            ["writeoff_account"],
            ["gl_accounts.code"],
            name=op.f("fk_products_writeoff_account_gl_accounts"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_products")),
    )
    op.create_table(
        "orders",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("org_unit", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["org_unit"], ["org_units.code"], name=op.f("fk_orders_org_unit_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_orders_number")),
    )
    op.create_table(
        "receipts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_key", sa.String(length=300), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("org_unit", sa.String(length=32), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("received_date", sa.Date(), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'applied', 'unapplied', 'unidentified', 'reversed', 'failed')",
            name=op.f("ck_receipts_status"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_receipts_amount")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_receipts_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["org_unit"], ["org_units.code"], name=op.f("fk_receipts_org_unit_org_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("external_key", name=op.f("uq_receipts_external_key")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipts_status"), ["status"], unique=False)

    op.create_table(
        "order_lines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("ar_account", sa.String(length=32), nullable=False),
        sa.Column("shipped", sa.Boolean(), nullable=False),
        sa.Column("balance_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_order_lines_amount")),
        sa.CheckConstraint("line_no > 0", name=op.f("ck_order_lines_line_no")),
        sa.ForeignKeyConstraint(
            ["ar_account"], ["gl_accounts.code"], name=op.f("fk_order_lines_ar_account_gl_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["product"], ["products.code"], name=op.f("fk_order_lines_product_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint("order_id", "line_no", name=op.f("uq_order_lines_order_id_line_no")),
    )
    op.create_table(
        "write_offs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("advanced", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("debit_account", sa.String(length=32), nullable=False),
        sa.Column("credit_account", sa.String(length=32), nullable=False),
        sa.Column("posting_date", sa.Date(), nullable=False),
        sa.CheckConstraint("kind IN ('debit', 'zero', 'credit')", name=op.f("ck_write_offs_kind")),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_write_offs_amount")),
        sa.ForeignKeyConstraint(
            ["credit_account"],
            ["gl_accounts.code"],
            name=op.f("fk_write_offs_credit_account_gl_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["debit_account"],
            ["gl_accounts.code"],
            name=op.f("fk_write_offs_debit_account_gl_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_write_offs_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_write_offs_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_offs")),
    )
    with op.batch_alter_table("write_offs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_write_offs_line_id"), ["line_id"], unique=False)

    op.create_table(
        "journals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column(
            "commit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("code", sa.SmallInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("posting_date", sa.Date(), nullable=False),
        sa.Column("original_date", sa.Date(), nullable=True),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "receipt_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "write_off_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "reverses_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_journals_amount")),
        sa.ForeignKeyConstraint(
            ["commit_id"], ["ledger_commits.id"], name=op.f("fk_journals_commit_id_ledger_commits")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_journals_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name=op.f("fk_journals_receipt_id_receipts")
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"], ["journals.id"], name=op.f("fk_journals_reverses_id_journals")
        ),
        sa.ForeignKeyConstraint(
            ["write_off_id"], ["write_offs.id"], name=op.f("fk_journals_write_off_id_write_offs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journals")),
    )
    with op.batch_alter_table("journals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journals_commit_id"), ["commit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_journals_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_journals_receipt_id"), ["receipt_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_journals_write_off_id"), ["write_off_id"], unique=False
        )

    op.create_table(
        "journal_lines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.Identity(always=False),
            nullable=False,
        ),
        sa.Column(
            "journal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("account", sa.String(length=32), nullable=False),
        sa.Column("debit_minor", sa.BigInteger(), nullable=False),
        sa.Column("credit_minor", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.CheckConstraint(
            "(debit_minor > 0 AND credit_minor = 0) OR (credit_minor > 0 AND debit_minor = 0)",
            name=op.f("ck_journal_lines_one_side"),
        ),
        sa.ForeignKeyConstraint(
            ["account"], ["gl_accounts.code"], name=op.f("fk_journal_lines_account_gl_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["journal_id"], ["journals.id"], name=op.f("fk_journal_lines_journal_id_journals")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_journal_lines_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_journal_lines_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_lines")),
    )
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_journal_lines_journal_id"), ["journal_id"], unique=False
        )

    # ### end Alembic commands ###
    op.execute(
        "INSERT INTO outbox_clock (id, last_seq, chain_hash, published_seq) "
        f"VALUES (1, 0, '{GENESIS_HASH}', 0)"
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_GUARDS:
            op.execute(statement)
    else:
        for statement in SQLITE_GUARDS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_DROP_GUARDS:
            op.execute(statement)
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_lines_journal_id"))

    op.drop_table("journal_lines")
    with op.batch_alter_table("journals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journals_write_off_id"))
        batch_op.drop_index(batch_op.f("ix_journals_receipt_id"))
        batch_op.drop_index(batch_op.f("ix_journals_order_id"))
        batch_op.drop_index(batch_op.f("ix_journals_commit_id"))

    op.drop_table("journals")
    with op.batch_alter_table("write_offs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_write_offs_line_id"))

    op.drop_table("write_offs")
    op.drop_table("order_lines")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_status"))

    op.drop_table("receipts")
    op.drop_table("orders")
    op.drop_table("products")
    op.drop_table("org_units")
    op.drop_table("subsystems")
    op.drop_table("periods")
    op.drop_table("outbox_clock")
    op.drop_table("ledger_commits")
    op.drop_table("gl_accounts")
    op.drop_table("customers")
    # ### end Alembic commands ###
