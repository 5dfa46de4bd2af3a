"""``arledger report cash-application``: how the receipts of a period were placed."""

from __future__ import annotations

from typing import Annotated

import typer

from ledger.domain.errors import InvalidInput
from workers.cli.common import JsonOption, parse_date, report_app, settings
from workers.cli.render import print_cash_application, show


@report_app.command("cash-application")
def cash_application(
    from_: Annotated[
        str | None, typer.Option("--from", help="First received date, YYYY-MM-DD.")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last received date, YYYY-MM-DD.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Receipts by received date: applied automatically, by an operator, or still unapplied;
    the automatic rate; receipts and amounts per rule and per source."""
    from ledger.persistence.db import connect
    from ledger.queries.matching import cash_application_report

    start, end = parse_date(from_, "--from"), parse_date(to, "--to")
    if start is not None and end is not None and end < start:
        raise InvalidInput(f"--to {end} is before --from {start}", field="date")
    with connect(settings().database_url) as connection:
        report = cash_application_report(connection, start, end)
    show(report, as_json, print_cash_application)
