"""Benchmarks of arledger (see docs/performance.md)."""
