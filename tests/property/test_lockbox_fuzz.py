"""Lockbox files under Hypothesis: any bytes parse or are refused, and written files round-trip.

Whatever a file holds, :func:`validate_file` either accepts it (and :func:`iter_items` then reads
every check it counted) or raises LockboxRefused: never UnicodeDecodeError, ValueError,
IndexError or any other exception. Files written by :func:`write_bai` and :func:`write_csv`
read back as the items they were written from, with totals equal to their sums.
"""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date
from pathlib import Path

from bai2 import bai2 as bai2_package
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger.domain.money import Money
from ledger.intake.lockbox import (
    CSV_HEADER,
    LockboxItem,
    LockboxRefused,
    LockboxSummary,
    iter_items,
    validate_file,
    write_bai,
    write_csv,
)
from ledger.intake.lockbox.bai2_writer import (
    CREDIT,
    DEBIT,
    Bai2Account,
    Bai2Entry,
    Bai2Group,
    write_bai2,
)
from ledger.intake.lockbox.camt_writer import camt_entries, write_camt

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CREATED = date(2026, 11, 17)
# Two-digit years (%y) cover 1969-2068 in the default profile.
BAI_DATES = st.dates(date(1969, 1, 1), date(2068, 12, 31))
CURRENCIES = ("USD", "JPY", "KWD")


def codes(max_size: int) -> st.SearchStrategy[str]:
    """Identifiers as banks write them: letters, digits, punctuation, inner spaces, any script."""
    characters = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"))
    return st.text(characters, min_size=1, max_size=max_size).map(str.strip).filter(bool)


@st.composite
def checks(
    draw: st.DrawFn,
    batch: str,
    item: str,
    deposited: date,
    currency: str,
    code_size: int,
) -> LockboxItem:
    applied = draw(st.lists(st.integers(1, 10**9), max_size=3))
    amount = sum(applied) + draw(st.integers(0 if applied else 1, 10**9))
    orders = draw(st.lists(codes(code_size), min_size=len(applied), max_size=len(applied)))
    return LockboxItem(
        batch=batch,
        item=item,
        deposit_date=deposited,
        check_number=draw(codes(min(code_size, 15))),
        amount=Money.from_minor(amount, currency),
        customer=draw(st.none() | codes(code_size)),
        allocations=tuple(
            (order, Money.from_minor(minor, currency))
            for order, minor in zip(orders, applied, strict=True)
        ),
        line=0,
    )


@st.composite
def bai_items(draw: st.DrawFn, min_batches: int = 0) -> list[LockboxItem]:
    """Items the default profile can carry: digit batches and items, USD, short codes."""
    items = []
    batches = st.lists(st.integers(1, 999_999), min_size=min_batches, max_size=4, unique=True)
    for batch in draw(batches):
        deposited = draw(BAI_DATES)
        for item in draw(st.lists(st.integers(1, 999_999), min_size=1, max_size=4, unique=True)):
            items.append(draw(checks(str(batch), str(item), deposited, "USD", 20)))
    return items


@st.composite
def csv_items(draw: st.DrawFn, min_size: int = 0) -> list[LockboxItem]:
    keys = draw(
        st.lists(st.tuples(codes(64), codes(64)), min_size=min_size, max_size=8, unique=True)
    )
    return [
        draw(checks(batch, item, draw(st.dates()), draw(st.sampled_from(CURRENCIES)), 64))
        for batch, item in keys
    ]


def write_file(path: Path, items: list[LockboxItem], file_format: str) -> Path:
    if file_format == "camt":
        with path.open("wb") as stream:
            write_camt(stream, list(camt_entries(items)), message_id="FUZZ-1", account="ACCT-1")
        return path
    with path.open("w", encoding="utf-8", newline="") as out:
        if file_format == "bai":
            write_bai(items, out, bank_file_id="FUZZ-1", created=CREATED)
        else:
            write_csv(items, out)
    return path


def parsed_or_refused(path: Path) -> LockboxSummary | None:
    """The summary of an accepted file, after checking its items stream; None if refused."""
    try:
        summary = validate_file(path)
    except LockboxRefused as refused:
        event("refused", re.sub(r"[0-9]+|'.*'", "_", refused.reason)[:36])
        return None
    event("accepted", summary.format)
    assert sum(1 for _ in iter_items(path)) == summary.items
    return summary


