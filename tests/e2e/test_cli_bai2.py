"""A BAI2 bank file end to end through `arledger bank import` (docs/rules.md section 13): the
credits are received and placed by their remittance text, the debit is counted and skipped, a
wrong file is refused with its line, and the ledger's invariants hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.persistence.db import dispose_engines
from tests.support.cli import Cli
from tests.support.paths import ROOT

SAMPLE_BAI2 = ROOT / "ledger" / "data" / "sample-bai2.txt"


@pytest.fixture
def cli(loaded, tmp_path: Path) -> Cli:
    dispose_engines()
    return Cli(loaded.database_url, tmp_path)


def test_bank_import_reads_a_bai2_file_and_places_its_credits(cli: Cli):
    summary = cli.json("bank", "import", str(SAMPLE_BAI2))
    assert (summary["format"], summary["items"], summary["debits_skipped"]) == ("bai2", 3, 1)
    assert (summary["pending_items"], summary["refused_items"]) == (0, 0)
    assert summary["amounts"]["USD"]["amount"] == "45.00"
    # "inv o100", "#O-101" across an 88 continuation, and "O 102" in the customer reference.
    assert (summary["applied_items"], summary["by_rule"]) == (3, {"reference": 3})
    assert "every invariant" in cli.run("check").stdout


def test_a_bai2_file_with_a_wrong_total_is_refused_with_its_line(cli: Cli, tmp_path: Path):
    broken = tmp_path / "broken.bai2"
    broken.write_text(SAMPLE_BAI2.read_text().replace("99,209000,", "99,209001,"))
    message = cli.refused("bank", "import", str(broken))
    assert "line 11" in message
    assert "file control total is 209001" in message
    human = cli.run("bank", "import", str(SAMPLE_BAI2))
    assert "debits skipped" in human.stdout
