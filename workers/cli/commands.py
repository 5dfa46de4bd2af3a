"""The Typer application: every command module registered on the apps of ``common``, and a run
that turns Typer's exits and usage errors into docs/rules.md section 10 exit codes.

Imported by :func:`workers.cli.main` for every command line that :func:`workers.cli.reads.shortcut`
leaves to Typer.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from typer.exceptions import TyperException

# Importing a command module registers its commands on the apps of `common`, in this order: the
# order `arledger --help` lists them in.
import workers.cli.reference  # isort: skip
import workers.cli.receipts  # isort: skip
import workers.cli.writeoffs  # isort: skip
import workers.cli.orders  # isort: skip
import workers.cli.exceptions  # isort: skip
import workers.cli.intake  # isort: skip
import workers.cli.matching  # isort: skip
import workers.cli.reports  # isort: skip
import workers.cli.processes  # isort: skip
import workers.cli.demo  # isort: skip
from workers.cli.common import app
from workers.cli.render import fail_line

COMMAND_MODULES = (
    workers.cli.reference,
    workers.cli.receipts,
    workers.cli.writeoffs,
    workers.cli.orders,
    workers.cli.exceptions,
    workers.cli.intake,
    workers.cli.matching,
    workers.cli.reports,
    workers.cli.processes,
    workers.cli.demo,
)


def run(args: Sequence[str]) -> object:
    """Run ``args`` through Typer; its exits and usage errors end the process here, the commands'
    own errors propagate to :func:`workers.cli.main`."""
    try:
        return app(args=list(args), standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except TyperException as exc:
        # Typer vendors its own click: usage errors arrive as TyperException subclasses that
        # carry click's exit code (2 for a usage error) and message.
        if type(exc).__name__ == "NoArgsIsHelpError":
            context = getattr(exc, "ctx", None)
            sys.stdout.write(context.get_help() + "\n" if context is not None else "")
            sys.exit(0)
        if isinstance(exc, typer.Abort):
            fail_line("aborted")
            sys.exit(1)
        format_message = getattr(exc, "format_message", None)
        fail_line(format_message() if callable(format_message) else str(exc))
        sys.exit(exc.exit_code or 1)
