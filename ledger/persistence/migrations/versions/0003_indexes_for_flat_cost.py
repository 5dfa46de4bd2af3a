"""Indexes and storage settings that keep the cost of a receipt flat as the ledger grows, and
resumable lockbox imports.

- ``write_offs(order_id)``: distribution loads an order's write-offs; without the index it scans
  them all.
- ``order_lines`` fillfactor 80: every receipt rewrites its lines' cached balances; free space in
  each page lets PostgreSQL update them in place (HOT) without touching the indexes.
- partial indexes on ``receipts`` and ``journals``: an index entry costs a write at every
  insert and at every non-HOT update, and a lockbox check is inserted queued and updated once
  distributed. Status is only ever searched for the states that wait (queued, unapplied,
  unidentified, failed); references, replaced receipts, lockbox files and write-offs only where
  they are set. Each index keeps the same lookups fast and skips the rows that never match.
- ``lockbox_files.complete``: a file's checks are received in committed chunks; a file not yet
  complete is resumed by importing it again rather than refused as a duplicate.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


WAITING = "status IN ('queued', 'unapplied', 'unidentified', 'failed')"
PARTIAL = {
    # name: (table, column, predicate, unique)
    "ix_receipts_status": ("receipts", "status", WAITING, False),
    "ix_receipts_reference": ("receipts", "reference", "reference IS NOT NULL", True),
    "ix_receipts_replaces_id": ("receipts", "replaces_id", "replaces_id IS NOT NULL", False),
    "ix_receipts_lockbox_file_id": (
        "receipts",
        "lockbox_file_id",
        "lockbox_file_id IS NOT NULL",
        False,
    ),
    "ix_journals_write_off_id": ("journals", "write_off_id", "write_off_id IS NOT NULL", False),
    "ix_journals_receipt_id": ("journals", "receipt_id", "receipt_id IS NOT NULL", False),
}


def upgrade() -> None:
    for name, (table, column, predicate, unique) in PARTIAL.items():
        op.drop_index(name, table)
        op.create_index(
            name,
            table,
            [column],
            unique=unique,
            postgresql_where=sa.text(predicate),
            sqlite_where=sa.text(predicate),
        )
    op.create_index(op.f("ix_write_offs_order_id"), "write_offs", ["order_id"])
    # Files imported before this revision were received in one transaction: complete.
    op.execute("ALTER TABLE lockbox_files ADD COLUMN complete BOOLEAN NOT NULL DEFAULT TRUE")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE order_lines SET (fillfactor = 80)")


def downgrade() -> None:
    for name, (table, column, _predicate, unique) in PARTIAL.items():
        op.drop_index(name, table)
        op.create_index(name, table, [column], unique=unique)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE order_lines RESET (fillfactor)")
    op.execute("ALTER TABLE lockbox_files DROP COLUMN complete")
    op.drop_index(op.f("ix_write_offs_order_id"), "write_offs")
