"""The fault suite: SPEC sections 7-10 proven under faults on real services (docs/reliability.md)."""
