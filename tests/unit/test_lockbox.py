"""docs/rules.md section 6, lockbox files: both formats, every control total, record order and refusal."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from ledger.domain.money import Money
from ledger.intake.lockbox import (
    CSV_HEADER,
    LockboxItem,
    LockboxItemDoesNotFit,
    LockboxProfile,
    LockboxProfileInvalid,
    LockboxRefused,
    iter_items,
    load_profile,
    validate_file,
    write_bai,
    write_csv,
)
from tests.support.factories import usd

ROOT = Path(__file__).resolve().parents[2]
DEPOSITED = date(2026, 11, 16)
CREATED = date(2026, 11, 17)


def check(
    batch: str,
    item: str,
    amount: str,
    *allocations: tuple[str, str],
    customer: str | None = "C-1",
    number: str | None = None,
    day: date = DEPOSITED,
    currency: str = "USD",
) -> LockboxItem:
    return LockboxItem(
        batch=batch,
        item=item,
        deposit_date=day,
        check_number=number or f"{batch}{item}00",
        amount=Money.parse(amount, currency),
        customer=customer,
        allocations=tuple(
            (order, Money.parse(applied, currency)) for order, applied in allocations
        ),
        line=0,
    )


# The file most BAI tests mutate; its line numbers are quoted in the tests:
#  1 file header          6 check 1/2            11 batch total 2
#  2 batch header 1       7 batch total 1        12 lockbox total
#  3 check 1/1            8 batch header 2       13 file trailer
#  4 overflow O-1         9 check 2/1
#  5 overflow O-2        10 overflow O-3
STANDARD = [
    check("1", "1", "100.00", ("O-1", "60.00"), ("O-2", "40.00")),
    check("1", "2", "50.00", customer="C-2"),
    check("2", "1", "75.00", ("O-3", "75.00"), day=date(2026, 11, 17)),
]


def write_bai_file(
    path: Path,
    items: list[LockboxItem],
    *,
    profile: LockboxProfile | None = None,
    lockbox_number: str = "1",
) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        write_bai(
            items,
            out,
            bank_file_id="BANK-0001",
            created=CREATED,
            profile=profile,
            lockbox_number=lockbox_number,
        )
    return path


def write_csv_file(path: Path, items: list[LockboxItem]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        write_csv(items, out)
    return path


@pytest.fixture
def standard(tmp_path: Path) -> Path:
    return write_bai_file(tmp_path / "standard.txt", STANDARD)


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def rewrite(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def with_field(line: str, record: str, name: str, value: str) -> str:
    """``line`` with one field of the default profile replaced, justified as the writer does."""
    spec = getattr(load_profile().records, record).field_named(name)
    assert spec is not None
    text = value.ljust(spec.length) if spec.kind == "text" else value.rjust(spec.length, "0")
    assert len(text) == spec.length
    return line[: spec.start - 1] + text + line[spec.end :]


def refusal(path: Path, profile: LockboxProfile | None = None) -> LockboxRefused:
    with pytest.raises(LockboxRefused) as caught:
        validate_file(path, profile)
    return caught.value


def without_line(item: LockboxItem) -> LockboxItem:
    return replace(item, line=0)


# --- BAI: what a valid file gives ---------------------------------------------------------------


def test_a_written_bai_file_reads_back_as_the_same_checks_with_their_first_lines(standard):
    summary = validate_file(standard)
    items = list(iter_items(standard))

    assert [without_line(item) for item in items] == STANDARD
    assert [item.line for item in items] == [3, 6, 9]
    assert summary.format == "bai"
    assert summary.bank_file_id == "BANK-0001"
    assert summary.items == 3
    assert summary.currency_totals == {"USD": usd("225.00")}
    assert summary.applied_total == {"USD": usd("175.00")}


def test_the_summary_hash_is_the_sha256_of_the_file_bytes(standard):
    assert validate_file(standard).sha256 == hashlib.sha256(standard.read_bytes()).hexdigest()


def test_the_bai_writer_fills_every_record_to_80_columns(standard):
    assert {len(line) for line in lines_of(standard)} == {80}
    assert [line[0] for line in lines_of(standard)] == list("1564467564789")


def test_crlf_line_endings_and_lines_short_of_80_columns_are_accepted(standard, tmp_path):
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes("".join(line.rstrip() + "\r\n" for line in lines_of(standard)).encode())

    assert validate_file(crlf).items == 3
    assert [without_line(item) for item in iter_items(crlf)] == STANDARD


def test_an_order_reference_that_matches_no_order_is_just_an_allocation(tmp_path):
    path = write_bai_file(tmp_path / "l.txt", [check("1", "1", "25.00", ("O-999", "25.00"))])

    assert validate_file(path).applied_total == {"USD": usd("25.00")}
    assert next(iter_items(path)).allocations == (("O-999", usd("25.00")),)


def test_a_check_without_overflow_records_has_no_allocations_and_keeps_its_customer(standard):
    second = list(iter_items(standard))[1]

    assert second.allocations == ()
    assert second.customer == "C-2"


def test_a_blank_customer_field_reads_as_no_customer(tmp_path):
    path = write_bai_file(tmp_path / "l.txt", [check("1", "1", "10.00", customer=None)])

    assert next(iter_items(path)).customer is None


def test_a_file_of_two_lockboxes_checks_each_against_its_own_total(tmp_path):
    first = lines_of(write_bai_file(tmp_path / "a.txt", STANDARD[:2]))
    second = lines_of(
        write_bai_file(tmp_path / "b.txt", [check("7", "1", "5.00")], lockbox_number="2")
    )
    lines = [*first[:-1], *second[1:]]
    lines[-1] = with_field(lines[-1], "file_trailer", "record_count", str(len(lines)))
    lines[-1] = with_field(lines[-1], "file_trailer", "total_amount", "15500")
    path = rewrite(tmp_path / "two.txt", lines)

    assert validate_file(path).currency_totals == {"USD": usd("155.00")}
    assert [item.batch for item in iter_items(path)] == ["1", "1", "7"]


def test_the_bundled_sample_lockbox_file_is_valid_and_covers_the_demo_cases():
    sample = ROOT / "ledger" / "data" / "sample-lockbox.txt"
    items = list(iter_items(sample))

    assert validate_file(sample).items == len(items) == 5
    assert len({item.batch for item in items}) == 2
    orders = [[order for order, _ in item.allocations] for item in items]
    assert ["O-101", "O-102"] in orders
    assert ["O-999"] in orders
    assert [] in orders
    assert any(
        item.amount > usd("350.00") and orders[i] == ["O-100"] for i, item in enumerate(items)
    )


# --- BAI: control totals ------------------------------------------------------------------------


def test_a_batch_total_that_disagrees_with_its_checks_is_refused_with_its_line(standard):
    lines = lines_of(standard)
    lines[6] = with_field(lines[6], "batch_total", "total_amount", "15001")

    refused = refusal(rewrite(standard, lines))

    assert refused.line == 7
    assert str(refused).startswith(
        "lockbox file refused: line 7: batch total 150.01 != sum of its checks 150.00"
    )


def test_a_batch_item_count_that_disagrees_with_its_checks_is_refused_with_its_line(standard):
    lines = lines_of(standard)
    lines[6] = with_field(lines[6], "batch_total", "item_count", "3")

    refused = refusal(rewrite(standard, lines))

    assert (refused.line, refused.reason.split(" (")[0]) == (
        7,
        "batch item count 3 != number of its checks 2",
    )


def test_a_lockbox_item_count_that_disagrees_with_its_batches_is_refused_with_its_line(standard):
    lines = lines_of(standard)
    lines[11] = with_field(lines[11], "lockbox_total", "item_count", "4")

    refused = refusal(rewrite(standard, lines))

    assert (refused.line, refused.reason) == (
        12,
        "lockbox item count 4 != number of checks in its batches 3",
    )


def test_a_lockbox_total_that_disagrees_with_its_batches_is_refused_with_its_line(standard):
    lines = lines_of(standard)
    lines[11] = with_field(lines[11], "lockbox_total", "total_amount", "22499")

    refused = refusal(rewrite(standard, lines))

    assert (refused.line, refused.reason) == (
        12,
        "lockbox total 224.99 != sum of its batches 225.00",
    )


def test_a_file_record_count_that_disagrees_with_the_file_is_refused_with_its_line(standard):
    lines = lines_of(standard)
    lines[12] = with_field(lines[12], "file_trailer", "record_count", "12")

    refused = refusal(rewrite(standard, lines))

    assert (refused.line, refused.reason) == (
        13,
        "file record count 12 != number of records in the file 13",
    )


def test_a_file_total_that_disagrees_with_its_lockboxes_is_refused_with_its_line(standard):
    lines = lines_of(standard)
    lines[12] = with_field(lines[12], "file_trailer", "total_amount", "225000")

    refused = refusal(rewrite(standard, lines))

    assert (refused.line, refused.reason) == (
        13,
        "file total 2250.00 != sum of its lockboxes 225.00",
    )


def test_overflow_amounts_that_exceed_their_check_are_refused_at_the_overflow_record(standard):
    lines = lines_of(standard)
    lines[4] = with_field(lines[4], "overflow", "amount", "4001")

    refused = refusal(rewrite(standard, lines))

    assert refused.line == 5
    assert "add up to 100.01, more than the check amount 100.00" in refused.reason


# --- BAI: record order --------------------------------------------------------------------------


def _delete(index: int):
    return lambda lines: lines[:index] + lines[index + 1 :]


def _insert(index: int, source: int):
    return lambda lines: [*lines[:index], lines[source], *lines[index:]]


def _retype(index: int, code: str):
    return lambda lines: [*lines[:index], code + lines[index][1:], *lines[index + 1 :]]


RECORD_ORDER = {
    "a check detail before any batch header": (_delete(1), 2, "outside a batch"),
    "a check detail between batches": (_insert(7, 5), 8, "outside a batch"),
    "an overflow record right after a batch header": (_delete(2), 3, "must follow a check detail"),
    "an overflow record after a batch total": (_insert(7, 3), 8, "must follow a check detail"),
    "a batch header while a batch is open (missing 7)": (
        _delete(6),
        7,
        "batch 1 (line 2) has no batch total (record 7) before a batch header",
    ),
    "a lockbox total while a batch is open (missing 7)": (
        _delete(10),
        11,
        "batch 2 (line 8) has no batch total (record 7) before a lockbox total",
    ),
    "a file trailer without a lockbox total (missing 8)": (
        _delete(11),
        12,
        "file trailer (record 9) without a lockbox total (record 8)",
    ),
    "the end of the file without a file trailer (missing 9)": (
        _delete(12),
        12,
        "the file ends here without a file trailer (record 9)",
    ),
    "the end of the file inside a batch": (
        lambda lines: lines[:9],
        9,
        "has no batch total (record 7) before the end of the file",
    ),
    "a record after the file trailer": (
        _insert(13, 12),
        14,
        "record after the file trailer (line 13)",
    ),
    "a second file header": (_insert(7, 0), 8, "a second file header (record 1)"),
    "an unknown record type": (_retype(2, "3"), 3, "unknown record type '3'"),
    "a blank line": (lambda lines: [*lines[:3], "", *lines[3:]], 4, "blank line"),
}


@pytest.mark.parametrize(
    ("mutate", "line", "reason"), RECORD_ORDER.values(), ids=RECORD_ORDER.keys()
)
def test_a_record_out_of_order_is_refused_with_its_line(standard, mutate, line, reason):
    refused = refusal(rewrite(standard, mutate(lines_of(standard))))

    assert refused.line == line
    assert reason in refused.reason


def test_a_check_detail_whose_batch_differs_from_its_batch_header_is_refused(standard):
    lines = lines_of(standard)
    lines[5] = with_field(lines[5], "check", "batch", "9")

    refused = refusal(rewrite(standard, lines))

    assert (refused.line, refused.reason) == (
        6,
        "check detail (record 6): batch 9 differs from batch 1 of line 2",
    )


def test_an_overflow_record_naming_another_item_than_its_check_is_refused(standard):
    lines = lines_of(standard)
    lines[4] = with_field(lines[4], "overflow", "item", "2")

    assert refusal(rewrite(standard, lines)).line == 5


def test_a_lockbox_total_naming_another_lockbox_than_its_batches_is_refused(standard):
    lines = lines_of(standard)
    lines[11] = with_field(lines[11], "lockbox_total", "lockbox", "2")

    refused = refusal(rewrite(standard, lines))

    assert (refused.line, refused.reason) == (
        12,
        "lockbox total (record 8): lockbox 2 differs from lockbox 1 of line 2",
    )


# --- BAI: fields --------------------------------------------------------------------------------


def test_a_line_longer_than_80_characters_is_refused(standard):
    lines = lines_of(standard)
    lines[2] += "X"

    refused = refusal(rewrite(standard, lines))

    assert (refused.line, refused.reason) == (
        3,
        "line is 81 characters long; records are at most 80",
    )


def test_a_deposit_date_that_does_not_exist_is_refused(standard):
    lines = lines_of(standard)
    lines[1] = with_field(lines[1], "batch_header", "deposit_date", "260230")

    refused = refusal(rewrite(standard, lines))

    assert refused.line == 2
    assert "deposit_date '260230' in columns 15-20 is not an existing date" in refused.reason


def test_a_date_written_with_spaces_for_zeros_is_refused(standard):
    lines = lines_of(standard)
    lines[0] = with_field(lines[0], "file_header", "creation_date", "26 1 1")

    assert refusal(rewrite(standard, lines)).line == 1


@pytest.mark.parametrize("amount", ["00000001000A", "0000 0001000", "            ", "-00000001000"])
def test_a_numeric_field_that_is_not_all_digits_is_refused(standard, amount):
    lines = lines_of(standard)
    lines[2] = lines[2][:13] + amount + lines[2][25:]

    refused = refusal(rewrite(standard, lines))

    assert refused.line == 3
    assert "amount in columns 14-25 must be digits" in refused.reason


def test_a_check_of_zero_is_refused(standard):
    lines = lines_of(standard)
    lines[5] = with_field(lines[5], "check", "amount", "0")

    assert refusal(rewrite(standard, lines)).reason.endswith("must be greater than zero")


def test_an_overflow_record_without_an_order_is_refused(standard):
    lines = lines_of(standard)
    lines[3] = with_field(lines[3], "overflow", "order", "")

    refused = refusal(rewrite(standard, lines))

    assert (refused.line, refused.reason) == (4, "overflow record (record 4): order is blank")


def test_the_same_batch_and_item_twice_is_refused_naming_both_lines(tmp_path):
    items = [check("1", "1", "10.00"), check("2", "1", "20.00"), check("1", "1", "30.00")]
    path = write_bai_file(tmp_path / "dup.txt", items)

    refused = refusal(path)

    assert (refused.line, refused.reason) == (9, "batch 1 item 1 appears twice: first on line 3")


def test_the_same_item_twice_in_one_batch_is_refused(tmp_path):
    path = write_bai_file(
        tmp_path / "dup.txt", [check("1", "4", "10.00"), check("1", "4", "10.00")]
    )

    assert refusal(path).line == 4


def test_a_file_header_without_a_bank_file_id_is_refused(tmp_path):
    path = tmp_path / "l.txt"
    with path.open("w") as out:
        write_bai([check("1", "1", "1.00")], out, bank_file_id="", created=CREATED)

    assert (refusal(path).line, refusal(path).reason) == (1, "file header has no bank file id")


# --- any file: encoding and shape ---------------------------------------------------------------


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")

    assert str(refusal(path)) == "lockbox file refused: the file is empty"


def test_bytes_that_are_not_utf8_are_refused_naming_their_line(standard):
    data = standard.read_bytes().replace(b"C-2", b"C-\xff", 1)
    standard.write_bytes(data)

    refused = refusal(standard)

    assert (refused.line, refused.reason) == (6, "not UTF-8 text: byte 0xff cannot be decoded")


def test_a_control_character_is_refused_naming_its_line_and_column(standard):
    standard.write_bytes(standard.read_bytes().replace(b"C-2 ", b"C-2\t", 1))

    refused = refusal(standard)

    assert (refused.line, refused.reason) == (6, "control character U+0009 in column 44")


def test_a_file_in_neither_format_is_refused(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("hello\n")

    assert refusal(path).reason.startswith("not a lockbox file")


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"1" * 3_000_000, 1),
        (CSV_HEADER.encode() + b"\n" + b"x" * 70_000 + b"\n", 2),
        (CSV_HEADER.encode() + b"\n" + b"x" * 70_000, 2),
    ],
    ids=["without a line break", "followed by a line break", "at the end of the file"],
)
def test_a_line_longer_than_any_lockbox_line_is_refused_without_reading_on(tmp_path, content, line):
    path = tmp_path / "x.txt"
    path.write_bytes(content)

    assert (refusal(path).line, refusal(path).reason) == (line, "line longer than 65536 characters")


# --- CSV ----------------------------------------------------------------------------------------


def csv_file(tmp_path: Path, *rows: str, header: str = CSV_HEADER) -> Path:
    path = tmp_path / "lockbox.csv"
    path.write_text("".join(line + "\n" for line in (header, *rows)), encoding="utf-8")
    return path


def test_a_written_csv_file_reads_back_as_the_same_checks(tmp_path):
    items = [
        *STANDARD,
        check("B-9", "x,1", "1500", ("O-4", "1000"), currency="JPY", customer=None),
        check("B-9", 'say "hi"', "1.250", currency="KWD"),
    ]
    path = write_csv_file(tmp_path / "l.csv", items)

    summary = validate_file(path)

    assert [without_line(item) for item in iter_items(path)] == items
    assert [item.line for item in iter_items(path)] == [2, 4, 5, 6, 7]
    assert (summary.format, summary.bank_file_id, summary.items) == ("csv", None, 5)
    assert summary.currency_totals == {
        "USD": usd("225.00"),
        "JPY": Money.parse("1500", "JPY"),
        "KWD": Money.parse("1.250", "KWD"),
    }
    assert summary.applied_total == {
        "USD": usd("175.00"),
        "JPY": Money.parse("1000", "JPY"),
        "KWD": Money.parse("0", "KWD"),
    }


def test_rows_with_the_same_batch_and_item_are_one_check_split_across_orders(tmp_path):
    path = csv_file(
        tmp_path,
        "1,1,2026-11-16,123,100.00,USD,C-1,O-101,60.00",
        "1,1,2026-11-16,123,100.0,USD,C-1,O-102,40",
    )

    assert validate_file(path).items == 1
    assert next(iter_items(path)).allocations == (("O-101", usd("60.00")), ("O-102", usd("40.00")))


def test_a_check_with_no_order_and_no_customer_is_all_unapplied(tmp_path):
    path = csv_file(tmp_path, "1,1,2026-11-16,123,100.00,USD,,,")

    item = next(iter_items(path))

    assert (item.customer, item.allocations) == (None, ())
    assert validate_file(path).applied_total == {"USD": usd("0.00")}


def test_split_rows_whose_applied_amounts_exceed_the_check_are_refused(tmp_path):
    path = csv_file(
        tmp_path,
        "1,1,2026-11-16,123,100.00,USD,C-1,O-1,60.00",
        "1,1,2026-11-16,123,100.00,USD,C-1,O-2,40.01",
    )

    refused = refusal(path)

    assert (refused.line, refused.reason) == (
        3,
        "applied amounts of batch 1 item 1 add up to 100.01, more than its check_amount 100.00",
    )


@pytest.mark.parametrize(
    ("column", "second_row"),
    [
        ("check_amount", "1,1,2026-11-16,123,90.00,USD,C-1,O-2,10.00"),
        ("deposit_date", "1,1,2026-11-17,123,100.00,USD,C-1,O-2,10.00"),
        ("check_number", "1,1,2026-11-16,124,100.00,USD,C-1,O-2,10.00"),
        ("currency", "1,1,2026-11-16,123,100.00,CAD,C-1,O-2,10.00"),
        ("customer", "1,1,2026-11-16,123,100.00,USD,C-2,O-2,10.00"),
    ],
)
def test_a_split_row_that_disagrees_with_the_first_row_of_its_check_is_refused(
    tmp_path, column, second_row
):
    path = csv_file(tmp_path, "1,1,2026-11-16,123,100.00,USD,C-1,O-1,10.00", second_row)

    refused = refusal(path)

    assert refused.line == 3
    assert refused.reason.startswith(f"{column} ")
    assert "on line 2, the first row of batch 1 item 1" in refused.reason


def test_rows_of_one_check_that_are_not_adjacent_are_refused_naming_both_lines(tmp_path):
    path = csv_file(
        tmp_path,
        "1,1,2026-11-16,123,100.00,USD,C-1,O-1,10.00",
        "1,2,2026-11-16,124,100.00,USD,C-1,O-1,10.00",
        "1,1,2026-11-16,123,100.00,USD,C-1,O-2,10.00",
    )

    refused = refusal(path)

    assert refused.line == 4
    assert refused.reason.startswith("batch 1 item 1 appears again, apart from its rows at line 2")


def test_a_split_check_with_a_row_that_names_no_order_is_refused(tmp_path):
    path = csv_file(
        tmp_path,
        "1,1,2026-11-16,123,100.00,USD,C-1,,",
        "1,1,2026-11-16,123,100.00,USD,C-1,O-2,10.00",
    )

    assert refusal(path).line == 3


@pytest.mark.parametrize(
    ("order", "applied", "reason"),
    [
        ("O-1", "", "order O-1 has no applied_amount"),
        ("", "5.00", "applied_amount 5.00 names no order"),
    ],
)
def test_an_order_without_an_applied_amount_or_the_reverse_is_refused(
    tmp_path, order, applied, reason
):
    path = csv_file(tmp_path, f"1,1,2026-11-16,123,100.00,USD,C-1,{order},{applied}")

    assert (refusal(path).line, refusal(path).reason) == (2, reason)


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("12.345", "USD"), ("12.500", "USD"), ("100.5", "JPY"), ("1.0001", "KWD")],
)
def test_an_amount_with_more_decimals_than_its_currency_is_refused(tmp_path, amount, currency):
    path = csv_file(tmp_path, f"1,1,2026-11-16,123,{amount},{currency},C-1,,")

    refused = refusal(path)

    assert refused.line == 2
    assert "has more decimal places than" in refused.reason


@pytest.mark.parametrize(
    "amount", ["1e2", "1.5E2", "NaN", "Infinity", " 12.00", "1,000.00", "+5", ".5"]
)
def test_a_float_looking_or_exponent_amount_is_refused(tmp_path, amount):
    path = tmp_path / "l.csv"
    path.write_text(f'{CSV_HEADER}\n1,1,2026-11-16,123,100.00,USD,C-1,O-1,"{amount}"\n')

    refused = refusal(path)

    assert refused.line == 2
    assert refused.reason.startswith("applied_amount must be a decimal string")


@pytest.mark.parametrize(
    ("amount", "column"), [("0.00", "check_amount"), ("-5.00", "check_amount")]
)
def test_a_check_amount_must_be_greater_than_zero(tmp_path, amount, column):
    path = csv_file(tmp_path, f"1,1,2026-11-16,123,{amount},USD,C-1,,")

    assert refusal(path).reason == f"{column} must be greater than zero, got {amount}"


def test_an_applied_amount_of_zero_is_refused(tmp_path):
    path = csv_file(tmp_path, "1,1,2026-11-16,123,5.00,USD,C-1,O-1,0.00")

    assert refusal(path).reason == "applied_amount must be greater than zero, got 0.00"


@pytest.mark.parametrize(
    ("deposited", "reason"),
    [
        ("2026-02-30", "deposit_date 2026-02-30 does not exist"),
        ("2026-13-01", "deposit_date 2026-13-01 does not exist"),
        ("20261116", "deposit_date '20261116' is not a date in the form YYYY-MM-DD"),
        ("16/11/2026", "deposit_date '16/11/2026' is not a date in the form YYYY-MM-DD"),
    ],
)
def test_a_deposit_date_must_be_an_existing_iso_date(tmp_path, deposited, reason):
    path = csv_file(tmp_path, f"1,1,{deposited},123,5.00,USD,C-1,,")

    assert refusal(path).reason == reason


def test_an_unknown_currency_is_refused(tmp_path):
    path = csv_file(tmp_path, "1,1,2026-11-16,123,5.00,usd,C-1,,")

    assert refusal(path).reason.startswith("unknown currency 'usd'")


def test_a_header_other_than_the_documented_one_is_refused(tmp_path):
    path = csv_file(tmp_path, header=CSV_HEADER.replace("order", "order_number"))

    assert (refusal(path).line, refusal(path).reason) == (
        1,
        f"the CSV header must be exactly {CSV_HEADER}[,remittance,payer_account]",
    )


MATCHING_HEADER = CSV_HEADER + ",remittance,payer_account"


def test_the_optional_remittance_and_payer_account_columns_reach_the_check(tmp_path):
    path = csv_file(
        tmp_path,
        '1,1,2026-11-16,123,5.00,USD,,,,"Ref: INV#O-12, O-13",021000021-12345',
        "1,2,2026-11-16,124,7.00,USD,C-1,O-1,7.00,,",
        header=MATCHING_HEADER,
    )

    first, second = iter_items(path)

    assert (first.remittance, first.payer_account) == ("Ref: INV#O-12, O-13", "021000021-12345")
    assert (second.remittance, second.payer_account) == (None, None)
    assert validate_file(path).items == 2


def test_a_written_csv_file_with_remittance_reads_back_as_the_same_checks(tmp_path):
    items = [
        replace(check("1", "1", "5.00", customer=None), remittance='Ref:O-12,O-13 "paid"'),
        replace(check("1", "2", "7.00", customer=None), payer_account="021000021-12345"),
        replace(
            check("1", "3", "9.00", ("O-1", "4.00"), ("O-2", "5.00")),
            remittance="INV#O-1 4.00 o 2 5.00",
            payer_account="DE89370400440532013000",
        ),
        check("1", "4", "3.00"),
    ]
    path = write_csv_file(tmp_path / "l.csv", items)

    assert lines_of(path)[0] == MATCHING_HEADER
    assert [without_line(item) for item in iter_items(path)] == items
    assert validate_file(path).items == 4


def test_a_csv_file_without_remittance_is_written_without_the_optional_columns(tmp_path):
    path = write_csv_file(tmp_path / "l.csv", [check("1", "1", "5.00")])

    assert lines_of(path)[0] == CSV_HEADER


@pytest.mark.parametrize("remittance", [" O-1", "O-1 ", "", "O-1\nO-2", "O-1\tO-2", "x" * 2001])
def test_remittance_the_reader_would_not_read_back_is_not_written(tmp_path, remittance):
    item = replace(check("1", "1", "5.00"), remittance=remittance)

    with pytest.raises(LockboxItemDoesNotFit):
        write_csv_file(tmp_path / "l.csv", [item])


def test_a_streamed_csv_file_written_without_the_columns_refuses_remittance(tmp_path):
    items = iter([replace(check("1", "1", "5.00"), payer_account="PA-1")])

    with (tmp_path / "l.csv").open("w") as out, pytest.raises(LockboxItemDoesNotFit):
        write_csv(items, out, matching_columns=False)


def test_rows_of_one_split_check_must_agree_on_remittance(tmp_path):
    path = csv_file(
        tmp_path,
        "1,1,2026-11-16,123,9.00,USD,C-1,O-1,4.00,O-1 O-2,",
        "1,1,2026-11-16,123,9.00,USD,C-1,O-2,5.00,O-2,",
        header=MATCHING_HEADER,
    )

    assert (refusal(path).line, refusal(path).reason) == (
        3,
        "remittance 'O-2' disagrees with 'O-1 O-2' on line 2, the first row of batch 1 item 1",
    )


def test_a_row_must_have_as_many_fields_as_the_header(tmp_path):
    path = csv_file(tmp_path, "1,1,2026-11-16,123,5.00,USD,C-1,,,O-1,")

    assert refusal(path).reason.startswith("expected 9 fields (batch,item,")


def test_remittance_longer_than_the_limit_is_refused(tmp_path):
    path = csv_file(
        tmp_path, "1,1,2026-11-16,123,5.00,USD,C-1,,," + "x" * 2001 + ",", header=MATCHING_HEADER
    )

    assert refusal(path).reason == "remittance is 2001 characters long, at most 2000 allowed"


def test_a_row_with_the_wrong_number_of_fields_is_refused(tmp_path):
    path = csv_file(
        tmp_path, "1,1,2026-11-16,123,5.00,USD,C-1,,", "1,2,2026-11-16,123,5.00,USD,C-1,"
    )

    assert refusal(path).line == 3


def test_a_code_with_surrounding_spaces_is_refused(tmp_path):
    path = csv_file(tmp_path, "1,1,2026-11-16,123,5.00,USD, C-1,,")

    assert refusal(path).reason == "customer ' C-1' has leading or trailing spaces"


def test_a_code_with_a_line_break_inside_quotes_is_refused_at_the_row_it_starts(tmp_path):
    path = csv_file(
        tmp_path, "1,1,2026-11-16,123,5.00,USD,C-1,,", '1,2,2026-11-16,123,5.00,USD,"C-\n2",,'
    )

    assert (refusal(path).line, refusal(path).reason) == (
        3,
        "customer 'C-\\n2' contains a line break",
    )


def test_a_blank_line_in_a_csv_file_is_refused(tmp_path):
    path = csv_file(
        tmp_path, "1,1,2026-11-16,123,5.00,USD,C-1,,", "", "1,2,2026-11-16,123,5.00,USD,C-1,,"
    )

    assert (refusal(path).line, refusal(path).reason) == (3, "blank line")


def test_an_unterminated_quote_is_refused_not_read_to_the_end(tmp_path):
    path = csv_file(
        tmp_path, '1,"1,2026-11-16,123,5.00,USD,C-1,,', "1,2,2026-11-16,123,5.00,USD,C-1,,"
    )

    assert isinstance(refusal(path), LockboxRefused)


def test_a_csv_file_with_a_byte_order_mark_and_crlf_endings_is_accepted(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + CSV_HEADER + "\r\n1,1,2026-11-16,123,5.00,USD,C-1,,\r\n").encode())

    assert validate_file(path).items == 1


def test_a_csv_file_with_only_its_header_has_no_checks(tmp_path):
    summary = validate_file(csv_file(tmp_path))

    assert (summary.items, summary.currency_totals, summary.applied_total) == (0, {}, {})


# --- profiles -----------------------------------------------------------------------------------


def default_profile_data() -> dict:
    return json.loads((ROOT / "ledger" / "data" / "lockbox-default-profile.json").read_text())


def test_a_variant_profile_with_shifted_fields_reads_files_written_with_it(tmp_path):
    data = default_profile_data()
    data["name"] = "bank-variant"
    data["record_length"] = 100
    data["currency"] = "JPY"
    for layout in data["records"].values():
        for spec in layout["fields"]:
            spec["start"] += 7
    data["records"]["check"]["fields"].append(
        {"name": "remitter", "start": 90, "length": 10, "kind": "text"}
    )
    data["records"]["batch_header"]["fields"][2]["format"] = "%Y%m%d"
    data["records"]["batch_header"]["fields"][2]["length"] = 8
    profile_path = tmp_path / "variant.json"
    profile_path.write_text(json.dumps(data))
    variant = load_profile(profile_path)
    items = [
        check("1", "1", "1500", ("O-1", "1000"), currency="JPY"),
        check("2", "5", "30", currency="JPY"),
    ]
    path = write_bai_file(tmp_path / "variant.txt", items, profile=variant)

    summary = validate_file(path, variant)

    assert {len(line) for line in lines_of(path)} == {100}
    assert summary.currency_totals == {"JPY": Money.parse("1530", "JPY")}
    assert [without_line(item) for item in iter_items(path, variant)] == items
    assert isinstance(refusal(path), LockboxRefused)  # the default profile cannot read it


def test_the_default_profile_is_the_bundled_json():
    profile = load_profile()

    assert profile == load_profile(ROOT / "ledger" / "data" / "lockbox-default-profile.json")
    assert (profile.currency, profile.record_length, profile.records.check.code) == ("USD", 80, "6")


def _broken(edit) -> dict:
    data = default_profile_data()
    edit(data)
    return data


BROKEN_PROFILES = {
    "overlapping fields": (
        lambda d: d["records"]["check"]["fields"][1].update(start=3),
        "check.item overlaps check.batch",
    ),
    "a missing required field": (
        lambda d: d["records"]["overflow"].update(fields=d["records"]["overflow"]["fields"][:3]),
        "overflow: missing field(s) amount",
    ),
    "a field past the record length": (
        lambda d: d["records"]["file_trailer"]["fields"][1].update(start=70),
        "file_trailer.total_amount ends in column 85, past the record length 80",
    ),
    "a date format wider than its field": (
        lambda d: d["records"]["batch_header"]["fields"][2].update(format="%Y%m%d"),
        "format '%Y%m%d' writes 8 characters, the field has 6",
    ),
    "a date format without a year": (
        lambda d: d["records"]["batch_header"]["fields"][2].update(format="%m%d", length=4),
        "does not carry a whole date",
    ),
    "an amount of the wrong kind": (
        lambda d: d["records"]["check"]["fields"][2].update(kind="text"),
        "check.amount must be of kind amount, not text",
    ),
    "a float column": (
        lambda d: d["records"]["check"]["fields"][0].update(start=2.0),
        "start: Input should be a valid integer",
    ),
    "two records with one code": (lambda d: d["records"]["overflow"].update(code="6"), "distinct"),
    "an unknown currency": (lambda d: d.update(currency="XYZ"), "unknown currency"),
    "an unknown key": (lambda d: d.update(extra=1), "extra: Extra inputs are not permitted"),
}


@pytest.mark.parametrize(("edit", "reason"), BROKEN_PROFILES.values(), ids=BROKEN_PROFILES.keys())
def test_a_profile_that_cannot_describe_a_file_is_refused_with_the_reason(tmp_path, edit, reason):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(_broken(edit)))

    with pytest.raises(LockboxProfileInvalid, match="is invalid") as caught:
        load_profile(path)

    assert reason in caught.value.reason


def test_the_bai_writer_refuses_an_item_its_profile_cannot_carry(tmp_path):
    too_long = check("1", "1", "10.00", number="1234567890123456")
    letters = check("B1", "1", "10.00")

    with (tmp_path / "l.txt").open("w") as out:
        with pytest.raises(
            LockboxItemDoesNotFit, match="check_number '1234567890123456' is longer"
        ):
            write_bai([too_long], out, bank_file_id="X", created=CREATED)
        with pytest.raises(LockboxItemDoesNotFit, match="batch 'B1' is not digits"):
            write_bai([letters], out, bank_file_id="X", created=CREATED)
