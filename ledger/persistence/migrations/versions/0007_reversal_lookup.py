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


PARTIAL = {
    # name: (table, column, predicate, unique), as migration 0003 lists its partial indexes
    "ix_journals_reverses_id": ("journals", "reverses_id", "reverses_id IS NOT NULL", False),
}


def upgrade() -> None:
    for name, (table, column, predicate, unique) in PARTIAL.items():
        op.create_index(
            name,
            table,
            [column],
            unique=unique,
            postgresql_where=sa.text(predicate),
            sqlite_where=sa.text(predicate),
        )


def downgrade() -> None:
    for name, (table, _, _, _) in PARTIAL.items():
        op.drop_index(name, table)
