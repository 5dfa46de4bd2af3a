"""Matching: placing a receipt whose remittance is messy on the right orders, or on none.

docs/rules.md section 14. A receipt names an order, or carries remittance text and a payer's
account, or only an amount; the rules here decide, conservatively, which of its customer's open
orders it pays: a wrong application is worse than none. This module does no I/O: persistence
reads the candidate orders (by the keys :func:`order_key` and :func:`reference_keys` give) and
the receipt aggregate distributes over what :func:`match` decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What reads as a word of remittance text: letters, digits and the separators - _ # / .
_WORD = re.compile(r"[A-Za-z0-9\-_#/.]+")
_SEPARATORS = re.compile(r"[\-_#/.]+")
_DIGIT_RUN = re.compile(r"\d+")
# Prefixes a word may carry before the order number, longest first so INVOICE is not read as INV.
PREFIXES = ("invoice", "order", "inv", "ref", "no")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """An order suggested for a receipt left waiting, and why."""

    order: str
    reason: str


def payer_key(account: str) -> str:
    """How a payer's account is compared: spaces and dashes dropped, upper case."""
    return "".join(account.split()).replace("-", "").upper()


def order_key(text: str) -> str:
    """How an order number compares with remittance text: case ignored, separators ignored,
    leading zeros of each digit run ignored (``#o-0012`` and ``O-12`` both give ``o12``)."""
    lowered = text.lower()
    unpadded = _DIGIT_RUN.sub(lambda run: run.group().lstrip("0") or "0", lowered)
    return _SEPARATORS.sub("", unpadded)
