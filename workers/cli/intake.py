"""Intake from outside: ``lockbox import`` (a bank file) and ``gateway submit`` (one event)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.domain.errors import InvalidInput
from workers.cli.common import JsonOption, gateway_app, lockbox_app, read_file, settings
from workers.cli.render import emit_json, note, print_lockbox_summary, print_record, show, stderr


@lockbox_app.command("import")
def lockbox_import(
    file: Annotated[
        Path,
        typer.Argument(help="A bank file: lockbox CSV or BAI-style, BAI2, camt.053 or camt.054."),
    ],
    profile: Annotated[
        Path | None,
        typer.Option(help="A bank's field-position profile (JSON); default: docs/lockbox.md."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for every check to be distributed.")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the workers.")] = 3600.0,
    as_json: JsonOption = False,
) -> None:
    """Validate a whole bank file, receive its checks or credits as receipts, and distribute them."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ledger.intake.lockbox import load_profile
    from ledger.services.lockbox import distributed, file_summary, import_lockbox, progress
    from tasks import dispatch
    from tasks.registry import TaskName

    config = settings()
    started = time.monotonic()
    if not file.is_file():
        raise InvalidInput(f"cannot read {file}: no such file")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # The bar appears once the file is validated, so a refused file prints one line, no bar.
    bar = Progress(*columns, console=stderr(), transient=False, disable=as_json)
    task = bar.add_task(f"distributing {file.name}", total=None)

    def validated(summary: Any) -> None:
        bar.update(task, total=summary.items)
        bar.start()

    def received(receipt_ids: list[int]) -> None:
        # Each committed chunk is dispatched at once: distribution overlaps the reading.
        if config.broker_url:
            dispatch.distribute(config, receipt_ids, task=TaskName.DISTRIBUTE_LOCKBOX_BATCH)
        else:
            dispatch.distribute(
                config, receipt_ids, on_batch=lambda count: bar.advance(task, count)
            )

    try:
        imported = import_lockbox(
            config,
            file,
            profile=load_profile(profile) if profile else None,
            on_received=received,
            on_validated=validated,
        )
        deadline = time.monotonic() + timeout
        counted = 0.0
        while config.broker_url and wait:
            # The bar's count reads every queued receipt of the file (28 ms at 100,000): once a
            # second; the end is seen within a quarter of one by a look that stops at the first.
            if time.monotonic() - counted >= 1.0:
                counted = time.monotonic()
                done, total = progress(config, imported.file_id)
                bar.update(task, completed=done)
                if done >= total:
                    break
            elif distributed(config, imported.file_id):
                bar.update(task, completed=total)
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.25)
    finally:
        bar.stop()
    if imported.resumed:
        note(f"{file.name} had been partly imported before; the missing checks were received")
    summary = file_summary(config, imported.file_id)
    summary["seconds"] = round(time.monotonic() - started, 3)
    show(summary, as_json, print_lockbox_summary)


@gateway_app.command("submit")
def gateway_submit(
    file: Annotated[
        Path, typer.Argument(help="A gateway event as JSON, exactly as the webhook takes it.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Submit a gateway event (payment, refund, dispute) without the HTTP signature."""
    from ledger.intake.gateway import parse_event
    from ledger.services.events import submit_event
    from tasks import dispatch

    config = settings()
    event = parse_event(read_file(file))
    intake = submit_event(config, event)
    if not intake.created:
        note(f"event {event.event_id} was already received; nothing new applied")
    dispatch.intake(config, *intake.work())
    result = {**intake.body(), "event": event.key, "type": event.type, "created": intake.created}
    if intake.receipt_id is not None:
        from ledger.persistence.db import unit_of_work
        from ledger.queries.views import receipt_view

        with unit_of_work(config.database_url) as session:
            result["receipt"] = receipt_view(session, intake.receipt_id)
            result["status"] = result["receipt"]["status"]
    if as_json:
        emit_json(result)
    else:
        print_record(
            f"gateway event {event.key}", {k: v for k, v in result.items() if k != "receipt"}
        )
