"""``arledger exceptions …``: what waits for an operator, and retrying it once its cause is fixed."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ledger.domain.errors import InvalidInput
from workers.cli.common import JsonOption, exceptions_app, published, settings
from workers.cli.render import emit_json, line, show_receipt


@exceptions_app.command("list")
def exceptions_list(as_json: JsonOption = False) -> None:
    """Unapplied, unidentified and failed receipts, waiting or failed gateway events, and poison
    messages, each with its reason."""
    from workers.cli.reads import read_exceptions

    read_exceptions(as_json)


@exceptions_app.command("retry")
def exceptions_retry(
    ref: Annotated[
        str,
        typer.Argument(
            help="receipt:ID (or just ID), event:ID or message:ID, as `exceptions list` shows."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Re-run one exception after its cause is fixed (an order loaded, a period opened, a bug fixed)."""
    from ledger.services.operations import retry_event, take_poison_message
    from ledger.services.receipts import retry_receipt
    from tasks import dispatch

    config = settings()
    kind, _, number = ref.rpartition(":")
    if not number.isdigit() or kind not in ("", "receipt", "event", "message"):
        raise InvalidInput(
            f"{ref!r} is not an exception reference (receipt:ID, event:ID or message:ID)"
        )
    if kind in ("", "receipt"):
        view = retry_receipt(config, int(number))
        published(config)
        show_receipt(view, as_json)
        return
    if kind == "event":
        retry_event(config, int(number))
        dispatch.process_events(config, [int(number)])
        result: dict[str, Any] = {"ref": ref, "status": "requeued"}
    else:
        task, args = take_poison_message(config, int(number))
        dispatch.resend(config, task, args)
        result = {"ref": ref, "status": "resent", "task": task}
    if as_json:
        emit_json(result)
    else:
        line(f"{ref}: {result['status']}")
