"""``arledger writeoff …``: create (or preview) and reverse line write-offs."""

from __future__ import annotations

from typing import Annotated

import typer

from workers.cli.common import JsonOption, parse_date, published, settings, writeoff_app
from workers.cli.render import emit_json, print_journals, print_record, print_write_offs


@writeoff_app.command("create")
def writeoff_create(
    order: Annotated[str, typer.Option(help="Order number.")],
    reason: Annotated[
        str,
        typer.Option(
            help="BAD_DEBT, GOODWILL, BILLING_ERROR, SALES_RETURN, PROMOTIONAL_DISCOUNT, SMALL_BALANCE or OTHER."
        ),
    ],
    line: Annotated[
        int | None,
        typer.Option(help="Line number (omit, with no --amount, to write off every owed line)."),
    ] = None,
    amount: Annotated[
        str | None, typer.Option(help="Amount to write off, in the order's currency.")
    ] = None,
    comment: Annotated[
        str | None, typer.Option(help="Internal comment; never shown to the customer.")
    ] = None,
    date_: Annotated[
        str | None, typer.Option("--date", help="Transaction date, YYYY-MM-DD (default today).")
    ] = None,
    account: Annotated[
        str | None, typer.Option(help="Write-off account override (an active GL account).")
    ] = None,
    advanced: Annotated[
        bool,
        typer.Option(
            "--advanced", help="An advanced adjustment: never reversed by an overpayment."
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Preview the write-off, new balance and journal; change nothing."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write off (part of) a line balance."""
    from ledger.services.receipts import WriteOffRequest, create_write_off

    config = settings()
    result = create_write_off(
        config,
        WriteOffRequest(
            order=order,
            line=line,
            amount=amount,
            reason=reason,
            comment=comment,
            posting_date=parse_date(date_),
            account=account,
            advanced=advanced,
        ),
        dry_run=dry_run,
    )
    if not dry_run:
        published(config)
    if as_json:
        emit_json(result)
        return
    print_write_offs(result, dry_run)


@writeoff_app.command("reverse")
def writeoff_reverse(
    write_off_id: int,
    amount: Annotated[
        str | None, typer.Option(help="Part to reverse (default: all that is unreversed).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Reverse a write-off, fully or partly."""
    from ledger.services.receipts import reverse_write_off

    config = settings()
    result = reverse_write_off(config, write_off_id, amount)
    published(config)
    if as_json:
        emit_json(result)
        return
    print_record(
        f"write-off {write_off_id} reversed", {k: v for k, v in result.items() if k != "journal"}
    )
    print_journals([result["journal"]])