def without_line(item: LockboxItem) -> LockboxItem:
    return LockboxItem(
        item.batch,
        item.item,
        item.deposit_date,
        item.check_number,
        item.amount,
        item.customer,
        item.allocations,
        0,
    )


CAMT_PREFIX = (
    '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
)
PREFIXES = st.sampled_from(
    ["", "1", CSV_HEADER + "\n", CSV_HEADER + "\r\n1,1,", "<", CAMT_PREFIX, CAMT_PREFIX + "<"]
)


# --- (1) nothing but LockboxRefused ------------------------------------------------------------


@FUZZ
@given(prefix=PREFIXES, data=st.binary(max_size=2000))
def test_arbitrary_bytes_parse_or_are_refused(tmp_path, prefix, data):
    path = tmp_path / "fuzz.bin"
    path.write_bytes(prefix.encode() + data)

    parsed_or_refused(path)


@FUZZ
@given(
    prefix=PREFIXES,
    text=st.text(max_size=2000)
    | st.text(
        st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")) | st.sampled_from("\n,"),
        max_size=2000,
    ),
)
def test_arbitrary_text_parses_or_is_refused(tmp_path, prefix, text):
    path = tmp_path / "fuzz.txt"
    path.write_bytes((prefix + text).encode("utf-8", "surrogatepass"))

    parsed_or_refused(path)


# Positions come from a seeded Random so that they spread over the whole file: Hypothesis's own
# integers favour small values, which would mostly mutate the first line.
def _position(data: st.DataObject, size: int) -> int:
    return data.draw(st.randoms(use_true_random=True)).randrange(size)


def _truncate(text: str, data: st.DataObject) -> str:
    return text[: _position(data, len(text) + 1)]


def _flip(text: str, data: st.DataObject) -> str:
    if not text:
        return text
    at = _position(data, len(text))
    character = data.draw(
        st.characters(codec="utf-8") | st.sampled_from('0123456789 \n\r,"4679<>/&;')
    )
    return text[:at] + character + text[at + 1 :]


def _delete_line(text: str, data: st.DataObject) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    del lines[_position(data, len(lines))]
    return "".join(lines)


def _duplicate_line(text: str, data: st.DataObject) -> str:
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    at = _position(data, len(lines))
    lines.insert(at, lines[at])
    return "".join(lines)


MUTATIONS = st.sampled_from([_truncate, _flip, _delete_line, _duplicate_line])


@FUZZ
@given(
    file_format=st.sampled_from(["bai", "csv", "camt"]),
    mutations=st.lists(MUTATIONS, min_size=1, max_size=3),
    data=st.data(),
)
def test_a_mutated_valid_file_parses_or_is_refused(tmp_path, file_format, mutations, data):
    items = data.draw(bai_items(min_batches=1) if file_format == "bai" else csv_items(min_size=1))

    path = write_file(tmp_path / f"valid.{file_format}", items, file_format)
    text = path.read_text(encoding="utf-8")
    for mutate in mutations:
        text = mutate(text, data)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))

    parsed_or_refused(path)


# --- (2) round trips ---------------------------------------------------------------------------


def _assert_round_trip(path: Path, items: list[LockboxItem], file_format: str) -> None:
    summary = validate_file(path)
    read = list(iter_items(path))

    assert [without_line(item) for item in read] == items
    assert [item.line for item in read] == sorted({item.line for item in read})
    assert summary.format == file_format
    assert summary.items == len(items)
    assert summary.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    currencies = {item.amount.currency for item in items}
    assert summary.currency_totals == {
        code: Money.from_minor(
            sum(item.amount.minor for item in items if item.amount.currency == code), code
        )
        for code in currencies
    }
    assert summary.applied_total == {
        code: Money.from_minor(
            sum(
                applied.minor
                for item in items
                for _, applied in item.allocations
                if applied.currency == code
            ),
            code,
        )
        for code in currencies
    }


@FUZZ
@given(items=bai_items())
def test_written_bai_files_read_back_as_their_items_with_matching_totals(tmp_path, items):
    path = write_file(tmp_path / "round.bai", items, "bai")

    _assert_round_trip(path, items, "bai")
    assert validate_file(path).bank_file_id == "FUZZ-1"


