"""Read commands over orders and journals: ``order show``, ``gl journals`` and ``statement``.

These are what an AR clerk runs dozens of times an hour: each imports only the query it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ledger.domain.errors import InvalidInput
from workers.cli.common import JsonOption, app, gl_app, order_app, settings
from workers.cli.render import print_journals, print_order, print_statement, show


@order_app.command("show")
def order_show(number: str, as_json: JsonOption = False) -> None:
    """An order with its balance, its lines by payment priority and their write-offs."""
    from ledger.persistence.db import connect
    from ledger.queries.views import order_view

    with connect(settings().database_url) as connection:
        view = order_view(connection, number)
    show(view, as_json, print_order)


@gl_app.command("journals")
def gl_journals(
    order: Annotated[str | None, typer.Option(help="Only journals of this order.")] = None,
    type_: Annotated[
        str | None, typer.Option("--type", help="Only journals of this type (RECEIPT, SALE…).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every journal in posting order, or those of one order or type."""
    from ledger.domain.journal import TxnType
    from ledger.persistence.db import connect
    from ledger.queries.views import journal_dicts, journal_ids

    if type_ is not None and type_ not in TxnType.__members__:
        raise InvalidInput(
            f"unknown journal type {type_!r}: one of {', '.join(TxnType.__members__)}", field="type"
        )
    with connect(settings().database_url) as connection:
        journals = journal_dicts(
            connection, journal_ids(connection, order=order, journal_type=type_)
        )
    show(journals, as_json, print_journals)


@app.command()
def statement(customer: str, as_json: JsonOption = False) -> None:
    """A customer statement: orders, balances and adjustments (no internal comments)."""
    from ledger.persistence.db import connect
    from ledger.queries.views import statement_view

    with connect(settings().database_url) as connection:
        view = statement_view(connection, customer)
    show(view, as_json, print_statement)
