"""Services: one function per command, each one database transaction.

A service takes settings and plain values, opens a unit of work, loads the aggregates it needs,
runs one domain rule, stores what the rule produced and commits as its last step. A refusal
raises before the commit and leaves nothing changed.
"""
