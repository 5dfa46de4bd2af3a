"""The fault suite: docs/rules.md sections 6-9 proven under faults on real services (docs/reliability.md)."""
