"""docs/rules.md section 13, BAI2 bank files: what is read, every check and refusal, and agreement
with the ``bai2`` package's parser on every file written here."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pytest
from bai2 import bai2 as bai2_package

from ledger.domain.money import Money
from ledger.intake.lockbox import LockboxRefused, iter_items, validate_file
from ledger.intake.lockbox.bai2_writer import (
    CREDIT,
    DEBIT,
    Bai2Account,
    Bai2Entry,
    Bai2Group,
    write_bai2,
)

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 6)
LONG_TEXT = "Payment of invoices O-100 and O-101, thank you; the rest is for order O-102 next week"


def text_of(groups: list[Bai2Group], **kwargs: object) -> str:
    out = io.StringIO()
    write_bai2(groups, out, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def standard_groups() -> list[Bai2Group]:
    return [
        Bai2Group(
            AS_OF,
            [
                Bai2Account(
                    "111222333",
                    [
                        Bai2Entry(CREDIT, 12_345, "BR-1", "INV-9", LONG_TEXT),
                        Bai2Entry(DEBIT, 5_000, "BR-2", None, "check paid"),
                        Bai2Entry("301", 700),
                    ],
                    currency="USD",
                    summaries=(("015", 1_000_000), ("010", -2_500)),
                ),
                Bai2Account("444555666", [Bai2Entry(CREDIT, 99, "BR-3")], currency="EUR"),
            ],
            currency="CAD",
        ),
        Bai2Group(
            date(2026, 11, 7),
            [Bai2Account("111222333", [Bai2Entry("175", 1_000, "BR-4", "C-7", "deposit")])],
        ),
    ]


def write(tmp_path: Path, text: str, name: str = "bank.bai2") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(tmp_path: Path, text: str) -> LockboxRefused:
    with pytest.raises(LockboxRefused) as caught:
        validate_file(write(tmp_path, text))
    return caught.value


def test_credits_are_receipts_with_currency_value_date_references_and_remittance(tmp_path):
    path = write(tmp_path, text_of(standard_groups()))
    summary = validate_file(path)
    assert summary.format == "bai2"
    assert summary.items == 4
    assert summary.debits_skipped == 1
    assert summary.bank_file_id == "ARLEDGERBANK,ARLEDGER,261106,0800,1"
    assert summary.currency_totals == {
        "USD": Money.from_minor(12_345 + 700 + 1_000, "USD"),
        "EUR": Money.from_minor(99, "EUR"),
    }
    items = list(iter_items(path))
    first, no_reference, euro, second_day = items
    assert first.amount == Money.from_minor(12_345, "USD")
    assert first.deposit_date == AS_OF
    assert first.check_number == "BR-1"
    assert first.customer is None and first.allocations == ()
    # The writer cuts the text at 80 characters; the 88 continuation is joined with a space.
    assert first.remittance is not None and first.remittance.startswith("INV-9 Payment of invoices")
    assert "O-102" in first.remittance
    assert first.key == "bai2:111222333:BR-1:2026-11-06"
    assert no_reference.key == f"bai2:{summary.bank_file_id}:111222333:{no_reference.line}"
    assert no_reference.item == f"#{no_reference.line}"
    assert euro.amount.currency == "EUR"
    # No currency on the 03 or the 02: USD.
    assert second_day.amount.currency == "USD"
    assert second_day.deposit_date == date(2026, 11, 7)
    assert second_day.key == "bai2:111222333:BR-4:2026-11-07"


def test_currency_comes_from_the_group_when_the_account_names_none(tmp_path):
    groups = [Bai2Group(AS_OF, [Bai2Account("1", [Bai2Entry(CREDIT, 5, "R")])], currency="CAD")]
    (item,) = iter_items(write(tmp_path, text_of(groups)))
    assert item.amount == Money.from_minor(5, "CAD")


def test_a_credit_re_reported_in_another_file_keeps_its_key(tmp_path):
    first = write(tmp_path, text_of(standard_groups(), file_id="1"), "a.bai2")
    later = write(
        tmp_path,
        text_of(standard_groups(), file_id="2", created=datetime(2026, 11, 8, 9, 30)),
        "b.bai2",
    )
    keys_first = [item.key for item in iter_items(first)]
    keys_later = [item.key for item in iter_items(later)]
    # Credits with a bank reference keep their key; the one without takes the file's id.
    assert keys_first[0] == keys_later[0] and keys_first[2:] == keys_later[2:]
    assert keys_first[1] != keys_later[1]


@pytest.mark.parametrize(
    "groups",
    [
        standard_groups(),
        [Bai2Group(AS_OF, [Bai2Account("9", [Bai2Entry(DEBIT, 1, "D")])])],
        [
            Bai2Group(
                date(2026, 11, 6 + day),
                [
                    Bai2Account(
                        f"ACCT{account}",
                        [
                            Bai2Entry(
                                CREDIT if entry % 3 else DEBIT,
                                entry * 101 + 1,
                                f"R{account}-{entry}" if entry % 2 else None,
                                f"C{entry}",
                                "x" * (entry * 37),
                            )
                            for entry in range(12)
                        ],
                        summaries=(("015", 10**9),),
                    )
                    for account in range(3)
                ],
                currency="JPY",
            )
            for day in range(2)
        ],
    ],
    ids=["standard", "debits-only", "long-texts-many-accounts"],
)
def test_the_bai2_package_reads_every_test_file_as_we_do(tmp_path, groups):
    text = text_of(groups)
    path = write(tmp_path, text)
    summary = validate_file(path)
    ours = list(iter_items(path))
    theirs = bai2_package.parse_from_string(text)  # checks every total and count itself
    credits = []
    debits = 0
    for group in theirs.children:
        for account in group.children:
            currency = account.header.currency or group.header.currency
            for detail in account.children:
                code = int(detail.type_code.code)
                if 100 <= code < 400:
                    credits.append((account, currency, group.header.as_of_date, detail))
                elif code < 700:
                    debits += 1
    assert summary.items == len(ours) == len(credits)
    assert summary.debits_skipped == debits
    assert theirs.trailer.number_of_records == text.count("\n")
    for item, (account, currency, as_of, detail) in zip(ours, credits, strict=True):
        assert item.amount == Money.from_minor(detail.amount, currency)
        assert item.deposit_date == as_of
        assert item.batch.startswith(account.header.customer_account_number)
        expected_reference = detail.bank_reference or detail.customer_reference
        if expected_reference:
            assert item.check_number == expected_reference
        remittance = " ".join(
            part for part in (detail.customer_reference, (detail.text or "").strip()) if part
        )
        assert item.remittance == (remittance or None)


def test_an_order_number_cut_between_16_and_88_reads_as_the_bai2_package_joins_it(tmp_path):
    # "16,195,2000,Z,BR-CUT,," and 58 characters of text fill the package's 80-character record:
    # its writer cuts the text there, in the middle of O-102.
    text = "x" * (58 - len("paid order O-1")) + "paid order O-102 thanks"
    groups = [
        Bai2Group(AS_OF, [Bai2Account("1", [Bai2Entry(CREDIT, 2_000, "BR-CUT", None, text)])])
    ]
    written = text_of(groups)
    detail, continuation = written.splitlines()[3:5]
    assert detail.endswith("O-1") and continuation == "88,02 thanks"
    (item,) = iter_items(write(tmp_path, written))
    theirs = bai2_package.parse_from_string(written).children[0].children[0].children[0]
    # The bai2 package joins a text row to its continuation with a space; so do we.
    assert item.remittance == theirs.text == text.replace("O-102", "O-1 02")
    # ... and say where that space is, so that matching also reads the word glued.
    (cut,) = item.remittance_breaks
    assert item.remittance[cut - 3 : cut + 3] == "O-1 02"


def test_breaks_are_offsets_in_the_remittance_behind_the_customer_reference(tmp_path):
    text = "y" * 40 + " and then a long tail of words that runs past one record into two more " * 2
    groups = [Bai2Group(AS_OF, [Bai2Account("1", [Bai2Entry(CREDIT, 1, "R", "CREF-1", text)])])]
    written = text_of(groups)
    (item,) = iter_items(write(tmp_path, written))
    theirs = bai2_package.parse_from_string(written).children[0].children[0].children[0]
    assert item.remittance == f"CREF-1 {theirs.text.strip()}"
    rows = [line[3:] for line in written.splitlines() if line.startswith("88,")]
    assert len(item.remittance_breaks) == len(rows) >= 2
    for cut, row in zip(item.remittance_breaks, rows, strict=True):
        assert item.remittance[cut] == " " and item.remittance[cut + 1 :].startswith(row.strip())


def test_the_sample_is_read_and_the_bai2_package_agrees(tmp_path):
    sample = ROOT / "ledger" / "data" / "sample-bai2.txt"
    summary = validate_file(sample)
    assert summary.format == "bai2"
    assert summary.debits_skipped == 1
    theirs = bai2_package.parse_from_string(sample.read_text())
    details = [d for g in theirs.children for a in g.children for d in a.children]
    assert summary.items == len(details) - 1
    remittances = " ".join(item.remittance or "" for item in iter_items(sample))
    for order in ("100", "101", "102"):
        assert order in remittances


def test_the_lockbox_bai_format_is_still_told_apart():
    summary = validate_file(ROOT / "ledger" / "data" / "sample-lockbox.txt")
    assert summary.format == "bai"


# -- refusals: each names the line and the reason ----------------------------------------------

BASE = (
    "01,SENDER,RECEIVER,261106,0800,7,80,,2/\n"  # 1
    "02,RECEIVER,SENDER,1,261106,0000,USD,/\n"  # 2
    "03,555,USD,015,1000,,/\n"  # 3
    "16,195,2500,Z,BR1,CR1,order O-100\n"  # 4
    "88,and O-101\n"  # 5
    "16,475,300,Z,BR2,,\n"  # 6
    "49,3800,5/\n"  # 7
    "98,3800,1,7/\n"  # 8
    "99,3800,1,9/\n"  # 9
)


def test_the_base_file_is_accepted_by_both_parsers(tmp_path):
    summary = validate_file(write(tmp_path, BASE))
    assert (summary.items, summary.debits_skipped) == (1, 1)
    (item,) = iter_items(write(tmp_path, BASE))
    assert item.remittance == "CR1 order O-100 and O-101"
    assert bai2_package.parse_from_string(BASE).trailer.file_control_total == 3800


@pytest.mark.parametrize(
    ("old", "new", "line", "reason"),
    [
        ("49,3800,5/", "49,3801,5/", 7, "control total is 3801, but the records add up to 3800"),
        ("49,3800,5/", "49,3800,4/", 7, "number of records is 4, but the records add up to 5"),
        ("98,3800,1,7/", "98,3700,1,7/", 8, "group control total is 3700"),
        ("98,3800,1,7/", "98,3800,2,7/", 8, "number of accounts is 2"),
        ("98,3800,1,7/", "98,3800,1,8/", 8, "group's number of records is 8"),
        ("99,3800,1,9/", "99,3900,1,9/", 9, "file control total is 3900"),
        ("99,3800,1,9/", "99,3800,2,9/", 9, "number of groups is 2"),
        ("99,3800,1,9/", "99,3800,1,10/", 9, "file's number of records is 10"),
        ("261106,0800", "261306,0800", 1, "creation date '261306' is not a date YYMMDD"),
        (",80,,2/", ",80,,3/", 1, "only BAI version 2 is read"),
        ("1,261106,0000,USD", "1,261106,0000,XYZ", 2, "unknown currency 'XYZ'"),
        ("1,261106,0000", "1,261199,0000", 2, "as-of date '261199' is not a date"),
        ("16,195,2500,", "16,195,25x0,", 4, "amount '25x0' is not a whole number"),
        ("16,195,2500,Z", "16,195,2500,Q", 4, "funds type 'Q'"),
        ("16,195,2500,", "16,015,2500,", 4, "status code"),
        ("16,195,2500,", "16,19,2500,", 4, "type code '19' is not 3 digits"),
        ("03,555,USD,015,1000,,/", "03,,USD,015,1000,,/", 3, "no account number"),
        ("03,555,USD,015,1000,,/", "03,555,USD,015,1x00,,/", 3, "summary amount '1x00'"),
        ("88,and O-101\n", "88,and O-101\n17,1/\n", 6, "unknown record type '17'"),
        ("99,3800,1,9/\n", "99,3800,1,9/\n03,1/\n", 10, "record after the file trailer (99)"),
        ("99,3800,1,9/\n", "", 8, "ends without its file trailer"),
    ],
)
def test_each_check_refuses_with_its_line(tmp_path, old, new, line, reason):
    text = BASE.replace(old, new, 1)
    assert text != BASE
    error = refused(tmp_path, text)
    assert error.line == line
    assert reason in error.reason


def test_a_detail_before_its_account_is_out_of_order(tmp_path):
    lines = BASE.splitlines(keepends=True)
    text = "".join([lines[0], lines[1], lines[3], lines[2], *lines[4:]])
    error = refused(tmp_path, text)
    assert error.line == 3
    assert "after a group header (02)" in error.reason


def test_a_continuation_first_and_a_second_header_are_refused(tmp_path):
    assert refused(tmp_path, "88,x\n" + BASE).line == 1
    error = refused(
        tmp_path, BASE.replace("02,", "01,SENDER,RECEIVER,261106,0800,8,80,,2/\n02,", 1)
    )
    assert error.line == 2
    assert "file header (01) after a file header" in error.reason


def test_a_zero_credit_is_refused(tmp_path):
    text = BASE.replace("16,195,2500,", "16,195,0,").replace("3800", "1300")
    error = refused(tmp_path, text)
    assert (error.line, error.reason) == (4, "a credit of zero cannot be a receipt")


def test_the_same_bank_reference_twice_for_an_account_and_day_is_refused(tmp_path):
    groups = [
        Bai2Group(
            AS_OF, [Bai2Account("1", [Bai2Entry(CREDIT, 5, "SAME"), Bai2Entry(CREDIT, 5, "SAME")])]
        )
    ]
    error = refused(tmp_path, text_of(groups))
    assert error.line == 5
    assert error.reason == (
        "bank key bank:bai2:1:SAME:2026-11-06 is reported first on line 4 with 0.05 USD: a bank "
        "file reports a credit once"
    )


def test_the_same_bank_reference_twice_with_another_amount_names_both_amounts(tmp_path):
    groups = [
        Bai2Group(
            AS_OF, [Bai2Account("1", [Bai2Entry(CREDIT, 5, "SAME"), Bai2Entry(CREDIT, 6, "SAME")])]
        )
    ]
    error = refused(tmp_path, text_of(groups))
    assert error.line == 5
    assert error.reason == (
        "bank key bank:bai2:1:SAME:2026-11-06 is reported first on line 4 with 0.05 USD, here "
        "with 0.06 USD: a credit reported again must keep its amount and currency"
    )


def test_availability_fields_are_read_past(tmp_path):
    # S: three distributed amounts; V: value date and time; D: a count then pairs.
    text = (
        "01,S,R,261106,0800,1,,,2/\n"
        "02,R,S,1,261106,,,/\n"
        "03,9,,/\n"
        "16,195,100,S,10,20,70,REF1,CUST1,text one\n"
        "16,195,200,V,261107,1200,REF2,,text two\n"
        "16,195,300,D,2,0,100,1,200,REF3,,text, with a comma\n"
        "49,600,5/\n"
        "98,600,1,7/\n"
        "99,600,1,9/\n"
    )
    items = list(iter_items(write(tmp_path, text)))
    assert [item.check_number for item in items] == ["REF1", "REF2", "REF3"]
    assert items[2].remittance == "text, with a comma"
    theirs = bai2_package.parse_from_string(text)
    details = theirs.children[0].children[0].children
    assert [d.bank_reference for d in details] == ["REF1", "REF2", "REF3"]
    assert details[2].text == "text, with a comma"


def test_a_short_bai2_header_is_refused_as_bai2(tmp_path):
    error = refused(tmp_path, "01,SENDER,RECEIVER/\n")
    assert error.line == 1
    assert "file header (01) has 2 fields, at least 8 expected" in error.reason
