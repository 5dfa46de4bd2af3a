"""docs/rules.md section 13, camt.053 / camt.054: what is read, every check, every refusal."""

from __future__ import annotations

import hashlib
import re
import resource
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.domain.money import Money
from ledger.intake.lockbox import LockboxRefused, iter_items, validate_file
from ledger.intake.lockbox.camt_writer import CamtEntry, CamtTransaction, write_camt

ROOT = Path(__file__).resolve().parents[2]
BOOKED = date(2026, 11, 20)
ACCOUNT = "DE89370400440532013000"
SECRET = "ARLEDGER-SECRET-MARKER-7f3a"


def usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


def entry(amount: str, *transactions: CamtTransaction, **kwargs: object) -> CamtEntry:
    return CamtEntry(amount=usd(amount), booking_date=BOOKED, transactions=transactions, **kwargs)  # type: ignore[arg-type]


def write(path: Path, entries: list[CamtEntry], **kwargs: object) -> Path:
    options: dict[str, object] = {"message_id": "MSG-1", "account": ACCOUNT, "currency": "USD"}
    options.update(kwargs)
    with path.open("wb") as stream:
        write_camt(stream, entries, **options)  # type: ignore[arg-type]
    return path


def refusal(path: Path) -> LockboxRefused:
    with pytest.raises(LockboxRefused) as caught:
        validate_file(path)
    return caught.value


def mixed() -> list[CamtEntry]:
    return [
        entry(
            "50.00",
            CamtTransaction(
                usd("50.00"),
                end_to_end="E2E-1",
                debtor="Acme",
                debtor_account="GB29NWBK60161331926819",
                unstructured=("pays order", "O-100"),
            ),
            bank_reference="REF-1",
        ),
        entry(
            "60.00",
            CamtTransaction(usd("40.00"), documents=("O-101", "O-102"), debtor_account="12345"),
            CamtTransaction(usd("20.00"), creditor_reference="RF18539007547034"),
            bank_reference="REF-2",
        ),
        entry("12.50", credit=False, bank_reference="REF-3"),
        entry("5.00", status="PDNG", bank_reference="REF-4"),
        entry("7.00"),  # no TxDtls and no AcctSvcrRef
    ]


@pytest.mark.parametrize("kind", ["053", "054"])
@pytest.mark.parametrize("version", range(2, 9))
def test_every_version_reads_booked_credits_one_receipt_per_transaction(tmp_path, kind, version):
    path = write(tmp_path / "f.xml", mixed(), kind=kind, version=version, statement_id="S-9")
    summary = validate_file(path)
    assert summary.format == f"camt{kind}"
    assert summary.bank_file_id == f"camt{kind}:MSG-1"
    assert summary.items == 4
    assert summary.debits_skipped == 1
    assert summary.currency_totals == {"USD": usd("117.00")}
    assert summary.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    items = list(iter_items(path))
    assert [(i.amount, i.remittance, i.payer_account) for i in items] == [
        (usd("50.00"), "pays order O-100", "GB29NWBK60161331926819"),
        (usd("40.00"), "O-101 O-102", "12345"),
        (usd("20.00"), "RF18539007547034", None),
        (usd("7.00"), None, None),
    ]
    assert [i.key for i in items] == [
        f"{ACCOUNT}:REF-1:1",
        f"{ACCOUNT}:REF-2:1",
        f"{ACCOUNT}:REF-2:2",
        "MSG-1:S-9:5:1",  # no AcctSvcrRef: message, statement, entry and transaction positions
    ]
    assert [i.check_number for i in items] == ["E2E-1", "REF-2", "REF-2", "entry 5"]
    assert [i.line for i in items] == [1, 2, 2, 5]  # the entry number
    # The debtor's name (RltdPties/Dbtr/Nm, Dbtr/Pty/Nm from .08) is kept for the receipt.
    assert [i.payer_name for i in items] == ["Acme", None, None, None]
    assert all(i.deposit_date == BOOKED and i.customer is None and not i.allocations for i in items)


def test_a_lone_transaction_without_an_amount_takes_the_entrys(tmp_path):
    path = write(tmp_path / "f.xml", [entry("9.99", CamtTransaction(unstructured=("O-7",)))])
    (item,) = iter_items(path)
    assert (item.amount, item.remittance) == (usd("9.99"), "O-7")


def test_a_batch_transaction_without_an_amount_is_refused(tmp_path):
    path = write(
        tmp_path / "f.xml",
        [entry("9.99", CamtTransaction(usd("9.99")), CamtTransaction())],
    )
    error = refusal(path)
    assert "entry 1 at BkToCstmrDbtCdtNtfctn/Ntfctn[1]/Ntry[1]/NtryDtls/TxDtls[2]" in str(error)


