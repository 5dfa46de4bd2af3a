"""Bank lockbox files: a streaming, validating parser and writer (SPEC section 7).

A lockbox file lists the checks a bank deposited for us, each naming the orders it pays. Two
formats are read, told apart by content, never by file name:

- CSV with the header ``batch,item,deposit_date,check_number,check_amount,currency,customer,
  order,applied_amount``; adjacent rows with the same ``batch,item`` are one check split across
  orders;
- BAI-style fixed-width records (``1`` file header, ``5`` batch header, ``6`` check, ``4``
  overflow, ``7`` batch total, ``8`` lockbox total, ``9`` file trailer) whose field positions
  come from a declarative :class:`LockboxProfile` loaded from JSON, so that a bank's variant is a
  new profile file and not new code.

A file is used in two passes. :func:`validate_file` reads it whole, checks structure, amounts,
dates and every control total, hashes its bytes, and refuses it with a line number and a reason
(:class:`LockboxRefused`) before anything posts. :func:`iter_items` then streams its checks as
:class:`LockboxItem` values. Neither pass holds the file or its items in memory: lines are read
in blocks, and the only thing that grows with the file is 8 bytes per check, kept to find a
``batch,item`` that appears twice. Whatever the bytes, the parser either succeeds or raises
:class:`LockboxRefused`.

:func:`write_bai` and :func:`write_csv` write valid files (control records included) from a
stream of items, for tests, the demo and the benchmark generator.

The documentation of both formats and of the default profile is ``docs/lockbox.md``.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import json
import re
from array import array
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, NamedTuple, NoReturn, TextIO

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ledger.domain.errors import ArledgerError, InputRefused
from ledger.domain.money import Money, currency_decimals

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

# Identifiers end up in receipt keys (file hash + batch + item, String(300)) and in order and
# customer columns (String(64)); a longer one cannot be stored, so it is refused here.
MAX_CODE_LENGTH = 64
# A check amount must always make a valid Money (17 minor digits at most) whatever the profile.
_MAX_ITEM_AMOUNT_DIGITS = 15
_MAX_RECORD_LENGTH = 1000
# No valid lockbox line comes close; the limit bounds what a file without line breaks costs.
_MAX_LINE_CHARACTERS = 1 << 16
_MAX_LINE_BYTES = 4 * _MAX_LINE_CHARACTERS  # UTF-8 takes at most 4 bytes a character
_READ_BLOCK = 1 << 20
# Tabs would shift fixed-width columns and no identifier contains a control character; a
# carriage return is accepted only as part of a CRLF line ending.
_FORBIDDEN_CHARACTER = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_BOM = "\ufeff"
# Dates a date format must write at the field's width and read back unchanged.
_FORMAT_PROBES = (date(2001, 2, 3), date(2028, 12, 31), date(2010, 10, 10))


# --- errors ------------------------------------------------------------------------------------


class LockboxRefused(InputRefused):
    """The lockbox file was refused as a whole; nothing from it may post."""

    def __init__(self, line: int | None, reason: str) -> None:
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"lockbox file refused: {where}{reason}", field="file", line=line)
        self.line = line
        self.reason = reason


class LockboxProfileInvalid(InputRefused):
    """A lockbox profile that cannot describe a file (bad JSON, overlapping fields, …)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"lockbox profile {source} is invalid: {reason}", field="profile")
        self.reason = reason


