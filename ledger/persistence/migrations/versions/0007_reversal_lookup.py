"""A reversal found from the journal it reverses (docs/rules.md section 9).

- ``journals(reverses_id)``, partial (only reversals have it): what a receipt, a lockbox file or
  an order paid counts each journal once less what a RECEIPT_REVERSAL undid, and looks the
  reversal up from the journal it reverses. Without the index that lookup scans the reversals
  of every journal read, which on a file of 100,000 checks, planned on statistics taken before
  the file's journals existed, ran for minutes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_journals_reverses_id",
        "journals",
        ["reverses_id"],
        postgresql_where=sa.text("reverses_id IS NOT NULL"),
        sqlite_where=sa.text("reverses_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_journals_reverses_id", "journals")
