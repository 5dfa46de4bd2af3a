"""One BAI record through a profile: its fields read from a line, or written into one.

:class:`_RecordReader` slices a record type's fields, checks each against its kind and writes
records back; the parser (``bai_format``) and the writer (``writer``) share it, so that what is
written is read the same way.
"""

from __future__ import annotations

from datetime import date, datetime

from ledger.intake.lockbox.errors import LockboxRefused
from ledger.intake.lockbox.lines import _FORBIDDEN_CHARACTER
from ledger.intake.lockbox.profile import (
    _RECORD_NAMES,
    FieldSpec,
    LockboxProfile,
    RecordLayout,
)

_FieldValue = str | int | date


class _RecordReader:
    """Reads (and writes) one record type of a profile: slices, kinds, messages."""

    def __init__(self, role: str, layout: RecordLayout, record_length: int) -> None:
        self.code = layout.code
        self.label = f"{_RECORD_NAMES[role]} (record {layout.code})"
        self.record_length = record_length
        self.specs = tuple(sorted(layout.fields, key=lambda spec: spec.start))
        self.slices = tuple(
            (spec.name, spec.start - 1, spec.end, spec.kind, spec.format or "")
            for spec in self.specs
        )

    def read(self, text: str, line: int) -> dict[str, _FieldValue]:
        """The fields of record ``text`` (padded to the record length), checked against kind."""
        values: dict[str, _FieldValue] = {}
        for name, begin, end, kind, date_format in self.slices:
            raw = text[begin:end]
            if kind == "text":
                values[name] = raw.strip()
            elif kind == "date":
                values[name] = self._read_date(name, raw, date_format, begin, line)
            elif raw.isdigit() and raw.isascii():
                values[name] = int(raw)
            else:
                raise LockboxRefused(
                    line,
                    f"{self.label}: {name} in columns {begin + 1}-{end} must be digits, "
                    f"found {raw!r}",
                )
        return values

    def _read_date(self, name: str, raw: str, date_format: str, begin: int, line: int) -> date:
        try:
            value = datetime.strptime(raw, date_format).date()
        except (ValueError, OverflowError):
            value = None
        # strptime accepts unpadded and non-ASCII digits: only the canonical form is a date here.
        if value is None or value.strftime(date_format) != raw:
            raise LockboxRefused(
                line,
                f"{self.label}: {name} {raw!r} in columns {begin + 1}-{begin + len(raw)} is not "
                f"an existing date in the form {date_format}",
            )
        return value

    def write(self, values: dict[str, _FieldValue], default_date: date) -> str:
        """The record line (without line ending) for ``values``; missing fields are blank/zero.

        Raises ValueError naming the field when a value does not fit.
        """
        parts = [self.code]
        column = 1
        for spec in self.specs:
            parts.append(" " * (spec.start - 1 - column))
            parts.append(self._write_value(spec, values.get(spec.name), default_date))
            column = spec.end
        parts.append(" " * (self.record_length - column))
        return "".join(parts)

    def _write_value(self, spec: FieldSpec, value: _FieldValue | None, default_date: date) -> str:
        if spec.kind == "text":
            text = "" if value is None else str(value)
            if text != text.strip() or _FORBIDDEN_CHARACTER.search(text) or "\n" in text:
                raise ValueError(
                    f"{spec.name} {text!r} has surrounding spaces or control characters"
                )
            if len(text) > spec.length:
                raise ValueError(f"{spec.name} {text!r} is longer than its {spec.length} columns")
            return text.ljust(spec.length)
        if spec.kind == "date":
            day = value if isinstance(value, date) else default_date
            assert spec.format is not None
            written = day.strftime(spec.format)
            if len(written) != spec.length or self._parses_back(written, spec.format) != day:
                raise ValueError(f"{spec.name} {day} cannot be written as {spec.format}")
            return written
        number = 0 if value is None else value
        if isinstance(number, str):
            if not (number.isdigit() and number.isascii()):
                raise ValueError(f"{spec.name} {number!r} is not digits")
            number = int(number)
        if not isinstance(number, int) or number < 0:
            raise ValueError(f"{spec.name} {number!r} is not a whole number of at least zero")
        written = str(number).rjust(spec.length, "0")
        if len(written) > spec.length:
            raise ValueError(f"{spec.name} {number} does not fit in {spec.length} digits")
        return written

    @staticmethod
    def _parses_back(written: str, date_format: str) -> date | None:
        try:
            return datetime.strptime(written, date_format).date()
        except ValueError:
            return None


class _Readers:
    """The record readers of one profile, compiled once per file."""

    def __init__(self, profile: LockboxProfile) -> None:
        layouts = profile.records

        def reader(role: str) -> _RecordReader:
            layout: RecordLayout = getattr(layouts, role)
            return _RecordReader(role, layout, profile.record_length)

        self.file_header = reader("file_header")
        self.batch_header = reader("batch_header")
        self.check = reader("check")
        self.overflow = reader("overflow")
        self.batch_total = reader("batch_total")
        self.lockbox_total = reader("lockbox_total")
        self.file_trailer = reader("file_trailer")
