"""Writing BAI2 files with the ``bai2`` package's models and record writers, streamed.

The package's file writer builds the whole file in memory; :func:`write_bai2` instead writes
each record with the package's writer for that record and keeps the control totals and record
counts itself, so a file of any size is written in constant memory (tests, the demo sample and
the benchmark generator use it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TextIO

from bai2.constants import FundsType, GroupStatus, TypeCodes
from bai2.models import (
    AccountIdentifier,
    AccountTrailer,
    Bai2FileHeader,
    Bai2FileTrailer,
    GroupHeader,
    GroupTrailer,
    Summary,
    TransactionDetail,
)
from bai2.writers import (
    AccountIdentifierWriter,
    AccountTrailerWriter,
    Bai2FileHeaderWriter,
    Bai2FileTrailerWriter,
    GroupHeaderWriter,
    GroupTrailerWriter,
    TransactionDetailWriter,
)

CREDIT = "195"  # incoming money transfer
DEBIT = "475"  # check paid


@dataclass(frozen=True, slots=True)
class Bai2Entry:
    """One ``16`` record: a type code (100–399 credit, 400–699 debit) and its amount in minor
    units, with the bank's and the customer's reference and free text."""

    type_code: str
    amount_minor: int
    bank_reference: str | None = None
    customer_reference: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Bai2Account:
    """One ``03`` account and its entries (an iterable: it may be a generator)."""

    number: str
    entries: Iterable[Bai2Entry]
    currency: str | None = None
    # (type code, amount) of the 03 record's summaries, e.g. ("015", closing ledger).
    summaries: tuple[tuple[str, int], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Bai2Group:
    """One ``02`` group: the as-of date its entries take as value date, and its accounts."""

    as_of: date
    accounts: Iterable[Bai2Account]
    currency: str | None = None


def write_bai2(
    groups: Iterable[Bai2Group],
    out: TextIO,
    *,
    sender: str = "ARLEDGERBANK",
    receiver: str = "ARLEDGER",
    created: datetime | None = None,
    file_id: str = "1",
    line_length: int = 80,
) -> None:
    """Write a complete BAI2 file of ``groups`` to ``out``, totals and counts included."""
    created = created or datetime(2026, 11, 6, 8, 0)
    file_records = 0
    file_total = 0
    group_count = 0

    def emit(rows: list[str]) -> int:
        out.write("\n".join(rows) + "\n")
        return len(rows)

    file_records += emit(
        Bai2FileHeaderWriter(
            Bai2FileHeader(
                sender_id=sender,
                receiver_id=receiver,
                creation_date=created.date(),
                creation_time=created.time().replace(second=0, microsecond=0),
                file_id=file_id,
                physical_record_length=line_length,
                block_size=None,
                version_number=2,
            )
        ).write()
    )
    for group in groups:
        group_count += 1
        group_records = emit(
            GroupHeaderWriter(
                GroupHeader(
                    ultimate_receiver_id=receiver,
                    originator_id=sender,
                    group_status=GroupStatus.update,
                    as_of_date=group.as_of,
                    as_of_time=time(0, 0),
                    currency=group.currency,
                    as_of_date_modifier=None,
                )
            ).write()
        )
        group_total = 0
        accounts = 0
        for account in group.accounts:
            accounts += 1
            summaries = [
                Summary(type_code=TypeCodes[code], amount=amount, item_count=None)
                for code, amount in account.summaries
            ]
            account_total = sum(amount for _, amount in account.summaries)
            account_records = emit(
                AccountIdentifierWriter(
                    AccountIdentifier(
                        customer_account_number=account.number,
                        currency=account.currency,
                        summary_items=summaries,
                    )
                ).write()
            )
            for entry in account.entries:
                detail = TransactionDetail(
                    type_code=TypeCodes[entry.type_code],
                    amount=entry.amount_minor,
                    funds_type=FundsType.unknown_availability,
                    availability={},
                    bank_reference=entry.bank_reference,
                    customer_reference=entry.customer_reference,
                    text=entry.text,
                )
                account_records += emit(
                    TransactionDetailWriter(detail, line_length=line_length).write()
                )
                account_total += entry.amount_minor
            account_records += 1
            emit(
                AccountTrailerWriter(
                    AccountTrailer(
                        account_control_total=account_total, number_of_records=account_records
                    )
                ).write()
            )
            group_records += account_records
            group_total += account_total
        group_records += 1
        emit(
            GroupTrailerWriter(
                GroupTrailer(
                    group_control_total=group_total,
                    number_of_accounts=accounts,
                    number_of_records=group_records,
                )
            ).write()
        )
        file_records += group_records
        file_total += group_total
    file_records += 1
    emit(
        Bai2FileTrailerWriter(
            Bai2FileTrailer(
                file_control_total=file_total,
                number_of_groups=group_count,
                number_of_records=file_records,
            )
        ).write()
    )
