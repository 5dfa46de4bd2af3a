"""The `arledger` command line (docs/rules.md section 10), on Typer with Rich tables.

Every command is a thin shell over one service: parse the options, call it, print the result
(``render``) — a readable table by default, the exact JSON of docs/rules.md section 10 with ``--json``.
Exit status: 0 done; 2 input refused (one line on stderr naming the problem, nothing changed);
1 anything else.

One module per command group registers its commands on the apps of ``common`` (``commands``
imports them all); each command imports its service or query when it runs, so a read command
loads neither Celery, the HTTP stack nor the write path. The plain forms of the read commands
(``reads``) run without Typer at all.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

from ledger.domain.errors import ArledgerError, InputRefused
from workers.cli.reads import shortcut


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the CLI with docs/rules.md section 10 exit codes and one-line errors."""
    args = sys.argv[1:] if argv is None else argv
    try:
        read = shortcut(args)
        if read is not None:
            read()
            result: object = 0
        else:
            from workers.cli.commands import run

            result = run(args)
    except InputRefused as exc:
        _fail(2, exc.message)
    except ArledgerError as exc:
        _fail(exc.exit_code, exc.message)
    except KeyboardInterrupt:
        _fail(130, "interrupted")
    except Exception as exc:
        _fail(1, f"{type(exc).__name__}: {exc}".splitlines()[0])
    sys.exit(result if isinstance(result, int) else 0)


def _fail(code: int, message: str) -> NoReturn:
    from workers.cli.render import fail_line

    fail_line(message)
    sys.exit(code)
