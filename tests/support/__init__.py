"""Helpers the tests share: databases, processes, builders, sample data and the fault harness.

Test modules import their helpers from here, never from one another, from a conftest or from
``benchmarks/`` (``tests/unit/test_test_layout.py`` holds them to it); conftest files keep only
fixtures and hooks. The benchmarks import the process helpers from here too, so nothing in this
package's ``__init__`` or in ``processes`` may need pytest.
"""