@FUZZ
@given(items=csv_items())
def test_written_csv_files_read_back_as_their_items_with_matching_totals(tmp_path, items):
    path = write_file(tmp_path / "round.csv", items, "csv")

    _assert_round_trip(path, items, "csv")


# --- (3) BAI2 bank files -----------------------------------------------------------------------

BAI2_HEADER = "01,SENDER,RECEIVER,261106,0800,1,80,,2/\n"
# Free text as banks send it: no line breaks or control characters; commas are part of the text.
BAI2_TEXT = st.text(
    st.characters(
        codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="/"
    ),
    max_size=200,
).map(str.strip)


@st.composite
def bai2_groups(draw: st.DrawFn) -> list[Bai2Group]:
    groups = []
    for day in range(draw(st.integers(1, 3))):
        accounts = []
        for number in range(draw(st.integers(1, 3))):
            entries = [
                Bai2Entry(
                    draw(st.sampled_from([CREDIT, DEBIT, "165", "301", "699"])),
                    draw(st.integers(1, 10**12)),
                    draw(st.none() | st.just(f"REF{index}")),
                    draw(st.none() | st.from_regex(r"[A-Z0-9 -]{1,12}", fullmatch=True)),
                    draw(st.none() | BAI2_TEXT) or None,
                )
                for index in range(draw(st.integers(0, 6)))
            ]
            accounts.append(
                Bai2Account(
                    f"ACCT-{number}",
                    entries,
                    currency=draw(st.none() | st.sampled_from(CURRENCIES)),
                    summaries=tuple(
                        draw(
                            st.lists(
                                st.tuples(st.just("015"), st.integers(-(10**9), 10**9)), max_size=2
                            )
                        )
                    ),
                )
            )
        groups.append(
            Bai2Group(
                date(2026, 11, 1 + day),
                accounts,
                currency=draw(st.none() | st.sampled_from(CURRENCIES)),
            )
        )
    return groups


def write_bai2_file(path: Path, groups: list[Bai2Group]) -> str:
    out = io.StringIO()
    write_bai2(groups, out)
    path.write_text(out.getvalue(), encoding="utf-8")
    return out.getvalue()


@FUZZ
@given(text=st.text(max_size=2000) | st.text(st.sampled_from("0123456789,/\n 18"), max_size=2000))
def test_arbitrary_bai2_text_parses_or_is_refused(tmp_path, text):
    path = tmp_path / "fuzz.bai2"
    path.write_bytes((BAI2_HEADER + text).encode("utf-8", "surrogatepass"))

    parsed_or_refused(path)


@FUZZ
@given(mutations=st.lists(MUTATIONS, min_size=1, max_size=3), data=st.data())
def test_a_mutated_bai2_file_parses_or_is_refused(tmp_path, mutations, data):
    text = write_bai2_file(tmp_path / "valid.bai2", data.draw(bai2_groups()))
    for mutate in mutations:
        text = mutate(text, data)
    path = tmp_path / "mutated.bai2"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))

    parsed_or_refused(path)


@FUZZ
@given(groups=bai2_groups())
def test_written_bai2_files_read_back_as_the_bai2_package_reads_them(tmp_path, groups):
    path = tmp_path / "written.bai2"
    text = write_bai2_file(path, groups)
    summary = validate_file(path)
    theirs = bai2_package.parse_from_string(text)
    expected = [
        (
            Money.from_minor(detail.amount, account.header.currency or group.header.currency),
            detail.bank_reference,
        )
        for group in theirs.children
        for account in group.children
        for detail in account.children
        if 100 <= int(detail.type_code.code) < 400
    ]
    ours = [
        (item.amount, item.item if item.key and ":REF" in item.key else None)
        for item in iter_items(path)
    ]
    assert ours == expected
    assert summary.items == len(expected)
    assert summary.debits_skipped == sum(
        1
        for group in theirs.children
        for account in group.children
        for detail in account.children
        if 400 <= int(detail.type_code.code) < 700
    )


@given(items=csv_items())
@FUZZ
def test_written_camt_files_read_back_one_credit_per_item_with_matching_totals(tmp_path, items):
    path = write_file(tmp_path / "valid.xml", items, "camt")
    summary = validate_file(path)
    read = list(iter_items(path))

    assert summary.format == "camt054" and summary.items == len(items) == len(read)
    assert [item.amount for item in read] == [item.amount for item in items]
    assert len({item.key for item in read}) == len(read)
    assert summary.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
