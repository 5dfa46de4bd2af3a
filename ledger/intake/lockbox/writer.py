"""Writing valid lockbox files from items: :func:`write_bai` and :func:`write_csv`.

For tests, the demo and the benchmark generator. Both refuse (LockboxItemDoesNotFit) an item the
readers would refuse, so a file they write is one :func:`~ledger.intake.lockbox.validate_file`
accepts.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date
from typing import TextIO

from ledger.intake.lockbox.bai_records import _FieldValue, _Readers, _RecordReader
from ledger.intake.lockbox.errors import LockboxItemDoesNotFit
from ledger.intake.lockbox.items import (
    CSV_COLUMNS,
    CSV_MATCHING_COLUMNS,
    MAX_CODE_LENGTH,
    MAX_REMITTANCE_LENGTH,
    LockboxItem,
)
from ledger.intake.lockbox.lines import _FORBIDDEN_CHARACTER
from ledger.intake.lockbox.profile import LockboxProfile, _default_profile


def _describe(item: LockboxItem) -> str:
    return f"batch {item.batch} item {item.item}"


def _checked_amount(item: LockboxItem, currency: str | None) -> int:
    """The check amount in minor units, once the item has passed what every reader requires."""
    if currency is not None and item.amount.currency != currency:
        raise LockboxItemDoesNotFit(
            _describe(item), f"its amount is in {item.amount.currency}, the file in {currency}"
        )
    if not item.amount.is_positive:
        raise LockboxItemDoesNotFit(_describe(item), "the check amount is not positive")
    applied = 0
    for order, amount in item.allocations:
        if amount.currency != item.amount.currency or not amount.is_positive:
            raise LockboxItemDoesNotFit(
                _describe(item), f"allocation {amount.display()} to {order} is not valid"
            )
        applied += amount.minor
    if applied > item.amount.minor:
        raise LockboxItemDoesNotFit(_describe(item), "its allocations exceed the check amount")
    return item.amount.minor


class _BaiWriter:
    """Writes records through a profile, counting them for the file trailer."""

    def __init__(self, out: TextIO, profile: LockboxProfile) -> None:
        self.out = out
        self.readers = _Readers(profile)
        self.records = 0

    def emit(
        self, reader: _RecordReader, values: dict[str, _FieldValue], day: date, what: str
    ) -> None:
        try:
            line = reader.write(values, day)
        except ValueError as exc:
            raise LockboxItemDoesNotFit(what, f"{reader.label}: {exc}") from None
        self.out.write(line + "\n")
        self.records += 1


def write_bai(
    items: Iterable[LockboxItem],
    out: TextIO,
    *,
    bank_file_id: str,
    created: date,
    profile: LockboxProfile | None = None,
    lockbox_number: str = "1",
) -> None:
    """Write ``items`` as one BAI-style lockbox, with its batch, lockbox and file totals.

    Consecutive items with the same ``batch`` form one batch (a batch header each time the batch
    changes); the items of a batch must share a deposit date, and every item must be in the
    profile's currency. Streams: items are written as they come. Raises LockboxItemDoesNotFit
    for an item the profile cannot carry (a number too long for its field, a digits field given
    letters, a date its format cannot write).
    """
    profile = profile or _default_profile()
    writer = _BaiWriter(out, profile)
    readers = writer.readers
    header: dict[str, _FieldValue] = {"bank_file_id": bank_file_id, "creation_date": created}
    writer.emit(readers.file_header, header, created, "the file header")
    batch: str | None = None
    batch_date = created
    batch_items = batch_total = file_items = file_total = 0
    for item in items:
        amount = _checked_amount(item, profile.currency)
        what = _describe(item)
        if item.batch != batch:
            if batch is not None:
                closing: dict[str, _FieldValue] = {
                    "batch": batch,
                    "item_count": batch_items,
                    "total_amount": batch_total,
                }
                writer.emit(readers.batch_total, closing, batch_date, f"batch {batch}")
            batch, batch_date, batch_items, batch_total = item.batch, item.deposit_date, 0, 0
            opening: dict[str, _FieldValue] = {
                "batch": batch,
                "lockbox": lockbox_number,
                "deposit_date": batch_date,
            }
            writer.emit(readers.batch_header, opening, batch_date, what)
        elif item.deposit_date != batch_date:
            raise LockboxItemDoesNotFit(
                what, f"deposited {item.deposit_date} but its batch was deposited {batch_date}"
            )
        detail: dict[str, _FieldValue] = {
            "batch": item.batch,
            "item": item.item,
            "amount": amount,
            "check_number": item.check_number,
            "customer": item.customer or "",
        }
        writer.emit(readers.check, detail, batch_date, what)
        for order, applied in item.allocations:
            overflow: dict[str, _FieldValue] = {
                "batch": item.batch,
                "item": item.item,
                "order": order,
                "amount": applied.minor,
            }
            writer.emit(readers.overflow, overflow, batch_date, what)
        batch_items += 1
        batch_total += amount
        file_items += 1
        file_total += amount
    if batch is not None:
        last: dict[str, _FieldValue] = {
            "batch": batch,
            "item_count": batch_items,
            "total_amount": batch_total,
        }
        writer.emit(readers.batch_total, last, batch_date, f"batch {batch}")
    lockbox: dict[str, _FieldValue] = {
        "lockbox": lockbox_number,
        "item_count": file_items,
        "total_amount": file_total,
    }
    writer.emit(readers.lockbox_total, lockbox, created, "the lockbox total")
    trailer: dict[str, _FieldValue] = {
        "record_count": writer.records + 1,
        "total_amount": file_total,
    }
    writer.emit(readers.file_trailer, trailer, created, "the file trailer")


def write_csv(
    items: Iterable[LockboxItem], out: TextIO, *, matching_columns: bool | None = None
) -> None:
    """Write ``items`` as a CSV lockbox file: one row per allocation, one row if there is none.

    The two optional trailing columns, ``remittance`` and ``payer_account``, are written when
    ``matching_columns`` is true, or, when it is None, when any item carries either; deciding
    that reads the items first, so a caller streaming a large file says which it wants. Streams
    otherwise. Raises LockboxItemDoesNotFit for an item the CSV reader would refuse or read back
    differently, and for remittance or a payer account in a file written without the columns.
    """
    if matching_columns is None:
        listed = items if isinstance(items, Sequence) else list(items)
        matching_columns = any(_carries_matching(item) for item in listed)
        items = listed
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_MATCHING_COLUMNS if matching_columns else CSV_COLUMNS)
    for item in items:
        _checked_amount(item, None)
        codes = [("batch", item.batch), ("item", item.item), ("check_number", item.check_number)]
        if item.customer:
            codes.append(("customer", item.customer))
        if item.payer_account is not None:
            codes.append(("payer_account", item.payer_account))
        codes.extend(("order", order) for order, _ in item.allocations)
        for column, value in codes:
            if not _is_code(value):
                raise LockboxItemDoesNotFit(_describe(item), f"{column} {value!r} is not valid")
        first = [
            item.batch,
            item.item,
            item.deposit_date.isoformat(),
            item.check_number,
            str(item.amount),
            item.amount.currency,
            item.customer or "",
        ]
        last: list[str] = []
        if matching_columns:
            _check_remittance(item)
            last = [item.remittance or "", item.payer_account or ""]
        elif _carries_matching(item):
            raise LockboxItemDoesNotFit(
                _describe(item), "it carries remittance or a payer account, the file has no column"
            )
        if not item.allocations:
            writer.writerow([*first, "", "", *last])
        for order, applied in item.allocations:
            writer.writerow([*first, order, str(applied), *last])


def _carries_matching(item: LockboxItem) -> bool:
    return item.remittance is not None or item.payer_account is not None


def _check_remittance(item: LockboxItem) -> None:
    """Refuse remittance the reader would refuse, or would read back as something else (it
    strips the text and reads an empty field as none)."""
    text = item.remittance
    if text is None:
        return
    if not text or text != text.strip():
        raise LockboxItemDoesNotFit(
            _describe(item), f"remittance {text!r} is empty or has surrounding spaces"
        )
    if len(text) > MAX_REMITTANCE_LENGTH or "\n" in text or "\r" in text:
        raise LockboxItemDoesNotFit(
            _describe(item),
            f"remittance is longer than {MAX_REMITTANCE_LENGTH} characters or has a line break",
        )
    if _FORBIDDEN_CHARACTER.search(text) is not None:
        raise LockboxItemDoesNotFit(_describe(item), "remittance holds a control character")


def _is_code(value: str) -> bool:
    return (
        0 < len(value) <= MAX_CODE_LENGTH
        and value == value.strip()
        and "\n" not in value
        and _FORBIDDEN_CHARACTER.search(value) is None
    )
