"""HOT-1, the one order that concurrent receipts race on, and the write-offs it carries first
(tests/integration/test_concurrency.py and tests/fault/test_hot_order.py)."""

from __future__ import annotations

from datetime import date

NOV = date(2026, 11, 5)
ORDER = {
    "orders": [
        {
            "number": "HOT-1",
            "customer": "C-1",
            "org_unit": "ASSN",
            "currency": "USD",
            "date": "2026-11-01",
            "lines": [
                {"line": 1, "product": "COURSE", "amount": "150.00"},
                {"line": 2, "product": "DUES", "amount": "90.00"},
                {"line": 3, "product": "DONATION", "amount": "60.00"},
                {"line": 4, "product": "JOURNAL", "amount": "40.00"},
            ],
        }
    ]
}
WRITE_OFFS = [(2, "20.00"), (3, "25.00"), (4, "10.00")]
