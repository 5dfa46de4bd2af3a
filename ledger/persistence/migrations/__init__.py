"""Alembic migrations of the arledger schema."""
