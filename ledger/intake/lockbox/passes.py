"""The two passes over a lockbox file: :func:`validate_file`, then :func:`iter_items`.

Each pass opens the file, tells its format by its first line and runs that format's parser
(:class:`_Reading`). Pass 1 also finds a ``batch,item`` that appears twice, in 8 bytes per check
(:class:`_KeyDigests`), and hands a bank statement's keyed credits, a list at a time, to a
caller that checks them against the credits received before. For a camt file, where the XML
parse is most of the cost, pass 1 can keep the checks it accepted in a file of its own
(:class:`_KeptChecks`) for pass 2 to read instead of parsing the XML again.
"""

from __future__ import annotations

import hashlib
import heapq
import marshal
import os
from array import array
from collections.abc import Callable, Generator, Iterator
from datetime import date
from pathlib import Path

from ledger.domain.errors import InputRefused
from ledger.domain.money import Money
from ledger.domain.receipt import bank_credit_reported_again, bank_receipt_key
from ledger.intake.lockbox.bai2_format import _Bai2Parser, looks_like_bai2
from ledger.intake.lockbox.bai_format import _BaiParser
from ledger.intake.lockbox.camt_format import _CamtParser, looks_like_xml
from ledger.intake.lockbox.csv_format import _csv_checks
from ledger.intake.lockbox.errors import LockboxRefused
from ledger.intake.lockbox.items import (
    CSV_HEADER,
    CSV_MATCHING_HEADER,
    BankCredit,
    LockboxItem,
    LockboxSummary,
    _Check,
)
from ledger.intake.lockbox.lines import _read_lines
from ledger.intake.lockbox.profile import LockboxProfile, _default_profile

_BOM = "\ufeff"
# Bank credits handed to validate_file's check_bank_credits at a time: one lookup per list.
BANK_CREDIT_BATCH = 5000


class _Reading:
    """One pass over a lockbox file: its format, its checks as they stream, its SHA-256."""

    def __init__(self, path: str | Path, profile: LockboxProfile | None) -> None:
        self.profile = profile or _default_profile()
        self.sha256 = hashlib.sha256()
        self.bai: _BaiParser | _Bai2Parser | None = None
        self.camt: _CamtParser | None = None
        if looks_like_xml(Path(path)):  # camt.053 / camt.054: XML, its own streaming reader
            self.camt = _CamtParser(Path(path), self.sha256)
            self.format, self.checks = self.camt.format, self.camt.checks()
            return
        lines: Generator[str, None, None] = _read_lines(Path(path), self.sha256)
        first = next(lines, None)
        if first is None:
            raise LockboxRefused(None, "the file is empty")
        header = first.removeprefix(_BOM)
        if header in (CSV_HEADER, CSV_MATCHING_HEADER):
            self.format = "csv"
            self.checks = _csv_checks(lines, header.count(",") + 1)
        elif looks_like_bai2(header):
            self.format = "bai2"
            bai2 = self.bai = _Bai2Parser()
            self.checks = bai2.checks(first, lines)
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
                raise LockboxRefused(
                    1, f"the CSV header must be exactly {CSV_HEADER}[,remittance,payer_account]"
                )
            raise LockboxRefused(1, f"not a lockbox file: expected {expected}")

    @property
    def bank_file_id(self) -> str | None:
        if self.camt is not None:
            return self.camt.bank_file_id
        return self.bai.bank_file_id if self.bai is not None else None

    @property
    def debits_skipped(self) -> int:
        """Debit entries of a bank statement, counted and skipped (lockbox files have none)."""
        if self.camt is not None:
            return self.camt.debits_skipped
        return self.bai.debits_skipped if isinstance(self.bai, _Bai2Parser) else 0


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


class _KeptChecks:
    """Pass 1's accepted checks of a camt file, written as it reads them, for pass 2.

    Lists of up to ``_BATCH`` checks as marshal records (plain tuples, the date as its ordinal):
    memory stays flat, and reading them back costs a few microseconds a check where parsing the
    XML again costs a hundred or more. Written to ``path`` + ``.part`` and renamed when pass 1
    has accepted the whole file, so a file that exists is complete and was accepted; the file
    lives in the importer's private directory beside the private copy of the bank file.
    """

    _BATCH = 1024

    def __init__(self, path: Path) -> None:
        self.path = path
        self._part = path.with_name(path.name + ".part")
        self._stream = self._part.open("wb")
        self._batch: list[tuple[object, ...]] = []

    def add(self, check: _Check) -> None:
        self._batch.append((*check[:2], check.deposit_date.toordinal(), *check[3:]))
        if len(self._batch) >= self._BATCH:
            marshal.dump(self._batch, self._stream)
            self._batch = []

    def accept(self) -> None:
        if self._batch:
            marshal.dump(self._batch, self._stream)
        self._stream.close()
        os.replace(self._part, self.path)

    def discard(self) -> None:
        self._stream.close()
        self._part.unlink(missing_ok=True)

    @staticmethod
    def read(path: Path) -> Iterator[_Check]:
        with path.open("rb") as stream:
            while True:
                try:
                    # Our own file, in the importer's private directory: not input.
                    batch = marshal.load(stream)  # noqa: S302
                except EOFError:
                    return
                for batch_name, item, day, *rest in batch:
                    yield _Check(batch_name, item, date.fromordinal(day), *rest)