def test_a_batch_whose_transactions_do_not_add_up_to_the_entry_is_refused(tmp_path):
    path = write(
        tmp_path / "f.xml",
        [
            entry("1.00"),
            entry("60.00", CamtTransaction(usd("40.00")), CamtTransaction(usd("19.99"))),
        ],
    )
    error = refusal(path)
    assert "entry 2 at BkToCstmrDbtCdtNtfctn/Ntfctn[1]/Ntry[2]/Amt" in error.reason
    assert "add up to 59.99" in error.reason


def test_the_stated_number_of_entries_is_checked(tmp_path):
    path = write(tmp_path / "f.xml", mixed(), totals=(4, Decimal("134.50")))
    error = refusal(path)
    assert "TxsSummry/TtlNtries/NbOfNtries" in error.reason and "says 4" in error.reason


def test_the_stated_sum_adds_every_entry_unsigned(tmp_path):
    # 50 + 60 + 12.50 (a debit, added not subtracted) + 5 (not booked) + 7
    assert validate_file(write(tmp_path / "ok.xml", mixed(), totals=(5, Decimal("134.50"))))
    error = refusal(write(tmp_path / "f.xml", mixed(), totals=(5, Decimal("109.50"))))
    assert "TxsSummry/TtlNtries/Sum" in error.reason and "109.50" in error.reason


def test_the_same_entry_in_a_camt054_and_the_days_camt053_has_one_key(tmp_path):
    notification = write(tmp_path / "n.xml", mixed()[:2], message_id="N-1")
    statement = write(tmp_path / "s.xml", mixed(), kind="053", message_id="S-1")
    keys = [i.key for i in iter_items(notification)]
    assert keys == [i.key for i in iter_items(statement)][:3]


def test_a_bank_reference_repeated_in_one_file_is_refused(tmp_path):
    first = entry("1.00", bank_reference="SAME")
    path = write(tmp_path / "f.xml", [first, entry("1.00", bank_reference="SAME")])
    error = refusal(path)
    assert error.line is None
    assert error.reason == (
        "entry 2 at BkToCstmrDbtCdtNtfctn/Ntfctn[1]/Ntry[2]: bank key "
        f"bank:{ACCOUNT}:SAME:1 is reported first in entry 1 with 1.00 USD: a bank file reports "
        "a credit once"
    )


def test_a_bank_reference_repeated_with_another_amount_names_both_amounts(tmp_path):
    first = entry("1.00", CamtTransaction(usd("1.00")), bank_reference="SAME")
    path = write(tmp_path / "f.xml", [first, entry("2.00", bank_reference="SAME")])
    error = refusal(path)
    assert error.reason == (
        "entry 2 at BkToCstmrDbtCdtNtfctn/Ntfctn[1]/Ntry[2]: bank key "
        f"bank:{ACCOUNT}:SAME:1 is reported first in entry 1 with 1.00 USD, here with 2.00 USD: "
        "a credit reported again must keep its amount and currency"
    )


def edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("<CdtDbtInd>CRDT", "<CdtDbtInd>CRD", "Ntry[1]/CdtDbtInd"),
        ('<Amt Ccy="USD">50.00', '<Amt Ccy="USD">50.001', "Ntry[1]/Amt"),
        ('<Amt Ccy="USD">50.00', '<Amt Ccy="USD">-50.00', "Ntry[1]/Amt"),
        ('<Amt Ccy="USD">50.00', '<Amt Ccy="XXX">50.00', "Ntry[1]/Amt"),
        ("<Dt>2026-11-20</Dt></BookgDt>", "<Dt>2026-11-31</Dt></BookgDt>", "Ntry[1]/BookgDt"),
        ("<Id>S-9</Id>", "<Id>" + "x" * 36 + "</Id>", "Ntfctn[1]/Id"),
        ("<Sts><Cd>BOOK</Cd></Sts>", "", "Ntry[1]"),
    ],
)
def test_a_bad_value_is_refused_with_its_entry_and_element_path(tmp_path, old, new, where):
    path = edit(write(tmp_path / "f.xml", mixed(), statement_id="S-9"), old, new)
    error = refusal(path)
    assert where in error.reason


def test_a_file_without_msgid_or_with_a_foreign_namespace_is_refused(tmp_path):
    path = write(tmp_path / "f.xml", mixed())
    assert "MsgId" in refusal(edit(path, "<MsgId>MSG-1</MsgId>", "")).reason
    path = write(tmp_path / "g.xml", mixed())
    edit(path, "camt.054.001.08", "camt.054.001.09")
    assert "not a camt.053 or camt.054 file" in refusal(path).reason
    path = write(tmp_path / "h.xml", mixed())
    assert "namespace" in refusal(edit(path, "<Ntry>", '<Ntry xmlns="urn:x">')).reason


