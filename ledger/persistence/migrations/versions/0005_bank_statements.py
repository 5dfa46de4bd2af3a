"""Bank statements (docs/rules.md section 13): a file's debit entries are counted, never received.

- ``lockbox_files.debits_skipped``: how many debits a BAI2 or camt file reported, for its summary.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "lockbox_files",
        sa.Column("debits_skipped", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    op.drop_column("lockbox_files", "debits_skipped")
