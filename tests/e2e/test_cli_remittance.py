"""Remittance and payer accounts end to end through the `arledger` executable (docs/rules.md
section 14): a clerk submits messy receipts, reads the suggestions, applies one, and the payer's
account then places the next receipt by itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.persistence.db import dispose_engines
from tests.support.cli import Cli


@pytest.fixture
def cli(loaded, tmp_path: Path) -> Cli:
    dispose_engines()
    return Cli(loaded.database_url, tmp_path)


def submit(cli: Cli, external_id: str, amount: str, *options: str) -> dict:
    result = cli.run(
        "receipt", "submit", "--amount", amount, "--external-id", external_id,
        "--date", "2026-11-05", *options, "--json",
    )  # fmt: skip
    return json.loads(result.stdout)


def test_remittance_text_places_the_receipt_and_receipt_show_says_how(cli: Cli):
    placed = submit(cli, "R-1", "235.00", "--remittance", "Invoice #o-0101")

    assert (placed["status"], placed["orders"]) == ("applied", ["O-101"])
    shown = cli.json("receipt", "show", str(placed["id"]))
    assert shown["match"]["rule"] == "reference"
    assert shown["remittance"] == "Invoice #o-0101"


def test_a_clerk_teaches_a_payer_account_and_the_next_receipt_places_itself(cli: Cli):
    first = submit(cli, "R-1", "50.00", "--payer-account", "021000021 777")
    assert first["status"] == "unidentified"
    queued = cli.json("exceptions", "list")
    assert [(x["id"], x["suggestions"]) for x in queued] == [(first["id"], [])]

    applied = cli.json("receipt", "apply", str(first["id"]), "--order", "O-100")
    assert applied["match"] == {"rule": "operator", "references": ["O-100"]}

    second = submit(cli, "R-2", "300.00", "--payer-account", "021000021-777")
    assert (second["status"], second["customer"], second["orders"]) == (
        "applied",
        "C-1",
        ["O-100"],
    )
    assert second["match"]["rule"] == "payer_account+exact_amount"
    assert cli.json("exceptions", "list") == []
