"""The payer's name on a receipt (docs/rules.md section 13): a camt credit's debtor name, kept so
that a clerk sees who paid in `receipt show` and the exception queue.

- ``receipts.payer_name``: nullable; only intakes whose source gives a name fill it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("receipts", sa.Column("payer_name", sa.String(140), nullable=True))


def downgrade() -> None:
    op.drop_column("receipts", "payer_name")
