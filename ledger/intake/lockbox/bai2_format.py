"""The BAI2 bank statement reader (docs/rules.md section 13): a streaming, checking parser.

:class:`_Bai2Parser` reads a BAI2 file record by record (``01`` file header, ``02`` group header,
``03`` account identifier, ``16`` transaction detail, ``88`` continuation, ``49`` account
trailer, ``98`` group trailer, ``99`` file trailer), refuses a record out of order with its line,
checks every control total and record count, and yields each ``16`` credit (type codes 100–399)
as a check; debits (400–699) are counted and skipped.

It does not use the ``bai2`` package's parser, which builds the whole file as objects before it
checks a total (docs/lockbox.md has the measured peaks); it reads the fields the way that parser
does (the same continuation joining, the same text field), and the tests hold the two to agree.
Memory is one record (with its continuations) and a few counters, whatever the file's size.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import NoReturn

from ledger.domain.errors import UnknownCurrency
from ledger.domain.money import currency_decimals
from ledger.intake.lockbox.errors import LockboxRefused
from ledger.intake.lockbox.items import MAX_CODE_LENGTH, MAX_REMITTANCE_LENGTH, _Check

# Room for "<account> <as-of date>" in a batch (MAX_CODE_LENGTH) and in receipt keys.
MAX_ACCOUNT_LENGTH = MAX_CODE_LENGTH - 11
# A record and its continuations; far beyond any bank's, it bounds what one record costs.
_MAX_RECORD_CHARACTERS = 1 << 16
_BANK_FILE_ID_LENGTH = 64  # lockbox_files.bank_file_id
_INTEGER = re.compile(r"[0-9]{1,18}")
_SIGNED = re.compile(r"[+-]?[0-9]{1,18}")
_TYPE_CODE = re.compile(r"[0-9]{3}")
_FUNDS_TYPES = frozenset({"", "Z", "0", "1", "2", "S", "V", "D"})

_NAMES = {
    "01": "file header (01)",
    "02": "group header (02)",
    "03": "account identifier (03)",
    "16": "transaction detail (16)",
    "49": "account trailer (49)",
    "98": "group trailer (98)",
    "99": "file trailer (99)",
    "88": "continuation (88)",
}
# What may come next, by the last record read.
_NEXT = {
    "01": ("02",),
    "02": ("03",),
    "03": ("16", "49"),
    "16": ("16", "49"),
    "49": ("03", "98"),
    "98": ("02", "99"),
    "99": (),
}


def looks_like_bai2(first_line: str) -> bool:
    """Whether a file's first line is a BAI2 file header: it starts ``01,`` (a BAI lockbox file
    starts with its profile's one-character header code, never followed by a comma)."""
    return first_line.removeprefix("\ufeff").startswith("01,")


@dataclass(slots=True)
class _Record:
    code: str
    line: int
    rows: list[str]  # the text after "NN," of the record and of each continuation

    def size(self) -> int:
        return sum(map(len, self.rows))


def _joined(rows: list[str]) -> tuple[str, list[int]]:
    """A record's rows as one string of comma-separated fields, by the bai2 package's rule: a
    row ending in "/" ends its fields; a row without one (a text field) continues in the next
    row after a space. Also returns where those spaces are: the record boundary a bank may have
    cut a word at."""
    text = ""
    breaks: list[int] = []
    for row in rows:
        if row:
            if row.endswith("/"):
                text += row[:-1] + ","
            else:
                text += row
                breaks.append(len(text))
                text += " "
    # The last row's own "/" or space is no boundary.
    if breaks and breaks[-1] == len(text) - 1:
        breaks.pop()
    return text[:-1], breaks


def _generic_fields(rows: list[str]) -> list[str]:
    return _joined(rows)[0].split(",")


