"""The `arledger` command line (docs/rules.md section 10), on Typer with Rich tables.

Every command is a thin shell over one service: parse the options, call it, print the result
(``render``) — a readable table by default, the exact JSON of docs/rules.md section 10 with ``--json``.
Exit status: 0 done; 2 input refused (one line on stderr naming the problem, nothing changed);
1 anything else.

One module per command group registers its commands on the apps of ``common``; each command
imports its service or query when it runs, so a read command loads neither Celery, the HTTP
stack nor the write path.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from typer.exceptions import TyperException

from ledger.domain.errors import ArledgerError, InputRefused

# Importing a command module registers its commands on the apps of `common`, in this order:
# the order `arledger --help` lists them in.
from workers.cli import reference  # isort: skip
from workers.cli import receipts, writeoffs, orders  # isort: skip
from workers.cli import exceptions, intake, processes, demo  # isort: skip
from workers.cli.common import app
from workers.cli.render import fail_line

__all__ = [
    "app",
    "demo",
    "exceptions",
    "intake",
    "main",
    "orders",
    "processes",
    "receipts",
    "reference",
    "writeoffs",
]


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI with docs/rules.md section 10 exit codes and one-line errors."""
    try:
        result = app(args=argv, standalone_mode=False)
    except InputRefused as exc:
        _fail(2, exc.message)
    except ArledgerError as exc:
        _fail(exc.exit_code, exc.message)
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
            _fail(1, "aborted")
        format_message = getattr(exc, "format_message", None)
        _fail(exc.exit_code or 1, format_message() if callable(format_message) else str(exc))
    except KeyboardInterrupt:
        _fail(130, "interrupted")
    except Exception as exc:
        _fail(1, f"{type(exc).__name__}: {exc}".splitlines()[0])
    sys.exit(result if isinstance(result, int) else 0)


def _fail(code: int, message: str) -> NoReturn:
    fail_line(message)
    sys.exit(code)