class LockboxItemDoesNotFit(ArledgerError):
    """A writer was given an item its format cannot carry; the writer's caller has a bug."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"cannot write {what}: {reason}")
        self.reason = reason


# --- what a lockbox file holds -----------------------------------------------------------------


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


# --- the declarative BAI profile ---------------------------------------------------------------

FieldKind = Literal["text", "digits", "amount", "date"]
_IDENTIFIER_KINDS = frozenset({"text", "digits"})

# The fields the parser reads, per record, and the kinds each may have. Any other field a
# profile declares is checked against its kind and otherwise ignored: that is how a bank's
# extra columns are described. Optional fields, when declared, must agree with the record
# they repeat (a check's batch with its batch header, an overflow's item with its check).
_REQUIRED_FIELDS: dict[str, dict[str, frozenset[str]]] = {
    "file_header": {"bank_file_id": _IDENTIFIER_KINDS, "creation_date": frozenset({"date"})},
    "batch_header": {"batch": _IDENTIFIER_KINDS, "deposit_date": frozenset({"date"})},
    "check": {
        "item": _IDENTIFIER_KINDS,
        "amount": frozenset({"amount"}),
        "check_number": _IDENTIFIER_KINDS,
    },
    "overflow": {"order": _IDENTIFIER_KINDS, "amount": frozenset({"amount"})},
    "batch_total": {"item_count": frozenset({"digits"}), "total_amount": frozenset({"amount"})},
    "lockbox_total": {"item_count": frozenset({"digits"}), "total_amount": frozenset({"amount"})},
    "file_trailer": {"record_count": frozenset({"digits"}), "total_amount": frozenset({"amount"})},
}
_OPTIONAL_FIELDS: dict[str, dict[str, frozenset[str]]] = {
    "batch_header": {"lockbox": _IDENTIFIER_KINDS},
    "check": {"batch": _IDENTIFIER_KINDS, "customer": _IDENTIFIER_KINDS},
    "overflow": {"batch": _IDENTIFIER_KINDS, "item": _IDENTIFIER_KINDS},
    "batch_total": {"batch": _IDENTIFIER_KINDS},
    "lockbox_total": {"lockbox": _IDENTIFIER_KINDS},
}
# (record, field) pairs that repeat an identifier first given by another record.
_REPEATED_IDENTIFIERS = {
    ("check", "batch"): ("batch_header", "batch"),
    ("overflow", "batch"): ("batch_header", "batch"),
    ("overflow", "item"): ("check", "item"),
    ("batch_total", "batch"): ("batch_header", "batch"),
    ("lockbox_total", "lockbox"): ("batch_header", "lockbox"),
}
_IDENTIFIER_FIELDS = frozenset(
    {"bank_file_id", "batch", "lockbox", "item", "check_number", "customer", "order"}
)
_RECORD_NAMES = {
    "file_header": "file header",
    "batch_header": "batch header",
    "check": "check detail",
    "overflow": "overflow record",
    "batch_total": "batch total",
    "lockbox_total": "lockbox total",
    "file_trailer": "file trailer",
}


class _ProfileModel(BaseModel):
    # Not strict=True model-wide: that would refuse JSON arrays for the tuples. Numbers and
    # strings are strict field by field, so "start": 2.0 or "start": "2" is still refused.
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_ProfileModel):
    """One fixed-width field: columns ``start`` .. ``start + length - 1`` (1-based)."""

    name: Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
    start: Annotated[StrictInt, Field(ge=2, le=_MAX_RECORD_LENGTH)]
    length: Annotated[StrictInt, Field(ge=1, le=_MAX_RECORD_LENGTH)]
    kind: FieldKind
    format: StrictStr | None = None

    @property
    def end(self) -> int:
        """The last column of the field (1-based, inclusive)."""
        return self.start + self.length - 1

    @model_validator(mode="after")
    def _date_format_fits(self) -> FieldSpec:
        if self.kind != "date":
            if self.format is not None:
                raise ValueError(f"field {self.name}: only date fields take a format")
            return self
        if not self.format:
            raise ValueError(f"date field {self.name} needs a strptime format such as %y%m%d")
        for probe in _FORMAT_PROBES:
            written = probe.strftime(self.format)
            if len(written) != self.length:
                raise ValueError(
                    f"date field {self.name}: format {self.format!r} writes {len(written)} "
                    f"characters, the field has {self.length}"
                )
            try:
                read_back = datetime.strptime(written, self.format).date()
            except ValueError as exc:
                raise ValueError(f"date field {self.name}: format {self.format!r}: {exc}") from None
            if read_back != probe:
                raise ValueError(
                    f"date field {self.name}: format {self.format!r} does not carry a whole date"
                )
        return self


class RecordLayout(_ProfileModel):
    """A record type: the character in column 1 that marks it, and its fields."""

    code: Annotated[StrictStr, Field(min_length=1, max_length=1, pattern=r"^[!-~]$")]
    fields: tuple[FieldSpec, ...]

    def field_named(self, name: str) -> FieldSpec | None:
        return next((spec for spec in self.fields if spec.name == name), None)


class RecordLayouts(_ProfileModel):
    """The seven record types of a BAI-style lockbox file."""

    file_header: RecordLayout
    batch_header: RecordLayout
    check: RecordLayout
    overflow: RecordLayout
    batch_total: RecordLayout
    lockbox_total: RecordLayout
    file_trailer: RecordLayout

    def by_role(self) -> dict[str, RecordLayout]:
        return {role: getattr(self, role) for role in _RECORD_NAMES}


class LockboxProfile(_ProfileModel):
    """Where each field of a BAI-style lockbox file sits, and the file's currency.

    BAI files carry no currency, so the profile names it; amounts are digits with the
    currency's decimals implied (``000000012345`` is 123.45 USD).
    """

    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    description: StrictStr = ""
    currency: StrictStr = "USD"
    record_length: Annotated[StrictInt, Field(ge=2, le=_MAX_RECORD_LENGTH)] = 80
    records: RecordLayouts

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, code: str) -> str:
        try:
            currency_decimals(code)
        except InputRefused as exc:
            raise ValueError(exc.message) from None
        return code

    @model_validator(mode="after")
    def _layouts_are_complete_and_fit(self) -> LockboxProfile:
        layouts = self.records.by_role()
        codes = [layout.code for layout in layouts.values()]
        if len(set(codes)) != len(codes):
            raise ValueError(f"record codes must be distinct, got {', '.join(codes)}")
        for role, layout in layouts.items():
            _check_layout(role, layout, self.record_length)
        for (role, name), (source_role, source_name) in _REPEATED_IDENTIFIERS.items():
            repeated = layouts[role].field_named(name)
            source = layouts[source_role].field_named(source_name)
            if repeated is None:
                continue
            if source is None:
                raise ValueError(
                    f"{role}.{name} repeats {source_role}.{source_name}, which is not declared"
                )
            if repeated.kind != source.kind:
                raise ValueError(
                    f"{role}.{name} is {repeated.kind} but {source_role}.{source_name} is "
                    f"{source.kind}: a repeated identifier must have the same kind"
                )
        return self


def _check_layout(role: str, layout: RecordLayout, record_length: int) -> None:
    names = [spec.name for spec in layout.fields]
    if len(set(names)) != len(names):
        raise ValueError(f"{role}: field names must be distinct")
    required = _REQUIRED_FIELDS[role]
    optional = _OPTIONAL_FIELDS.get(role, {})
    missing = [name for name in required if name not in names]
    if missing:
        raise ValueError(f"{role}: missing field(s) {', '.join(missing)}")
    previous: FieldSpec | None = None
    for spec in sorted(layout.fields, key=lambda spec: spec.start):
        if spec.end > record_length:
            raise ValueError(
                f"{role}.{spec.name} ends in column {spec.end}, past the record length "
                f"{record_length}"
            )
        if previous is not None and spec.start <= previous.end:
            raise ValueError(f"{role}.{spec.name} overlaps {role}.{previous.name}")
        previous = spec
        allowed = required.get(spec.name) or optional.get(spec.name)
        if allowed is not None and spec.kind not in allowed:
            raise ValueError(
                f"{role}.{spec.name} must be of kind {' or '.join(sorted(allowed))}, "
                f"not {spec.kind}"
            )
        if spec.name in _IDENTIFIER_FIELDS and spec.length > MAX_CODE_LENGTH:
            raise ValueError(f"{role}.{spec.name} may be at most {MAX_CODE_LENGTH} columns long")
        item_amount = role in ("check", "overflow") and spec.name == "amount"
        if item_amount and spec.length > _MAX_ITEM_AMOUNT_DIGITS:
            raise ValueError(f"{role}.amount may be at most {_MAX_ITEM_AMOUNT_DIGITS} digits long")


def load_profile(path: str | Path | None = None) -> LockboxProfile:
    """The BAI lockbox profile in the JSON file ``path``, or the bundled default for ``None``.

    Raises LockboxProfileInvalid if the file cannot be read or does not describe a usable layout
    (a missing or overlapping field, a field past the record length, a date format that does not
    fill its field…).
    """
    if path is None:
        return _default_profile()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockboxProfileInvalid(source, f"cannot read it: {exc}") from None
    return _parse_profile(text, source)


@cache
def _default_profile() -> LockboxProfile:
    bundled = resources.files("ledger").joinpath("data/lockbox-default-profile.json")
    return _parse_profile(bundled.read_text(encoding="utf-8"), "lockbox-default-profile.json")


def _parse_profile(text: str, source: str) -> LockboxProfile:
    try:
        # Parsed by json first because pydantic's JSON reader lets a repeated key silently win;
        # in a profile, two "start"s for one field are a mistake worth reporting.
        data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
        return LockboxProfile.model_validate(data)
    except json.JSONDecodeError as exc:
        raise LockboxProfileInvalid(source, f"not JSON: {exc}") from None
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            reason = f"{where}: {message}" if where else message
            raise LockboxProfileInvalid(source, reason) from None
        raise LockboxProfileInvalid(source, str(exc)) from None


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"duplicate key(s) {', '.join(repeated)}")
    return dict(pairs)


# --- reading lines -----------------------------------------------------------------------------


def _read_lines(path: Path, digest: hashlib._Hash) -> Generator[str, None, None]:
    """The decoded lines of ``path`` without their line endings, hashing its bytes on the way.

    Reads in blocks so that a file of any size takes constant memory, and refuses (naming the
    line) undecodable UTF-8, control characters and lines too long to be lockbox records.
    """
    with path.open("rb") as stream:
        pending = b""
        first_line = 1
        while block := stream.read(_READ_BLOCK):
            digest.update(block)
            data = pending + block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                pending = data
                if len(pending) > _MAX_LINE_BYTES:
                    raise _line_too_long(first_line)
                continue
            complete, pending = data[:cut], data[cut:]
            text = _decode(complete, first_line)
            lines = text.split("\n")
            lines.pop()  # the empty string after the final line feed
            if "\r" in text:
                lines = [line.removesuffix("\r") for line in lines]
            if max(map(len, lines)) > _MAX_LINE_CHARACTERS:
                raise _line_too_long(first_line, lines)
            yield from lines
            first_line += len(lines)
        if pending:
            # The last line has no line feed after it; a carriage return there is stray.
            last = _decode(pending, first_line)
            if len(last) > _MAX_LINE_CHARACTERS:
                raise _line_too_long(first_line, [last])
            yield last


def _line_too_long(first_line: int, lines: Sequence[str] = ()) -> LockboxRefused:
    offset = next(
        (index for index, line in enumerate(lines) if len(line) > _MAX_LINE_CHARACTERS), 0
    )
    return LockboxRefused(
        first_line + offset, f"line longer than {_MAX_LINE_CHARACTERS} characters"
    )


def _decode(data: bytes, first_line: int) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        raise LockboxRefused(
            line, f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded"
        ) from None
    bad = _FORBIDDEN_CHARACTER.search(text)
    if bad is not None:
        line = first_line + text.count("\n", 0, bad.start())
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise LockboxRefused(
            line, f"control character U+{ord(bad.group()[0]):04X} in column {column}"
        )
    return text


# --- parsing: one stream of checks per format ---------------------------------------------------


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


def _format_minor(minor: int, places: int) -> str:
    # Not via Money: a control total in a refused file may be larger than any Money.
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(places + 1, "0")
    if not places:
        return sign + digits
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


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


# --- CSV ----------------------------------------------------------------------------------------


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
        )


def _csv_checks(lines: Iterator[str]) -> Iterator[_Check]:
    """The checks of a CSV lockbox file whose header line has been read."""
    reader = csv.reader((line + "\n" for line in lines), strict=True)
    check: _CsvCheck | None = None
    end_line = 1
    try:
        for row in reader:
            line = end_line + 1
            end_line = reader.line_num + 1
            if not row:
                raise LockboxRefused(line, "blank line")
            if len(row) != len(CSV_COLUMNS):
                raise LockboxRefused(
                    line, f"expected {len(CSV_COLUMNS)} fields ({CSV_HEADER}), found {len(row)}"
                )
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
    _, _, deposit_text, check_number, amount_text, currency, customer, _, _ = row
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
    )


def _csv_same_check(check: _CsvCheck, row: list[str], line: int) -> None:
    # Raw text that matches the first row needs no second parse; only check_amount may be
    # written differently ("100.0" and "100.00") and still agree.
    for index in (2, 3, 4, 5, 6):
        if row[index] == check.first_row[index]:
            continue
        if index == 4 and _csv_amount(row[4], check.currency, "check_amount", line) == check.amount:
            continue
        raise LockboxRefused(
            line,
            f"{CSV_COLUMNS[index]} {row[index]!r} disagrees with {check.first_row[index]!r} on "
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


# --- BAI ----------------------------------------------------------------------------------------

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


# --- the two passes ----------------------------------------------------------------------------


class _Reading:
    """One pass over a lockbox file: its format, its checks as they stream, its SHA-256."""

    def __init__(self, path: str | Path, profile: LockboxProfile | None) -> None:
        self.profile = profile or _default_profile()
        self.sha256 = hashlib.sha256()
        self.bai: _BaiParser | None = None
        lines: Generator[str, None, None] = _read_lines(Path(path), self.sha256)
        first = next(lines, None)
        if first is None:
            raise LockboxRefused(None, "the file is empty")
        if first.removeprefix(_BOM) == CSV_HEADER:
            self.format = "csv"
            self.checks = _csv_checks(lines)
        elif first[:1] == self.profile.records.file_header.code:
            self.format = "bai"
            self.bai = _BaiParser(self.profile)
            self.checks = self.bai.checks(first, lines)
        else:
            lines.close()
            expected = (
                f"a BAI file header (record {self.profile.records.file_header.code}) or the CSV "
                f"header {CSV_HEADER}"
            )
            if "," in first:
                raise LockboxRefused(1, f"the CSV header must be exactly {CSV_HEADER}")
            raise LockboxRefused(1, f"not a lockbox file: expected {expected}")

    @property
    def bank_file_id(self) -> str | None:
        return self.bai.bank_file_id if self.bai is not None else None


def _key_digest(batch: str, item: str) -> int:
    # 64 bits: a chance collision among a million keys is ~3e-8, and any collision is
    # confirmed against the real keys before the file is refused.
    key = f"{batch}\x1f{item}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little", signed=True)


class _KeyDigests:
    """Finds repeated ``batch,item`` keys in 8 bytes per key, without a set of strings.

    Digests are kept in sorted runs of 65,536 (sorting a run makes a short-lived list of that
    size only), and the runs are merged at the end so equal digests meet.
    """

    _RUN = 1 << 16

    def __init__(self) -> None:
        self._runs: list[array[int]] = []
        self._current: array[int] = array("q")

    def add(self, digest: int) -> None:
        self._current.append(digest)
        if len(self._current) >= self._RUN:
            self._seal()

    def _seal(self) -> None:
        if self._current:
            self._runs.append(array("q", sorted(self._current)))
            self._current = array("q")

    def repeated(self, limit: int = 1024) -> set[int]:
        """Digests seen more than once (at most ``limit`` of them: one real repeat is enough)."""
        self._seal()
        found: set[int] = set()
        previous: int | None = None
        for digest in heapq.merge(*self._runs):
            if digest == previous:
                found.add(digest)
                if len(found) >= limit:
                    break
            previous = digest
        return found


def validate_file(path: str | Path, profile: LockboxProfile | None = None) -> LockboxSummary:
    """Read the lockbox file at ``path`` whole and check everything; pass 1 of 2.

    Checks structure, record order, amounts, dates, split checks, ``batch,item`` uniqueness and
    every control total, and hashes the file's bytes. ``profile`` (default: the bundled one)
    describes BAI-style files; CSV files need none. Raises LockboxRefused naming the line and the
    reason; OSError if the file cannot be read.
    """
    reading = _Reading(path, profile)
    digests = _KeyDigests()
    totals: dict[str, int] = {}
    applied: dict[str, int] = {}
    items = 0
    for check in reading.checks:
        items += 1
        digests.add(_key_digest(check.batch, check.item))
        totals[check.currency] = totals.get(check.currency, 0) + check.amount
        applied[check.currency] = applied.get(check.currency, 0) + sum(
            minor for _, minor in check.allocations
        )
    repeated = digests.repeated()
    if repeated:
        _refuse_repeated_key(path, reading.profile, repeated, reading.format)
    return LockboxSummary(
        format=reading.format,
        sha256=reading.sha256.hexdigest(),
        bank_file_id=reading.bank_file_id,
        items=items,
        currency_totals={code: _total(code, minor, "checks") for code, minor in totals.items()},
        applied_total={
            code: _total(code, minor, "applied amounts") for code, minor in applied.items()
        },
    )


def _total(currency: str, minor: int, what: str) -> Money:
    try:
        return Money.from_minor(minor, currency)
    except InputRefused:
        raise LockboxRefused(
            None, f"the {what} in {currency} add up to more than an amount can hold"
        ) from None


def _refuse_repeated_key(
    path: str | Path, profile: LockboxProfile, repeated: set[int], file_format: str
) -> None:
    # Only a refused file gets this second pass, which learns where each suspect key was first.
    first_seen: dict[tuple[str, str], int] = {}
    for check in _Reading(path, profile).checks:
        if _key_digest(check.batch, check.item) not in repeated:
            continue
        key = (check.batch, check.item)
        first = first_seen.setdefault(key, check.line)
        if first == check.line:
            continue
        if file_format == "csv":
            raise LockboxRefused(
                check.line,
                f"batch {check.batch} item {check.item} appears again, apart from its rows at "
                f"line {first}: the rows of one check must be adjacent, and a check appears once",
            )
        raise LockboxRefused(
            check.line,
            f"batch {check.batch} item {check.item} appears twice: first on line {first}",
        )


def iter_items(path: str | Path, profile: LockboxProfile | None = None) -> Iterator[LockboxItem]:
    """Stream the checks of a lockbox file in file order; pass 2 of 2.

    Call it only for a file :func:`validate_file` accepted and that has not changed since: it
    checks again as it goes, so a file that fails still raises LockboxRefused, but only after
    yielding the checks before the failing line.
    """
    reading = _Reading(path, profile)
    for check in reading.checks:
        currency = check.currency
        yield LockboxItem(
            batch=check.batch,
            item=check.item,
            deposit_date=check.deposit_date,
            check_number=check.check_number,
            amount=Money.from_minor(check.amount, currency),
            customer=check.customer,
            allocations=tuple(
                (order, Money.from_minor(minor, currency)) for order, minor in check.allocations
            ),
            line=check.line,
        )


# --- writing -----------------------------------------------------------------------------------


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


def write_csv(items: Iterable[LockboxItem], out: TextIO) -> None:
    """Write ``items`` as a CSV lockbox file: one row per allocation, one row if there is none.

    Streams. Raises LockboxItemDoesNotFit for an item the CSV reader would refuse.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        _checked_amount(item, None)
        codes = [("batch", item.batch), ("item", item.item), ("check_number", item.check_number)]
        if item.customer:
            codes.append(("customer", item.customer))
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
        if not item.allocations:
            writer.writerow([*first, "", ""])
        for order, applied in item.allocations:
            writer.writerow([*first, order, str(applied)])


def _is_code(value: str) -> bool:
    return (
        0 < len(value) <= MAX_CODE_LENGTH
        and value == value.strip()
        and "\n" not in value
        and _FORBIDDEN_CHARACTER.search(value) is None
    )