def _account_fields(rows: list[str]) -> list[str]:
    # The bai2 package's rule for 03: a continuation starts a new field unless the row before
    # already ended with an empty one.
    text = ""
    for index, row in enumerate(rows):
        if not row:
            continue
        if row.endswith("/"):
            text += row[:-1]
            summary_commas = row.count(",") - (2 if index == 0 else 0)
            if summary_commas % 4 != 0:
                text += ","
        else:
            text += row
    return text.split(",")


@dataclass(slots=True)
class _Account:
    number: str
    currency: str
    line: int
    total: int = 0
    records: int = 0
    entries: int = 0


@dataclass(slots=True)
class _Group:
    as_of: date
    currency: str
    line: int
    total: int = 0
    accounts: int = 0
    records: int = 0


class _Bai2Parser:
    """Checks a BAI2 file record by record, yielding each credit once its record is complete."""

    def __init__(self) -> None:
        self.bank_file_id: str | None = None
        self.debits_skipped = 0
        self.last = ""
        self.records = 0
        self.groups = 0
        self.file_total = 0
        self.group: _Group | None = None
        self.account: _Account | None = None
        self.group_index = 0

    def checks(self, first: str, lines: Iterator[str]) -> Iterator[_Check]:
        pending: _Record | None = None
        number = 0
        for number, raw in enumerate(_chain(first.removeprefix("\ufeff"), lines), 1):
            # Fixed-length files pad records with spaces; a blank line is no record.
            line = raw.rstrip(" ")
            if not line:
                continue
            code = line[:2]
            if line[2:3] != "," and line != code:
                raise LockboxRefused(number, f"record {line[:3]!r}: a BAI2 record is NN,fields")
            if code not in _NAMES:
                raise LockboxRefused(number, f"unknown record type {code!r}")
            if code == "88":
                if pending is None:
                    raise LockboxRefused(number, "a continuation (88) with no record before it")
                pending.rows.append(line[3:])
                if pending.size() > _MAX_RECORD_CHARACTERS:
                    raise LockboxRefused(
                        pending.line,
                        f"record with its continuations longer than {_MAX_RECORD_CHARACTERS} "
                        "characters",
                    )
                continue
            if pending is not None:
                credit = self._record(pending)
                if credit is not None:
                    yield credit
            elif code != "01":
                raise LockboxRefused(number, f"the file starts with a {_NAMES[code]}, not 01")
            pending = _Record(code, number, [line[3:]])
        if pending is None:
            raise LockboxRefused(None, "the file has no records")
        credit = self._record(pending)
        if credit is not None:
            yield credit
        if self.last != "99":
            raise LockboxRefused(number, "the file ends without its file trailer (99)")

    def _record(self, record: _Record) -> _Check | None:
        code = record.code
        if self.last == "99":
            raise LockboxRefused(record.line, "record after the file trailer (99)")
        if self.last and code not in _NEXT[self.last]:
            allowed = " or ".join(_NAMES[next_code] for next_code in _NEXT[self.last])
            raise LockboxRefused(
                record.line, f"a {_NAMES[code]} after a {_NAMES[self.last]}: expected {allowed}"
            )
        if code == "01" and self.last:
            raise LockboxRefused(record.line, "a second file header (01)")
        self.last = code
        rows = len(record.rows)
        self.records += rows
        if self.group is not None:
            self.group.records += rows
        if self.account is not None:
            self.account.records += rows
        credit = None
        if code == "01":
            self._file_header(record)
        elif code == "02":
            self._group_header(record)
        elif code == "03":
            self._account_header(record)
        elif code == "16":
            credit = self._detail(record)
        elif code == "49":
            self._account_trailer(record)
        elif code == "98":
            self._group_trailer(record)
        else:
            self._file_trailer(record)
        return credit

    # -- headers ---------------------------------------------------------------------------

    def _file_header(self, record: _Record) -> None:
        fields = _needed(_generic_fields(record.rows), 8, record)
        sender, receiver, created, time, file_id = (field.strip() for field in fields[:5])
        for value, what in ((sender, "sender"), (receiver, "receiver"), (file_id, "file id")):
            if not value:
                raise LockboxRefused(record.line, f"the file header has no {what}")
        _date(created, "creation date", record.line)
        _time(time, "creation time", record.line)
        if fields[7].strip() != "2":
            raise LockboxRefused(
                record.line, f"version {fields[7].strip()!r}: only BAI version 2 is read"
            )
        for value, what in ((fields[5], "record length"), (fields[6], "block size")):
            if value.strip() and not _INTEGER.fullmatch(value.strip()):
                raise LockboxRefused(record.line, f"{what} {value!r} is not a number")
        identity = ",".join((sender, receiver, created, time, file_id))
        # The column holds 64 characters; a longer identity is kept as its digest.
        if len(identity) > _BANK_FILE_ID_LENGTH:
            identity = "bai2#" + hashlib.sha256(identity.encode()).hexdigest()[:59]
        self.bank_file_id = identity

    def _group_header(self, record: _Record) -> None:
        fields = _needed(_generic_fields(record.rows), 7, record)
        status = fields[2].strip()
        if status not in ("", "1", "2", "3", "4"):
            raise LockboxRefused(record.line, f"group status {status!r} is not 1, 2, 3 or 4")
        as_of = _date(fields[3].strip(), "as-of date", record.line)
        if fields[4].strip():
            _time(fields[4].strip(), "as-of time", record.line)
        currency = _currency(fields[5].strip() or "USD", record.line)
        if fields[6].strip() not in ("", "1", "2", "3", "4"):
            raise LockboxRefused(
                record.line, f"as-of date modifier {fields[6].strip()!r} is not 1, 2, 3 or 4"
            )
        self.group_index += 1
        self.group = _Group(
            as_of=as_of, currency=currency, line=record.line, records=len(record.rows)
        )

    def _account_header(self, record: _Record) -> None:
        assert self.group is not None
        fields = _needed(_account_fields(record.rows), 2, record)
        number = fields[0].strip()
        if not number:
            raise LockboxRefused(record.line, "the account identifier (03) has no account number")
        if len(number) > MAX_ACCOUNT_LENGTH:
            raise LockboxRefused(
                record.line,
                f"account number is {len(number)} characters long, at most "
                f"{MAX_ACCOUNT_LENGTH} allowed",
            )
        currency = (
            _currency(fields[1].strip(), record.line) if fields[1].strip() else self.group.currency
        )
        account = _Account(
            number=number, currency=currency, line=record.line, records=len(record.rows)
        )
        rest = fields[2:]
        # A bank may end the summaries with one empty field; the bai2 package ignores it too.
        while rest and not (len(rest) == 1 and not rest[0].strip()):
            if len(rest) < 4:
                raise LockboxRefused(
                    record.line,
                    "a summary in the 03 record needs type code, amount, count, funds type",
                )
            code, amount, count, funds = (field.strip() for field in rest[:4])
            if code and not _TYPE_CODE.fullmatch(code):
                raise LockboxRefused(record.line, f"summary type code {code!r} is not 3 digits")
            if amount:
                if not _SIGNED.fullmatch(amount):
                    raise LockboxRefused(record.line, f"summary amount {amount!r} is not a number")
                account.total += int(amount)
            if count and not _INTEGER.fullmatch(count):
                raise LockboxRefused(record.line, f"summary item count {count!r} is not a number")
            rest = _availability(funds, rest[4:], record.line)
        self.account = account
        self.group.accounts += 1

    # -- details ---------------------------------------------------------------------------

    def _detail(self, record: _Record) -> _Check | None:
        account, group = self.account, self.group
        assert account is not None and group is not None
        joined, breaks = _joined(record.rows)
        fields = _needed(joined.split(","), 3, record)
        code, amount_text, funds = (field.strip() for field in fields[:3])
        if not _TYPE_CODE.fullmatch(code):
            raise LockboxRefused(record.line, f"type code {code!r} is not 3 digits")
        if not _INTEGER.fullmatch(amount_text):
            raise LockboxRefused(
                record.line, f"amount {amount_text!r} is not a whole number of minor units"
            )
        amount = int(amount_text)
        account.total += amount
        account.entries += 1
        rest = _availability(funds, fields[3:], record.line)
        bank_reference = rest[0].strip() if rest else ""
        customer_reference = rest[1].strip() if len(rest) > 1 else ""
        raw_text = ",".join(rest[2:])
        text = raw_text.strip()
        value = int(code)
        if value < 100:
            raise LockboxRefused(
                record.line, f"type code {code} is a status code, which belongs in the 03 record"
            )
        if value >= 400:
            # Debits (400–699) are counted; loan and custom codes (700–999) are not receipts.
            if value < 700:
                self.debits_skipped += 1
            return None
        for reference, what in ((bank_reference, "bank"), (customer_reference, "customer")):
            if len(reference) > MAX_CODE_LENGTH:
                raise LockboxRefused(
                    record.line,
                    f"{what} reference is {len(reference)} characters long, at most "
                    f"{MAX_CODE_LENGTH} allowed",
                )
        if amount == 0:
            raise LockboxRefused(record.line, "a credit of zero cannot be a receipt")
        remittance = " ".join(part for part in (customer_reference, text) if part)
        # The text field is the record's last: it starts after every field before it.
        text_start = len(joined) - len(raw_text) + (len(raw_text) - len(raw_text.lstrip()))
        shift = len(remittance) - len(text) - text_start
        remittance_breaks = tuple(
            at + shift for at in breaks if text_start <= at < text_start + len(text)
        )
        if len(remittance) > MAX_REMITTANCE_LENGTH:
            raise LockboxRefused(
                record.line,
                f"remittance (customer reference and text) is {len(remittance)} characters long,"
                f" at most {MAX_REMITTANCE_LENGTH} allowed",
            )
        batch = f"{account.number} {group.as_of.isoformat()}"
        if bank_reference:
            # The same credit re-reported in a later file is the same receipt.
            item = bank_reference
            key = f"bai2:{account.number}:{bank_reference}:{group.as_of.isoformat()}"
        else:
            item = f"#{record.line}"
            key = f"bai2:{self.bank_file_id}:{account.number}:{record.line}"
        return _Check(
            batch=batch,
            item=item,
            deposit_date=group.as_of,
            check_number=bank_reference or customer_reference or f"line {record.line}",
            amount=amount,
            currency=account.currency,
            customer=None,
            allocations=(),
            line=record.line,
            remittance=remittance or None,
            payer_account=None,
            key=key,
            remittance_breaks=remittance_breaks,
        )

    # -- trailers --------------------------------------------------------------------------

    def _account_trailer(self, record: _Record) -> None:
        account, group = self.account, self.group
        assert account is not None and group is not None
        fields = _needed(_generic_fields(record.rows), 2, record)
        total = _signed(fields[0], "account control total", record.line)
        count = _count(fields[1], "number of records", record.line)
        if total != account.total:
            _mismatch(
                record.line, f"account {account.number}'s control total", total, account.total
            )
        if count != account.records:
            _mismatch(
                record.line, f"account {account.number}'s number of records", count, account.records
            )
        group.total += total
        self.account = None

    def _group_trailer(self, record: _Record) -> None:
        group = self.group
        assert group is not None
        fields = _needed(_generic_fields(record.rows), 3, record)
        total = _signed(fields[0], "group control total", record.line)
        accounts = _count(fields[1], "number of accounts", record.line)
        count = _count(fields[2], "number of records", record.line)
        if total != group.total:
            _mismatch(record.line, "the group control total", total, group.total)
        if accounts != group.accounts:
            _mismatch(record.line, "the group's number of accounts", accounts, group.accounts)
        if count != group.records:
            _mismatch(record.line, "the group's number of records", count, group.records)
        self.file_total += total
        self.groups += 1
        self.group = None

    def _file_trailer(self, record: _Record) -> None:
        fields = _needed(_generic_fields(record.rows), 3, record)
        total = _signed(fields[0], "file control total", record.line)
        groups = _count(fields[1], "number of groups", record.line)
        count = _count(fields[2], "number of records", record.line)
        if total != self.file_total:
            _mismatch(record.line, "the file control total", total, self.file_total)
        if groups != self.groups:
            _mismatch(record.line, "the file's number of groups", groups, self.groups)
        if count != self.records:
            _mismatch(record.line, "the file's number of records", count, self.records)


