"""Read commands over orders and journals: ``order show``, ``gl journals`` and ``statement``.

These are what an AR clerk runs dozens of times an hour: their work is in ``reads``, which
``main`` also runs without Typer for their plain forms.
"""

from __future__ import annotations

from typing import Annotated

import typer

from workers.cli.common import JsonOption, app, gl_app, order_app


@order_app.command("show")
def order_show(number: str, as_json: JsonOption = False) -> None:
    """An order with its balance, its lines by payment priority and their write-offs."""
    from workers.cli.reads import read_order

    read_order(number, as_json)


@gl_app.command("journals")
def gl_journals(
    order: Annotated[str | None, typer.Option(help="Only journals of this order.")] = None,
    type_: Annotated[
        str | None, typer.Option("--type", help="Only journals of this type (RECEIPT, SALE…).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every journal in posting order, or those of one order or type."""
    from workers.cli.reads import read_journals

    read_journals(order, type_, as_json)


@app.command()
def statement(customer: str, as_json: JsonOption = False) -> None:
    """A customer statement: orders, balances and adjustments (no internal comments)."""
    from workers.cli.reads import read_statement

    read_statement(customer, as_json)