def validate_file(
    path: str | Path,
    profile: LockboxProfile | None = None,
    *,
    check_bank_credits: Callable[[list[BankCredit]], object] | None = None,
    keep: Path | None = None,
) -> LockboxSummary:
    """Read the lockbox file at ``path`` whole and check everything; pass 1 of 2.

    Checks structure, record order, amounts, dates, split checks, ``batch,item`` uniqueness and
    every control total, and hashes the file's bytes. ``profile`` (default: the bundled one)
    describes BAI-style files; CSV files need none. ``check_bank_credits``, when given, is
    handed the credits that carry a bank key (BAI2, camt) in lists of up to
    ``BANK_CREDIT_BATCH``, as they are read, to check them against what was received before (it
    raises to refuse the file; memory stays flat). With ``keep``, a camt file's accepted checks
    are written there for :func:`iter_items` (``kept``); nothing is written for another format
    or a refused file. Raises LockboxRefused naming the line and the reason; OSError if the file
    cannot be read.
    """
    reading = _Reading(path, profile)
    kept = _KeptChecks(keep) if keep is not None and reading.camt is not None else None
    try:
        summary = _validate(path, reading, check_bank_credits, kept)
    except BaseException:
        if kept is not None:
            kept.discard()
        raise
    if kept is not None:
        kept.accept()
    return summary


def _validate(
    path: str | Path,
    reading: _Reading,
    check_bank_credits: Callable[[list[BankCredit]], object] | None,
    kept: _KeptChecks | None,
) -> LockboxSummary:
    digests = _KeyDigests()
    totals: dict[str, int] = {}
    applied: dict[str, int] = {}
    items = 0
    credits: list[BankCredit] = []
    for check in reading.checks:
        items += 1
        if kept is not None:
            kept.add(check)
        digests.add(_key_digest(check.batch, check.item))
        totals[check.currency] = totals.get(check.currency, 0) + check.amount
        applied[check.currency] = applied.get(check.currency, 0) + sum(
            minor for _, minor in check.allocations
        )
        if check_bank_credits is not None and check.key is not None:
            credits.append(_bank_credit(check))
            if len(credits) >= BANK_CREDIT_BATCH:
                check_bank_credits(credits)
                credits = []
    if credits and check_bank_credits is not None:
        check_bank_credits(credits)
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
        debits_skipped=reading.debits_skipped,
    )


def _bank_credit(check: _Check) -> BankCredit:
    assert check.key is not None
    amount = Money.from_minor(check.amount, check.currency)
    # camt names an entry and its element path, BAI2 a line.
    return BankCredit(check.key, amount, None if check.where else check.line, check.where)


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
    first_seen: dict[tuple[str, str], tuple[int, Money]] = {}
    for check in _Reading(path, profile).checks:
        if _key_digest(check.batch, check.item) not in repeated:
            continue
        key = (check.batch, check.item)
        amount = Money.from_minor(check.amount, check.currency)
        first, earlier = first_seen.setdefault(key, (check.line, amount))
        if first == check.line:
            continue
        if check.key is not None:
            # A bank's credit reported twice in one file: the same key, and, when the amounts
            # differ, both of them (docs/rules.md section 13).
            place = f"in entry {first}" if check.where else f"on line {first}"
            seen = f"is reported first {place}"
            bank_key = bank_receipt_key(check.key)
            reason = bank_credit_reported_again(bank_key, earlier, amount, seen) or (
                f"bank key {bank_key} {seen} with {earlier.display()}: a bank file reports "
                "a credit once"
            )
            raise _bank_credit(check).refused(reason)
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


def iter_items(
    path: str | Path, profile: LockboxProfile | None = None, *, kept: Path | None = None
) -> Iterator[LockboxItem]:
    """Stream the checks of a lockbox file in file order; pass 2 of 2.

    Call it only for a file :func:`validate_file` accepted and that has not changed since: it
    checks again as it goes, so a file that fails still raises LockboxRefused, but only after
    yielding the checks before the failing line. When ``kept`` names the file that
    :func:`validate_file` wrote for its ``keep`` (a camt file), the checks are read from there
    instead, exactly as pass 1 accepted them.
    """
    if kept is not None and kept.exists():
        checks: Iterator[_Check] = _KeptChecks.read(kept)
    else:
        checks = _Reading(path, profile).checks
    for check in checks:
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
            remittance=check.remittance,
            payer_account=check.payer_account,
            key=check.key,
            payer_name=check.payer_name,
            remittance_breaks=check.remittance_breaks,
            where=check.where,
        )