def _chain(first: str, lines: Iterator[str]) -> Iterator[str]:
    yield first
    yield from lines


def _needed(fields: list[str], count: int, record: _Record) -> list[str]:
    if len(fields) < count:
        raise LockboxRefused(
            record.line,
            f"the {_NAMES[record.code]} has {len(fields)} fields, at least {count} expected",
        )
    return fields


def _availability(funds: str, rest: list[str], line: int) -> list[str]:
    """The fields after a funds type's availability ones (S: three amounts, V: date and time,
    D: a count then day/amount pairs), checked."""
    if funds not in _FUNDS_TYPES:
        raise LockboxRefused(line, f"funds type {funds!r} is not Z, 0, 1, 2, S, V or D")
    if funds == "S":
        needed = 3
        numbers = rest[:3]
    elif funds == "V":
        if len(rest) < 2:
            raise LockboxRefused(line, "funds type V needs a value date and time")
        if rest[0].strip():
            _date(rest[0].strip(), "value date", line)
        if rest[1].strip():
            _time(rest[1].strip(), "value time", line)
        return rest[2:]
    elif funds == "D":
        if not rest or not _INTEGER.fullmatch(rest[0].strip()):
            raise LockboxRefused(line, "funds type D needs a number of distributions")
        pairs = int(rest[0].strip())
        needed = 1 + 2 * pairs
        numbers = rest[1:needed]
    else:
        return rest
    if len(rest) < needed:
        raise LockboxRefused(line, f"funds type {funds} needs {needed} availability fields")
    for value in numbers:
        if not _SIGNED.fullmatch(value.strip()):
            raise LockboxRefused(line, f"availability field {value!r} is not a number")
    return rest[needed:]


