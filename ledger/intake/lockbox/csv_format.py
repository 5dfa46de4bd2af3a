"""The CSV lockbox parser: rows become checks, adjacent rows of one ``batch,item`` one split check.

:func:`_csv_checks` reads the rows after the header line and yields each check once its last row
has been seen, refusing the file (with the line) at the first row that breaks a rule.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from ledger.domain.errors import InputRefused
from ledger.domain.money import Money, currency_decimals
from ledger.intake.lockbox.errors import LockboxRefused
from ledger.intake.lockbox.items import (
    CSV_MATCHING_COLUMNS,
    MAX_CODE_LENGTH,
    MAX_REMITTANCE_LENGTH,
    _Check,
    _format_minor,
)

_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def _check_code(value: str, column: str, line: int, *, required: bool) -> str | None:
    if not value:
        if required:
            raise LockboxRefused(line, f"{column} is empty")
        return None
    if len(value) > MAX_CODE_LENGTH:
        raise LockboxRefused(
            line, f"{column} is {len(value)} characters long, at most {MAX_CODE_LENGTH} allowed"
        )
    if value != value.strip():
        raise LockboxRefused(line, f"{column} {value!r} has leading or trailing spaces")
    if "\n" in value:
        # Only a quoted CSV field can hold one; no bank identifier does.
        raise LockboxRefused(line, f"{column} {value!r} contains a line break")
    return value


@dataclass(slots=True)
class _CsvCheck:
    """The rows of one CSV check seen so far, with its first row for comparison."""

    batch: str
    item: str
    first_row: list[str]
    line: int
    deposit_date: date
    check_number: str
    amount: int
    currency: str
    places: int
    customer: str | None
    remittance: str | None = None
    payer_account: str | None = None
    allocations: list[tuple[str, int]] = field(default_factory=list)
    applied: int = 0
    unallocated_row: int | None = None

    def finish(self) -> _Check:
        return _Check(
            self.batch,
            self.item,
            self.deposit_date,
            self.check_number,
            self.amount,
            self.currency,
            self.customer,
            tuple(self.allocations),
            self.line,
            self.remittance,
            self.payer_account,
        )


def _csv_checks(lines: Iterator[str], width: int) -> Iterator[_Check]:
    """The checks of a CSV lockbox file whose header line, of ``width`` columns, has been read."""
    columns = CSV_MATCHING_COLUMNS[:width]
    header = ",".join(columns)
    reader = csv.reader((line + "\n" for line in lines), strict=True)
    check: _CsvCheck | None = None
    end_line = 1
    try:
        for row in reader:
            line = end_line + 1
            end_line = reader.line_num + 1
            if not row:
                raise LockboxRefused(line, "blank line")
            if len(row) != width:
                raise LockboxRefused(line, f"expected {width} fields ({header}), found {len(row)}")
            batch = _check_code(row[0], "batch", line, required=True)
            item = _check_code(row[1], "item", line, required=True)
            assert batch is not None and item is not None
            if check is not None and check.batch == batch and check.item == item:
                _csv_same_check(check, row, line)
            else:
                if check is not None:
                    yield check.finish()
                check = _csv_new_check(batch, item, row, line)
            _csv_allocation(check, row, line)
    except csv.Error as exc:
        raise LockboxRefused(reader.line_num + 1, f"malformed CSV: {exc}") from None
    if check is not None:
        yield check.finish()


def _csv_new_check(batch: str, item: str, row: list[str], line: int) -> _CsvCheck:
    _, _, deposit_text, check_number, amount_text, currency, customer = row[:7]
    remittance, payer_account = (row[9], row[10]) if len(row) > 9 else ("", "")
    places = _csv_currency(currency, line)
    amount = _csv_amount(amount_text, currency, "check_amount", line)
    number = _check_code(check_number, "check_number", line, required=True)
    assert number is not None
    return _CsvCheck(
        batch=batch,
        item=item,
        first_row=row,
        line=line,
        deposit_date=_csv_date(deposit_text, line),
        check_number=number,
        amount=amount,
        currency=currency,
        places=places,
        customer=_check_code(customer, "customer", line, required=False),
        remittance=_remittance(remittance, line),
        payer_account=_check_code(payer_account, "payer_account", line, required=False),
    )


def _remittance(text: str, line: int) -> str | None:
    """Free text: any characters but line breaks, at most MAX_REMITTANCE_LENGTH of them."""
    text = text.strip()
    if len(text) > MAX_REMITTANCE_LENGTH:
        raise LockboxRefused(
            line,
            f"remittance is {len(text)} characters long, at most {MAX_REMITTANCE_LENGTH} allowed",
        )
    if "\n" in text or "\r" in text:
        raise LockboxRefused(line, "remittance contains a line break")
    return text or None


def _csv_same_check(check: _CsvCheck, row: list[str], line: int) -> None:
    # Raw text that matches the first row needs no second parse; only check_amount may be
    # written differently ("100.0" and "100.00") and still agree.
    for index in (2, 3, 4, 5, 6, *range(9, len(row))):
        if row[index] == check.first_row[index]:
            continue
        if index == 4 and _csv_amount(row[4], check.currency, "check_amount", line) == check.amount:
            continue
        raise LockboxRefused(
            line,
            f"{CSV_MATCHING_COLUMNS[index]} {row[index]!r} disagrees with {check.first_row[index]!r} on "
            f"line {check.line}, the first row of batch {check.batch} item {check.item}",
        )


def _csv_allocation(check: _CsvCheck, row: list[str], line: int) -> None:
    order_text, applied_text = row[7], row[8]
    if not order_text and not applied_text:
        if check.unallocated_row is not None:
            raise LockboxRefused(
                line,
                f"batch {check.batch} item {check.item} has a second row without an order "
                f"(the first is line {check.unallocated_row})",
            )
        check.unallocated_row = line
    elif not order_text:
        raise LockboxRefused(line, f"applied_amount {applied_text} names no order")
    elif not applied_text:
        raise LockboxRefused(line, f"order {order_text} has no applied_amount")
    else:
        order = _check_code(order_text, "order", line, required=True)
        assert order is not None
        applied = _csv_amount(applied_text, check.currency, "applied_amount", line)
        check.allocations.append((order, applied))
        check.applied += applied
        if check.applied > check.amount:
            raise LockboxRefused(
                line,
                f"applied amounts of batch {check.batch} item {check.item} add up to "
                f"{_format_minor(check.applied, check.places)}, more than its check_amount "
                f"{_format_minor(check.amount, check.places)}",
            )
    if check.unallocated_row is not None and check.allocations:
        raise LockboxRefused(
            line,
            f"batch {check.batch} item {check.item} is split across rows but line "
            f"{check.unallocated_row} names no order: every row of a split check needs an order "
            "and an applied_amount",
        )


def _csv_currency(code: str, line: int) -> int:
    try:
        return currency_decimals(code)
    except InputRefused as exc:
        raise LockboxRefused(line, exc.message) from None


def _csv_amount(text: str, currency: str, column: str, line: int) -> int:
    try:
        minor = Money.parse(text, currency, what=column).minor
    except InputRefused as exc:
        raise LockboxRefused(line, exc.message) from None
    if minor <= 0:
        raise LockboxRefused(line, f"{column} must be greater than zero, got {text}")
    return minor


def _csv_date(text: str, line: int) -> date:
    match = _ISO_DATE.fullmatch(text)
    if match is None:
        raise LockboxRefused(line, f"deposit_date {text!r} is not a date in the form YYYY-MM-DD")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise LockboxRefused(line, f"deposit_date {text} does not exist") from None
