"""Intake commands: what every intake channel produces and the services take.

A gateway payment, a lockbox check and an operator's receipt all become one
:class:`ReceiptRequest`; its payload is what a repeat of the same intake key must match exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

from ledger.domain.money import Money


@dataclass(frozen=True)
class ReceiptRequest:
    """Money received, as an intake channel describes it.

    ``allocations`` says which orders the money is for (a lockbox check may split across several;
    a gateway payment or an operator receipt names at most one); what they do not cover is kept
    unapplied. ``automated`` receipts (gateway, lockbox) move out of closed periods; operator
    receipts dated in one are refused.
    """

    source: str
    external_id: str
    amount: Money
    received_date: date
    customer: str | None = None
    allocations: tuple[tuple[str, Money], ...] = ()
    org_unit: str | None = None
    automated: bool = False
    reference: str | None = None  # a gateway payment: "<gateway>:<payment_id>"
    replaces: int | None = None  # the receipt a partial refund reversed, whose rest this is
    remittance: str | None = None  # free text that may name orders (docs/rules.md section 14)
    payer_account: str | None = None  # the payer's bank account, which may identify the customer
    # The rest of a partial refund keeps the match of the receipt it replaces: (rule, references).
    match: tuple[str, tuple[str, ...]] | None = None

    @property
    def external_key(self) -> str:
        return f"{self.source}:{self.external_id}"

    def payload(self) -> dict[str, Any]:
        """The request as stored: what a repeat of the same key must match exactly. Remittance
        and payer account appear only when given, so requests recorded before they existed
        keep their hash."""
        payload = {
            "amount_minor": self.amount.minor,
            "currency": self.amount.currency,
            "customer": self.customer,
            "orders": [
                {"order": number, "amount_minor": amount.minor}
                for number, amount in self.allocations
            ],
            "date": self.received_date.isoformat(),
            "org_unit": self.org_unit,
            "reference": self.reference,
        }
        if self.remittance is not None:
            payload["remittance"] = self.remittance
        if self.payer_account is not None:
            payload["payer_account"] = self.payer_account
        return payload

    def payload_json(self) -> str:
        return self._payload_text

    @cached_property
    def _payload_text(self) -> str:
        # Built once: intake stores both this text and its hash, on every webhook.
        return json.dumps(self.payload(), sort_keys=True, separators=(",", ":"))

    def payload_hash(self) -> str:
        return hashlib.sha256(self.payload_json().encode()).hexdigest()