def _date(text: str, what: str, line: int) -> date:
    try:
        if len(text) != 6 or not text.isdigit():
            raise ValueError
        return datetime.strptime(text, "%y%m%d").date()
    except ValueError:
        raise LockboxRefused(line, f"{what} {text!r} is not a date YYMMDD") from None


def _time(text: str, what: str, line: int) -> None:
    if text in ("2400", "9999"):
        return
    try:
        if len(text) == 4 and text.isdigit():
            datetime.strptime(text, "%H%M")
        elif len(text) == 8:
            datetime.strptime(text, "%H:%M:%S")
        else:
            raise ValueError
    except ValueError:
        raise LockboxRefused(line, f"{what} {text!r} is not a time HHMM") from None


def _currency(code: str, line: int) -> str:
    try:
        currency_decimals(code)
    except UnknownCurrency:
        raise LockboxRefused(line, f"unknown currency {code!r}") from None
    return code


def _signed(text: str, what: str, line: int) -> int:
    if not _SIGNED.fullmatch(text.strip()):
        raise LockboxRefused(line, f"{what} {text!r} is not a number")
    return int(text.strip())


def _count(text: str, what: str, line: int) -> int:
    if not _INTEGER.fullmatch(text.strip()):
        raise LockboxRefused(line, f"{what} {text!r} is not a number")
    return int(text.strip())


def _mismatch(line: int, what: str, stated: int, found: int) -> NoReturn:
    raise LockboxRefused(line, f"{what} is {stated}, but the records add up to {found}")
