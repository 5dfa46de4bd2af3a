"""What every command shares: the Typer apps, the settings, the ``--json`` option, input parsing.

Nothing heavy is imported here: the settings, services and queries are imported by the command
that uses them, when it runs, so that a read command starts fast.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ledger.domain.errors import InvalidInput

if TYPE_CHECKING:
    from config.settings import Settings

app = typer.Typer(
    name="arledger",
    help="Accounts-receivable cash application: receipts, write-offs, balanced GL journals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
receipt_app = typer.Typer(help="Submit, apply and reverse receipts.", no_args_is_help=True)
writeoff_app = typer.Typer(
    help="Create, preview and reverse line write-offs.", no_args_is_help=True
)
order_app = typer.Typer(help="Show orders.", no_args_is_help=True)
gl_app = typer.Typer(help="General-ledger journals.", no_args_is_help=True)
exceptions_app = typer.Typer(
    help="Receipts and messages waiting for an operator.", no_args_is_help=True
)
lockbox_app = typer.Typer(
    help="Bank files: lockbox CSV or BAI-style, BAI2, camt.053/camt.054.", no_args_is_help=True
)
gateway_app = typer.Typer(help="Payment gateway events.", no_args_is_help=True)
matching_app = typer.Typer(
    help="Each org unit's matching rules and tolerances.", no_args_is_help=True
)
report_app = typer.Typer(help="Reports over the receipts.", no_args_is_help=True)
app.add_typer(receipt_app, name="receipt")
app.add_typer(writeoff_app, name="writeoff")
app.add_typer(order_app, name="order")
app.add_typer(gl_app, name="gl")
app.add_typer(exceptions_app, name="exceptions")
app.add_typer(lockbox_app, name="lockbox")
# The same commands under the name a treasury team looks for: `arledger bank import FILE`.
app.add_typer(lockbox_app, name="bank")
app.add_typer(gateway_app, name="gateway")
app.add_typer(matching_app, name="matching")
app.add_typer(report_app, name="report")

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def settings() -> Settings:
    """The process-wide settings (imported on first use: pydantic-settings is slow to import)."""
    from config.settings import get_settings

    return get_settings()


def published(config: Settings) -> None:
    """After a command posts journals: publish them (in-process) or ask the workers to."""
    from tasks import dispatch

    dispatch.publish(config)


def parse_date(value: str | None, option: str = "--date") -> date | None:
    """An ISO date option, or None when the option was not given."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} {value!r} is not a date (YYYY-MM-DD)", field="date") from None


def read_file(file: Path) -> bytes:
    """A file's bytes; an unreadable file is refused input (exit 2), not a crash."""
    try:
        return file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None
