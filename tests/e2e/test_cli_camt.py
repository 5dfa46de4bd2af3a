"""camt.054 files through `arledger bank import` (docs/rules.md section 13): the sample is read,
its credits placed by their remittance; a hostile XML file is refused and changes nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.domain.money import Money
from ledger.intake.lockbox.camt_writer import CamtEntry, CamtTransaction, write_camt
from ledger.persistence.db import dispose_engines
from tests.support.cli import Cli
from tests.support.paths import ROOT

SAMPLE_CAMT054 = ROOT / "ledger" / "data" / "sample-camt054.xml"
SECRET = "ARLEDGER-SECRET-MARKER-e2e"


@pytest.fixture
def cli(loaded, tmp_path: Path) -> Cli:
    dispose_engines()
    return Cli(loaded.database_url, tmp_path)


def test_bank_import_reads_the_sample_camt054_and_says_what_it_skipped(cli: Cli):
    summary = cli.json("bank", "import", str(SAMPLE_CAMT054))
    assert summary["format"] == "camt054"
    assert (summary["items"], summary["debits_skipped"], summary["pending_items"]) == (3, 1, 0)
    assert summary["by_rule"] == {"reference": 3}
    refusal = cli.refused("bank", "import", str(SAMPLE_CAMT054))
    assert "duplicate" in refusal


def test_receipt_show_and_the_exception_queue_name_the_debtor(cli: Cli, tmp_path: Path):
    cli.json("bank", "import", str(SAMPLE_CAMT054))
    views = [cli.json("receipt", "show", str(n)) for n in range(1, 4)]
    names = [view["payer_name"] for view in views]  # type: ignore[index]
    assert names == ["ACME LEARNING LLC", "Bright Minds Society", "C. Three"]
    # A credit nothing places waits for a clerk, who sees who paid.
    money = Money(Decimal("7.77"), "USD")
    unknown = tmp_path / "unknown.xml"
    with unknown.open("wb") as stream:
        write_camt(
            stream,
            [
                CamtEntry(
                    amount=money,
                    booking_date=date(2026, 11, 21),
                    bank_reference="BNK-UNKNOWN-1",
                    transactions=(
                        CamtTransaction(money, debtor="Zed Hobbies Ltd", unstructured=("hi",)),
                    ),
                )
            ],
            message_id="E2E-UNKNOWN",
            account="ACCT-E2E",
            currency="USD",
        )
    cli.json("bank", "import", str(unknown))
    (waiting,) = [e for e in cli.json("exceptions", "list") if e["kind"] == "receipt"]  # type: ignore[union-attr]
    assert (waiting["payer_name"], waiting["customer"]) == ("Zed Hobbies Ltd", None)
    table = cli.run("exceptions", "list").stdout  # a narrow terminal wraps the name
    assert all(word in table for word in ("payer", "Zed", "Hobbies", "Ltd"))


def test_an_xxe_camt_file_is_refused_and_what_it_names_never_appears(cli: Cli, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    body = SAMPLE_CAMT054.read_text().split("\n", 2)[2]
    hostile = tmp_path / "xxe.xml"
    hostile.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        + body.replace("pmt for ord o100 - thanks", "&xxe;")
    )
    refusal = cli.refused("bank", "import", str(hostile))
    assert "DOCTYPE" in refusal and SECRET not in refusal
    assert SECRET not in cli.run("exceptions", "list", "--json").stdout