def test_malformed_xml_is_refused_with_its_line(tmp_path):
    path = write(tmp_path / "f.xml", mixed())
    error = refusal(edit(path, "</Ntry>", "</Ntr>"))
    assert error.line is not None and "not well-formed XML" in error.reason


def test_the_bundled_sample_reads_three_receipts_and_skips_a_debit_and_a_pending_credit():
    sample = ROOT / "ledger" / "data" / "sample-camt054.xml"
    summary = validate_file(sample)
    assert (summary.format, summary.items, summary.debits_skipped) == ("camt054", 3, 1)
    assert [i.remittance for i in iter_items(sample)] == [
        "pmt for ord o100 - thanks",
        "O-101",
        "dues, order no. O 102",
    ]


# --- hostile XML: refused at once, nothing read, nothing it names appears ---------------------


def hostile(tmp_path: Path, name: str, text: str) -> LockboxRefused:
    path = tmp_path / name
    path.write_text(text)
    return refusal(path)


def test_an_xxe_file_is_refused_and_the_file_it_names_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    body = write(tmp_path / "body.xml", mixed()).read_text().split("\n", 1)[1]
    body = body.replace("<Ustrd>O-100</Ustrd>", "<Ustrd>&xxe;</Ustrd>")
    error = hostile(
        tmp_path,
        "xxe.xml",
        f'<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        + body,
    )
    assert "DOCTYPE" in error.reason
    assert SECRET not in str(error) and str(secret) not in str(error)


def test_a_billion_laughs_bomb_is_refused_at_once_in_bounded_memory(tmp_path):
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    ]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    error = hostile(
        tmp_path,
        "bomb.xml",
        f'<?xml version="1.0"?>\n<!DOCTYPE Document [{"".join(levels)}]>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">&lol9;</Document>',
    )
    assert time.monotonic() - started < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 20_000  # KiB
    assert "DOCTYPE" in error.reason


def test_an_internal_dtd_alone_is_refused(tmp_path):
    body = write(tmp_path / "body.xml", mixed()).read_text().split("\n", 1)[1]
    error = hostile(
        tmp_path, "dtd.xml", '<?xml version="1.0"?>\n<!DOCTYPE Document SYSTEM "camt.dtd">\n' + body
    )
    assert "DOCTYPE" in error.reason and "camt.dtd" not in str(error)


def test_the_bundled_sample_statement_repeats_the_notifications_keys():
    data = ROOT / "ledger" / "data"
    notified = [i.key for i in iter_items(data / "sample-camt054.xml")]
    stated = [i.key for i in iter_items(data / "sample-camt053.xml")]
    assert validate_file(data / "sample-camt053.xml").format == "camt053"
    assert stated[:3] == notified and len(stated) == 5


def test_a_byte_order_mark_before_the_xml_declaration_is_read_as_camt(tmp_path):
    path = write(tmp_path / "f.xml", mixed())
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert validate_file(path).items == 4


def test_an_xml_file_that_is_not_camt_is_refused_as_such(tmp_path):
    path = tmp_path / "f.xml"
    path.write_text(
        '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"/>'
    )
    assert "not a camt.053 or camt.054 file" in refusal(path).reason


# --- what precedes the root, and what libxml2 would otherwise take in its stride ----------------


def body_of(tmp_path: Path) -> str:
    return write(tmp_path / "body.xml", mixed()).read_text().split("\n", 1)[1]


def test_a_doctype_after_a_long_comment_and_a_processing_instruction_is_refused(tmp_path):
    # The comment spans several of the parser's reads: the DOCTYPE still never reaches libxml2.
    comment = "<!-- " + "x" * 100_000 + " -->"
    error = hostile(
        tmp_path,
        "late.xml",
        f'<?xml version="1.0"?>\n{comment}<?pi data?>\n'
        '<!DOCTYPE Document [<!ENTITY e "boom">]>\n' + body_of(tmp_path),
    )
    assert "DOCTYPE" in error.reason


def test_an_encoding_that_could_hide_a_doctype_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    # UTF-7 spells "<!DOCTYPE" without a "<" byte: libxml2 would decode it after the declaration.
    doctype = f'<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>'.encode("utf-7")
    path = tmp_path / "utf7.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-7"?>\n' + doctype + b"\n")
    error = refusal(path)
    assert "UTF-7" in error.reason and SECRET not in str(error)


