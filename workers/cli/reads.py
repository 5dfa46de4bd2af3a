"""The read commands an AR clerk runs all day, and the shortcut that runs them without Typer.

``order show``, ``receipt show``, ``exceptions list``, ``gl journals``, ``statement``, ``matching
show`` and ``report cash-application`` do almost no work: nearly all of their time is imports,
and Typer alone (its click, and the pydantic ``TypeAdapter`` it builds for every parameter) is
about a fifth of it (docs/performance.md). So :func:`shortcut` recognises the plain form of these
command lines (the words, positional values, ``--json``, ``--order VALUE``, ``--type VALUE``,
``--from VALUE``, ``--to VALUE``) and :func:`workers.cli.main` runs it with neither Typer nor
pydantic loaded. Any other form (``--help``, ``--order=X``, an unknown option, an id that is not
plain digits) is left to Typer, which accepts or refuses it as before. The Typer commands call
these same functions, and ``tests/unit/test_cli_shortcut.py`` pins that both paths make the same
call.

Nothing here imports Typer, pydantic or the settings: the database URL is
:func:`config.environment.database_url`, what ``Settings().database_url`` would be.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from functools import partial
from typing import Any

from config.environment import database_url
from ledger.domain.errors import InvalidInput
from workers.cli.render import (
    print_cash_application,
    print_exceptions,
    print_journals,
    print_matching,
    print_order,
    print_statement,
    show,
    show_receipt,
)


def read_order(number: str, as_json: bool = False) -> None:
    """An order with its balance, its lines by payment priority and their write-offs."""
    from ledger.persistence.db import connect
    from ledger.queries.views import order_view

    with connect(database_url()) as connection:
        view = order_view(connection, number)
    show(view, as_json, print_order)


def read_receipt(receipt_id: int, as_json: bool = False) -> None:
    """A receipt: where its money went."""
    from ledger.persistence.db import connect
    from ledger.queries.views import receipt_view

    with connect(database_url()) as connection:
        view = receipt_view(connection, receipt_id)
    show_receipt(view, as_json)


def read_exceptions(as_json: bool = False) -> None:
    """What waits for an operator, each with its reason."""
    from ledger.persistence.db import connect
    from ledger.queries.views import exceptions_view

    with connect(database_url()) as connection:
        items = exceptions_view(connection)
    show(items, as_json, print_exceptions)


def read_journals(
    order: str | None = None, journal_type: str | None = None, as_json: bool = False
) -> None:
    """Every journal in posting order, or those of one order or type."""
    from ledger.domain.journal import TxnType
    from ledger.persistence.db import connect
    from ledger.queries.views import journal_dicts, journal_ids

    if journal_type is not None and journal_type not in TxnType.__members__:
        raise InvalidInput(
            f"unknown journal type {journal_type!r}: one of {', '.join(TxnType.__members__)}",
            field="type",
        )
    with connect(database_url()) as connection:
        journals = journal_dicts(
            connection, journal_ids(connection, order=order, journal_type=journal_type)
        )
    show(journals, as_json, print_journals)


def read_statement(customer: str, as_json: bool = False) -> None:
    """A customer statement: orders, balances and adjustments (no internal comments)."""
    from ledger.persistence.db import connect
    from ledger.queries.views import statement_view

    with connect(database_url()) as connection:
        view = statement_view(connection, customer)
    show(view, as_json, print_statement)


def read_matching(org_unit: str, as_json: bool = False) -> None:
    """Which matching rules run for the org unit, and its tolerances per currency."""
    from ledger.persistence.db import connect
    from ledger.queries.matching import matching_view

    with connect(database_url()) as connection:
        view = matching_view(connection, org_unit)
    show(view, as_json, print_matching)


def read_cash_application(
    start: str | None = None, end: str | None = None, as_json: bool = False
) -> None:
    """Receipts by received date: applied automatically, by an operator, or still unapplied;
    the automatic rate; receipts and amounts per rule and per source."""
    from ledger.persistence.db import connect
    from ledger.queries.matching import cash_application_report

    first, last = _date(start, "--from"), _date(end, "--to")
    if first is not None and last is not None and last < first:
        raise InvalidInput(f"--to {last} is before --from {first}", field="date")
    with connect(database_url()) as connection:
        report = cash_application_report(connection, first, last)
    show(report, as_json, print_cash_application)


def _date(value: str | None, option: str) -> date | None:
    """An ISO date option (``common.parse_date`` without Typer's module)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} {value!r} is not a date (YYYY-MM-DD)", field="date") from None


# The command words, the type of each positional value, and the options that take a value (by
# keyword argument); `--json` is accepted by all.
_READS: dict[tuple[str, ...], tuple[Callable[..., None], tuple[type, ...], dict[str, str]]] = {
    ("order", "show"): (read_order, (str,), {}),
    ("receipt", "show"): (read_receipt, (int,), {}),
    ("exceptions", "list"): (read_exceptions, (), {}),
    ("gl", "journals"): (read_journals, (), {"--order": "order", "--type": "journal_type"}),
    ("statement",): (read_statement, (str,), {}),
    ("matching", "show"): (read_matching, (str,), {}),
    ("report", "cash-application"): (read_cash_application, (), {"--from": "start", "--to": "end"}),
}


def shortcut(args: Sequence[str]) -> Callable[[], None] | None:
    """The read command ``args`` ask for, ready to run, or None to leave ``args`` to Typer."""
    words = next((w for w in _READS if tuple(args[: len(w)]) == w), None)
    if words is None:
        return None
    command, kinds, options = _READS[words]
    values: list[Any] = []
    keywords: dict[str, Any] = {}
    rest = iter(args[len(words) :])
    for arg in rest:
        if arg == "--json" and "as_json" not in keywords:
            keywords["as_json"] = True
        elif arg in options and options[arg] not in keywords:
            value = next(rest, "")
            if value == "" or value.startswith("-"):
                return None
            keywords[options[arg]] = value
        elif arg.startswith("-") or len(values) == len(kinds):
            return None
        elif kinds[len(values)] is int:
            # Plain ASCII digits only: Typer decides what else is (or is not) a number.
            if not (arg.isascii() and arg.isdigit()):
                return None
            values.append(int(arg))
        else:
            values.append(arg)
    if len(values) != len(kinds):
        return None
    return partial(command, *values, **keywords)
