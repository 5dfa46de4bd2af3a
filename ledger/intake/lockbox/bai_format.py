"""The BAI-style fixed-width lockbox parser: records in order, every control total checked.

:class:`_BaiParser` reads a file record by record through a profile's record readers, follows
where it stands (in a batch, in a check, between lockboxes…) to refuse a record out of order,
checks each batch, lockbox and file total against what it closes, and yields each check once its
overflow records are complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import NoReturn

from ledger.domain.money import currency_decimals
from ledger.intake.lockbox.bai_records import _FieldValue, _Readers, _RecordReader
from ledger.intake.lockbox.errors import LockboxRefused
from ledger.intake.lockbox.items import _Check, _format_minor
from ledger.intake.lockbox.profile import LockboxProfile


def _identifier(value: _FieldValue) -> str:
    # Digits fields are numbers ("000042" is batch 42); text fields keep their characters.
    return value if isinstance(value, str) else str(value)


def _count(value: _FieldValue) -> int:
    assert isinstance(value, int)
    return value


@dataclass(slots=True)
class _OpenCheck:
    batch: str
    item: str
    deposit_date: date
    check_number: str
    amount: int
    customer: str | None
    line: int
    allocations: list[tuple[str, int]] = field(default_factory=list)
    applied: int = 0


@dataclass(slots=True)
class _OpenBatch:
    batch: str
    deposit_date: date
    line: int
    items: int = 0
    total: int = 0


# Where the parser stands, i.e. which records may come next.
_AFTER_FILE_HEADER = "after the file header"  # 5 or 8
_IN_BATCH = "in a batch"  # 6 or 7
_IN_CHECK = "in a check"  # 4, 6 or 7
_BETWEEN_BATCHES = "between batches"  # 5 or 8
_AFTER_LOCKBOX = "after a lockbox total"  # 5, 8 or 9
_DONE = "after the file trailer"  # nothing


class _BaiParser:
    """Validates a BAI-style file record by record, yielding each check once it is complete."""

    def __init__(self, profile: LockboxProfile) -> None:
        self.readers = _Readers(profile)
        self.currency = profile.currency
        self.places = currency_decimals(profile.currency)
        self.record_length = profile.record_length
        self.bank_file_id: str | None = None
        self.state = _AFTER_FILE_HEADER
        self.records = 0
        self.file_total = 0
        self.lockbox: str | None = None
        self.lockbox_line = 0
        self.lockbox_items = 0
        self.lockbox_total = 0
        self.batch: _OpenBatch | None = None
        self.check: _OpenCheck | None = None
        self.trailer_line = 0

    def checks(self, first: str, lines: Iterator[str]) -> Iterator[_Check]:
        r = self.readers
        self._file_header(self._record(first, 1), 1)
        number = 1
        for number, line in enumerate(lines, 2):
            text = self._record(line, number)
            code = text[0]
            if self.state is _DONE:
                raise LockboxRefused(
                    number, f"record after the file trailer (line {self.trailer_line})"
                )
            if code == r.check.code:
                finished = self._check(text, number)
                if finished is not None:
                    yield finished
            elif code == r.overflow.code:
                self._overflow(text, number)
            elif code == r.batch_total.code:
                finished = self._batch_total(text, number)
                if finished is not None:
                    yield finished
            elif code == r.batch_header.code:
                self._batch_header(text, number)
            elif code == r.lockbox_total.code:
                self._lockbox_total(text, number)
            elif code == r.file_trailer.code:
                self._file_trailer(text, number)
            elif code == r.file_header.code:
                raise LockboxRefused(
                    number, f"a second {r.file_header.label}: a file has one, on line 1"
                )
            else:
                raise LockboxRefused(number, f"unknown record type {code!r} in column 1")
        self._end(number)

    def _record(self, line: str, number: int) -> str:
        self.records += 1
        if len(line) > self.record_length:
            raise LockboxRefused(
                number,
                f"line is {len(line)} characters long; records are at most {self.record_length}",
            )
        if not line.strip():
            raise LockboxRefused(number, "blank line: every line of a BAI file is a record")
        return line.ljust(self.record_length)

    # --- records, in file order ---------------------------------------------------------------

    def _file_header(self, text: str, number: int) -> None:
        values = self.readers.file_header.read(text, number)
        bank_file_id = _identifier(values["bank_file_id"])
        if not bank_file_id:
            raise LockboxRefused(number, "file header has no bank file id")
        self.bank_file_id = bank_file_id

    def _batch_header(self, text: str, number: int) -> None:
        reader = self.readers.batch_header
        if self.state in (_IN_BATCH, _IN_CHECK):
            self._refuse_open_batch(number, f"a {reader.label}")
        values = reader.read(text, number)
        batch = _identifier(values["batch"])
        lockbox = _identifier(values["lockbox"]) if "lockbox" in values else None
        if not batch:
            raise LockboxRefused(number, f"{reader.label}: batch is blank")
        if self.state is _BETWEEN_BATCHES and lockbox != self.lockbox:
            raise LockboxRefused(
                number,
                f"{reader.label}: lockbox {lockbox} differs from lockbox {self.lockbox} of line "
                f"{self.lockbox_line}; a lockbox ends with a {self.readers.lockbox_total.label}",
            )
        if self.state is not _BETWEEN_BATCHES:
            self.lockbox = lockbox
            self.lockbox_line = number
        deposit_date = values["deposit_date"]
        assert isinstance(deposit_date, date)
        self.batch = _OpenBatch(batch, deposit_date, number)
        self.state = _IN_BATCH

    def _check(self, text: str, number: int) -> _Check | None:
        reader = self.readers.check
        if self.state is not _IN_BATCH and self.state is not _IN_CHECK:
            raise LockboxRefused(
                number,
                f"{reader.label} outside a batch: it must follow a "
                f"{self.readers.batch_header.label} or another check",
            )
        finished = self._close_check()
        batch = self.batch
        assert batch is not None
        values = reader.read(text, number)
        self._same_identifier(values, "batch", batch.batch, batch.line, reader, number)
        item = _identifier(values["item"])
        check_number = _identifier(values["check_number"])
        amount = _count(values["amount"])
        customer = _identifier(values["customer"]) if "customer" in values else ""
        if not item:
            raise LockboxRefused(number, f"{reader.label}: item is blank")
        if not check_number:
            raise LockboxRefused(number, f"{reader.label}: check_number is blank")
        if amount <= 0:
            raise LockboxRefused(number, f"{reader.label}: check amount must be greater than zero")
        self.check = _OpenCheck(
            batch.batch, item, batch.deposit_date, check_number, amount, customer or None, number
        )
        batch.items += 1
        batch.total += amount
        self.state = _IN_CHECK
        return finished

    def _overflow(self, text: str, number: int) -> None:
        reader = self.readers.overflow
        check = self.check
        if self.state is not _IN_CHECK or check is None:
            raise LockboxRefused(
                number,
                f"{reader.label} must follow a {self.readers.check.label} or another overflow "
                "record",
            )
        values = reader.read(text, number)
        self._same_identifier(values, "batch", check.batch, check.line, reader, number)
        self._same_identifier(values, "item", check.item, check.line, reader, number)
        order = _identifier(values["order"])
        amount = _count(values["amount"])
        if not order:
            raise LockboxRefused(number, f"{reader.label}: order is blank")
        if amount <= 0:
            raise LockboxRefused(
                number, f"{reader.label}: applied amount must be greater than zero"
            )
        check.allocations.append((order, amount))
        check.applied += amount
        if check.applied > check.amount:
            raise LockboxRefused(
                number,
                f"overflow amounts of batch {check.batch} item {check.item} (line {check.line}) "
                f"add up to {self._money(check.applied)}, more than the check amount "
                f"{self._money(check.amount)}",
            )

    def _batch_total(self, text: str, number: int) -> _Check | None:
        reader = self.readers.batch_total
        batch = self.batch
        if self.state not in (_IN_BATCH, _IN_CHECK) or batch is None:
            raise LockboxRefused(
                number, f"{reader.label} without a {self.readers.batch_header.label}"
            )
        finished = self._close_check()
        values = reader.read(text, number)
        self._same_identifier(values, "batch", batch.batch, batch.line, reader, number)
        self._agree(
            number,
            values,
            "batch",
            counted=("number of its checks", batch.items),
            summed=("sum of its checks", batch.total),
            where=f" (batch {batch.batch}, line {batch.line})",
        )
        self.lockbox_items += batch.items
        self.lockbox_total += batch.total
        self.batch = None
        self.state = _BETWEEN_BATCHES
        return finished

    def _lockbox_total(self, text: str, number: int) -> None:
        reader = self.readers.lockbox_total
        if self.state in (_IN_BATCH, _IN_CHECK):
            self._refuse_open_batch(number, f"a {reader.label}")
        values = reader.read(text, number)
        if self.state is _BETWEEN_BATCHES:
            self._same_identifier(
                values, "lockbox", self.lockbox or "", self.lockbox_line, reader, number
            )
        self._agree(
            number,
            values,
            "lockbox",
            counted=("number of checks in its batches", self.lockbox_items),
            summed=("sum of its batches", self.lockbox_total),
        )
        self.file_total += self.lockbox_total
        self.lockbox_items = self.lockbox_total = 0
        self.lockbox = None
        self.state = _AFTER_LOCKBOX

    def _file_trailer(self, text: str, number: int) -> None:
        reader = self.readers.file_trailer
        if self.state in (_IN_BATCH, _IN_CHECK):
            self._refuse_open_batch(number, f"the {reader.label}")
        if self.state is not _AFTER_LOCKBOX:
            raise LockboxRefused(
                number,
                f"{reader.label} without a {self.readers.lockbox_total.label} closing the "
                "lockbox before it",
            )
        values = reader.read(text, number)
        self._agree(
            number,
            values,
            "file",
            counted=("number of records in the file", self.records),
            summed=("sum of its lockboxes", self.file_total),
            count_field="record_count",
        )
        self.trailer_line = number
        self.state = _DONE

    def _end(self, last_line: int) -> None:
        if self.state is _DONE:
            return
        if self.state in (_IN_BATCH, _IN_CHECK):
            self._refuse_open_batch(last_line, "the end of the file")
        missing = (
            self.readers.file_trailer
            if self.state is _AFTER_LOCKBOX
            else self.readers.lockbox_total
        )
        raise LockboxRefused(last_line, f"the file ends here without a {missing.label}")

    # --- helpers ------------------------------------------------------------------------------

    def _close_check(self) -> _Check | None:
        check = self.check
        if check is None:
            return None
        self.check = None
        return _Check(
            check.batch,
            check.item,
            check.deposit_date,
            check.check_number,
            check.amount,
            self.currency,
            check.customer,
            tuple(check.allocations),
            check.line,
        )

    def _refuse_open_batch(self, number: int, what: str) -> NoReturn:
        batch = self.batch
        assert batch is not None
        raise LockboxRefused(
            number,
            f"batch {batch.batch} (line {batch.line}) has no {self.readers.batch_total.label} "
            f"before {what}",
        )

    @staticmethod
    def _same_identifier(
        values: dict[str, _FieldValue],
        name: str,
        expected: str,
        expected_line: int,
        reader: _RecordReader,
        number: int,
    ) -> None:
        if name not in values:
            return
        found = _identifier(values[name])
        if found != expected:
            raise LockboxRefused(
                number,
                f"{reader.label}: {name} {found} differs from {name} {expected} of line "
                f"{expected_line}",
            )

    def _agree(
        self,
        number: int,
        values: dict[str, _FieldValue],
        level: str,
        *,
        counted: tuple[str, int],
        summed: tuple[str, int],
        where: str = "",
        count_field: str = "item_count",
    ) -> None:
        """Refuse the file where a control record's count or total disagrees with what it closes.

        ``level`` is the record's ("batch", "lockbox", "file"); ``counted`` and ``summed`` say
        what its count and its total must equal, and that value; ``where`` ends the message.
        """
        what, expected = counted
        stated = _count(values[count_field])
        if stated != expected:
            name = count_field.replace("_", " ")
            raise LockboxRefused(number, f"{level} {name} {stated} != {what} {expected}{where}")
        what, expected = summed
        stated = _count(values["total_amount"])
        if stated != expected:
            raise LockboxRefused(
                number,
                f"{level} total {self._money(stated)} != {what} {self._money(expected)}{where}",
            )

    def _money(self, minor: int) -> str:
        return _format_minor(minor, self.places)