def test_a_one_byte_encoding_that_writes_ascii_as_ascii_is_read(tmp_path):
    text = write(tmp_path / "f.xml", mixed()).read_text()
    path = tmp_path / "latin.xml"
    path.write_bytes(
        text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
        .replace("Acme", "Acmé")
        .encode("latin-1")
    )
    assert next(item.payer_name for item in iter_items(path)) == "Acmé"


def test_an_entity_reference_without_a_declaration_is_refused(tmp_path):
    path = edit(write(tmp_path / "f.xml", mixed()), "<Ustrd>O-100</Ustrd>", "<Ustrd>&xxe;</Ustrd>")
    assert "not well-formed XML" in refusal(path).reason


def test_more_than_a_mebibyte_before_the_root_is_refused(tmp_path):
    error = hostile(tmp_path, "long.xml", "<!-- " + "x" * (1 << 20) + " -->\n" + body_of(tmp_path))
    assert "precedes the root element" in error.reason


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        # The root declares the schema-instance namespace, as banks' files do: a foreign element
        # anywhere is still found, with its entry and path.
        ("<Ustrd>O-100</Ustrd>", '<Ustrd xmlns="urn:x">O-100</Ustrd>', "entry 1 at "),
        ("<Ustrd>O-100</Ustrd>", "<xsi:Ustrd>O-100</xsi:Ustrd>", "Ntry/NtryDtls/TxDtls/RmtInf"),
        ("<Ustrd>O-100</Ustrd>", "<xml:Ustrd>O-100</xml:Ustrd>", "TxDtls/RmtInf"),
        ("<CdtDbtInd>CRDT", '<X xmlns=""/><CdtDbtInd>CRDT', "entry 1 at "),
        (
            "<TxsSummry>",
            '<Y xmlns="urn:y"/><TxsSummry>',
            "at Document/BkToCstmrDbtCdtNtfctn/Ntfctn",
        ),
        ("<NtryDtls>", '<NtryDtls xmlns="urn:z">', "entry 1 at "),
    ],
)
def test_a_foreign_element_anywhere_is_refused(tmp_path, old, new, where):
    path = write(tmp_path / "f.xml", mixed())
    edit(
        path,
        'camt.054.001.08">',
        'camt.054.001.08" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
    )
    error = refusal(edit(path, old, new))
    assert "is not in the file's namespace" in error.reason and where in error.reason


def test_comments_processing_instructions_and_prefixes_change_nothing(tmp_path):
    plain = write(tmp_path / "plain.xml", mixed())
    expected = [(i.key, i.amount, i.remittance, i.payer_account) for i in iter_items(plain)]
    text = plain.read_text()
    commented = tmp_path / "commented.xml"
    commented.write_text(
        text.replace("<Ntry>", "<!-- entry --><?bank x?><Ntry>").replace(
            "<Ustrd>", "<Ustrd><!-- c -->"
        )
    )
    prefixed = tmp_path / "prefixed.xml"
    prefixed.write_text(
        re.sub(r"<(/?)([A-Za-z])", r"<\1c:\2", text).replace(
            '<c:Document xmlns="', '<c:Document xmlns:c="'
        )
    )
    for path in (commented, prefixed):
        assert [
            (i.key, i.amount, i.remittance, i.payer_account) for i in iter_items(path)
        ] == expected
        assert validate_file(path).items == len(expected)


# --- pass 1 keeps what it accepted for pass 2 -----------------------------------------------------


def test_pass_one_keeps_the_accepted_checks_and_pass_two_reads_them_unchanged(tmp_path):
    path = write(tmp_path / "f.xml", mixed())
    kept = tmp_path / "checks"
    summary = validate_file(path, keep=kept)
    assert kept.exists() and summary.items == 4
    assert list(iter_items(path, kept=kept)) == list(iter_items(path))
    # Read from the kept checks, not the XML: the file itself is not opened again.
    path.unlink()
    assert next(item.key for item in iter_items(path, kept=kept)).startswith(f"{ACCOUNT}:REF-1")


def test_a_refused_file_keeps_nothing(tmp_path):
    path = edit(write(tmp_path / "f.xml", mixed()), "<CdtDbtInd>CRDT", "<CdtDbtInd>CRD")
    kept = tmp_path / "checks"
    with pytest.raises(LockboxRefused, match="CdtDbtInd"):
        validate_file(path, keep=kept)
    assert list(tmp_path.iterdir()) == [path]


def test_only_a_camt_file_is_kept(tmp_path):
    kept = tmp_path / "checks"
    for sample in sorted((ROOT / "ledger" / "data").glob("sample-*")):
        if sample.suffix not in {".xml", ".json"}:
            assert validate_file(sample, keep=kept).items > 0
            assert not kept.exists() and not (tmp_path / "checks.part").exists()
