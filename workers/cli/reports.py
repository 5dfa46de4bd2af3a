"""``arledger report cash-application``: how the receipts of a period were placed.

A read command: its work is in ``reads``, which ``main`` also runs without Typer for its plain
form.
"""

from __future__ import annotations

from typing import Annotated

import typer

from workers.cli.common import JsonOption, report_app


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
    from workers.cli.reads import read_cash_application

    read_cash_application(from_, to, as_json)
