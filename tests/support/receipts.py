"""Receipts put in through the services, for tests that need many of them on the sample order."""

from __future__ import annotations

from datetime import date

from config.settings import Settings
from ledger.domain.money import Money
from ledger.intake.commands import ReceiptRequest
from ledger.services.receipts import distribute_receipt, submit_receipt


def paying_o100(
    key: str,
    minor: int,
    *,
    automated: bool = False,
    customer: str | None = "C-1",
    reference: str | None = None,
) -> ReceiptRequest:
    """A receipt of ``minor`` cents for C-1 paying the sample order O-100: an operator's, or a
    gateway's (automated) when asked, under the key ``key``."""
    amount = Money.from_minor(minor, "USD")
    return ReceiptRequest(
        "gateway" if automated else "operator",
        key,
        amount,
        date(2026, 11, 5),
        customer=customer,
        allocations=(("O-100", amount),),
        automated=automated,
        reference=reference,
    )


def submit_receipts(
    settings: Settings, prefix: str, count: int, *, automated: bool = False
) -> list[int]:
    """Persist ``count`` receipts paying O-100 (5.00 USD and up, a cent more each), queued and
    not yet distributed: an operator's by default, a gateway's (automated) when asked."""
    ids = []
    for n in range(count):
        amount = Money.from_minor(500 + n, "USD")
        intake = submit_receipt(
            settings,
            ReceiptRequest(
                "gateway" if automated else "operator",
                f"{prefix}-{n}",
                amount,
                date(2026, 11, 5),
                allocations=(("O-100", amount),),
                automated=automated,
                reference=f"bench:{prefix}-{n}" if automated else None,
            ),
        )
        ids.append(intake.receipt_id)
    return ids


def receive(settings: Settings, n: int) -> None:
    for i in range(n):
        amount = Money.from_minor(1000 + i, "USD")
        intake = submit_receipt(
            settings,
            ReceiptRequest(
                "operator", f"PUB-{i}", amount, date(2026, 11, 5), allocations=(("O-100", amount),)
            ),
        )
        distribute_receipt(settings, intake.receipt_id)
