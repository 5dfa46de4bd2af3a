"""What a lockbox file holds, as callers see it and as both parsers produce it.

:class:`LockboxItem` and :class:`LockboxSummary` are the values the two passes return;
``_Check`` is the parsers' cheaper form of a check (integer minor units), and
``_format_minor`` writes such an amount in a message. The CSV columns and the identifier length
limit live here because the parsers, the profile checks and the writers all use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from ledger.domain.money import Money
from ledger.intake.lockbox.errors import LockboxRefused

CSV_COLUMNS = (
    "batch",
    "item",
    "deposit_date",
    "check_number",
    "check_amount",
    "currency",
    "customer",
    "order",
    "applied_amount",
)
CSV_HEADER = ",".join(CSV_COLUMNS)
# Two optional trailing columns (docs/rules.md section 13): free remittance text and the payer's
# bank account, which matching reads when a check names no order it can use.
CSV_MATCHING_COLUMNS = (*CSV_COLUMNS, "remittance", "payer_account")
CSV_MATCHING_HEADER = ",".join(CSV_MATCHING_COLUMNS)
MAX_REMITTANCE_LENGTH = 2000

# Identifiers end up in receipt keys (file hash + batch + item, String(300)) and in order and
# customer columns (String(64)); a longer one cannot be stored, so it is refused here.
MAX_CODE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class LockboxItem:
    """One check: its amount, and the orders it names with the amount for each.

    Whatever the allocations leave of ``amount`` is unapplied money for ``customer``.
    """

    batch: str
    item: str
    deposit_date: date
    check_number: str
    amount: Money
    customer: str | None
    allocations: tuple[tuple[str, Money], ...]
    line: int
    remittance: str | None = None
    payer_account: str | None = None
    # A bank statement's own idempotency key for this credit (docs/rules.md section 13: account +
    # bank reference + date, …), so the same credit re-reported in another file is one receipt;
    # None: the key is the file's content hash + batch + item.
    key: str | None = None
    # The payer's name as the bank gives it (camt RltdPties/Dbtr), kept on the receipt for a clerk.
    payer_name: str | None = None
    # Where the remittance joins a BAI2 record to its 88 continuation with a space (offsets of
    # those spaces): a word cut there may be one word, which matching also reads glued.
    remittance_breaks: tuple[int, ...] = ()
    # Where a refusal names the check when it is not a line (camt: "entry 2 at …/TxDtls[1]").
    where: str | None = None


@dataclass(frozen=True)
class LockboxSummary:
    """What :func:`validate_file` found in a file it accepted.

    ``applied_total`` has the same currencies as ``currency_totals`` (zero where nothing was
    applied); both are empty for a file without checks.
    """

    format: str
    sha256: str
    bank_file_id: str | None
    items: int
    currency_totals: dict[str, Money]
    applied_total: dict[str, Money]
    debits_skipped: int = 0  # a bank statement's debit entries: counted, never received


class _Check(NamedTuple):
    """A check as the parsers produce it: amounts in integer minor units, cheap to make."""

    batch: str
    item: str
    deposit_date: date
    check_number: str
    amount: int
    currency: str
    customer: str | None
    allocations: tuple[tuple[str, int], ...]
    line: int
    remittance: str | None = None
    payer_account: str | None = None
    key: str | None = None
    payer_name: str | None = None
    remittance_breaks: tuple[int, ...] = ()
    # Where a refusal names the check when it is not a line (camt: "entry 2 at …/TxDtls[1]").
    where: str | None = None


class BankCredit(NamedTuple):
    """A bank statement's credit as pass 1 meets it, for a caller that checks its bank key
    against credits received before (:func:`~ledger.intake.lockbox.validate_file`)."""

    key: str
    amount: Money
    line: int | None  # the BAI2 line (LockboxRefused.line); None for camt
    where: str | None  # camt: "entry N at <element path>"; None for BAI2

    def refused(self, reason: str) -> LockboxRefused:
        """The file's refusal for this credit, placed as every refusal of its format is."""
        return LockboxRefused(self.line, f"{self.where}: {reason}" if self.where else reason)


def _format_minor(minor: int, places: int) -> str:
    # Not via Money: a control total in a refused file may be larger than any Money.
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(places + 1, "0")
    if not places:
        return sign + digits
    return f"{sign}{digits[:-places]}.{digits[-places:]}"
