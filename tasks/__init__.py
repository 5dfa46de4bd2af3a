"""Celery tasks: thin, idempotent wrappers over the ledger services."""
