"""Matching (docs/rules.md section 14): what it reads and what it records.

- ``orders.number_key``: the order number as remittance text names it, backfilled with
  :func:`ledger.domain.remittance.order_key`, indexed; ``orders(customer_id)`` indexed, since
  matching reads a customer's open orders.
- ``payer_accounts``: a payer's bank account registered to one customer.
- ``org_units.matching``: an org unit's rules and tolerances (JSON; NULL means the defaults).
- ``receipts.match_rule`` / ``match_references`` / ``suggestions``: how a receipt was placed,
  and the orders suggested for one left waiting.
- ``write_offs.automatic``: a short payment's shortfall written off by the tolerance.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from ledger.domain.remittance import order_key

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("number_key", sa.String(64), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, number FROM orders")).all()
    if rows:
        bind.execute(
            sa.text("UPDATE orders SET number_key = :key WHERE id = :id"),
            [{"id": row.id, "key": order_key(row.number)} for row in rows],
        )
    if bind.dialect.name == "postgresql":
        # SQLite cannot add NOT NULL to a column without rebuilding the table, which its foreign
        # keys forbid while order lines point at it; every insert path sets the key anyway.
        op.alter_column("orders", "number_key", existing_type=sa.String(64), nullable=False)
    op.create_index("ix_orders_number_key", "orders", ["number_key"])
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])

    op.create_table(
        "payer_accounts",
        sa.Column("account", sa.String(100), nullable=False),
        sa.Column(
            "customer_id",
            sa.String(64),
            sa.ForeignKey("customers.id", name="fk_payer_accounts_customer_id_customers"),
            nullable=False,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("account", name="pk_payer_accounts"),
    )
    op.create_index("ix_payer_accounts_customer_id", "payer_accounts", ["customer_id"])
    op.add_column("org_units", sa.Column("matching", sa.Text(), nullable=True))
    op.add_column("receipts", sa.Column("match_rule", sa.String(48), nullable=True))
    op.add_column("receipts", sa.Column("match_references", sa.Text(), nullable=True))
    op.add_column("receipts", sa.Column("suggestions", sa.Text(), nullable=True))
    op.add_column(
        "write_offs",
        sa.Column("automatic", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("write_offs", "automatic")
    for column in ("suggestions", "match_references", "match_rule"):
        op.drop_column("receipts", column)
    op.drop_column("org_units", "matching")
    op.drop_index("ix_payer_accounts_customer_id", "payer_accounts")
    op.drop_table("payer_accounts")
    op.drop_index("ix_orders_customer_id", "orders")
    op.drop_index("ix_orders_number_key", "orders")
    op.drop_column("orders", "number_key")
