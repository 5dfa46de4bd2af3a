"""The transactional outbox: journals delivered to the general ledger in commit order."""
