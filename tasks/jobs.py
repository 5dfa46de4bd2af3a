"""The bodies of the tasks, as plain functions of (settings, ids): what a worker runs for a
message, and what runs in-process when no broker is configured.

Each returns a JSON-ready dict and the follow-up work it makes (refund events that were waiting
on a payment just distributed; journals to publish), which the caller dispatches the same way it
was dispatched itself. :func:`run` finds a job by its task name (``tasks.registry``) and checks
the message's arguments first: a worker and the in-process mode run the same table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import StrictInt, TypeAdapter, ValidationError

from config.settings import Settings
from ledger.domain.errors import InputRefused
from ledger.outbox.publisher import PublisherBusy, publish_pending
from ledger.persistence.outbox import Written
from ledger.services import distribution, events, operations
from tasks.registry import TOP_UP, TaskName


@dataclass
class Outcome:
    """A job's result and the follow-ups it asks for."""

    result: dict[str, Any]
    receipts: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    publish: bool = False
    publish_later: bool = False
    # The commit the job made, for a publish in this process to send without reading it back.
    written: Written | None = None


def distribute(settings: Settings, receipt_ids: list[int], *, top_up: int = 0) -> Outcome:
    batch = distribution.distribute_receipts(settings, receipt_ids, top_up=top_up)
    return Outcome(
        {"distributed": batch.distributed, "statuses": batch.statuses},
        events=list(batch.waiting_events),
        publish=batch.distributed > 0,
        written=batch.written,
    )


def process_event(settings: Settings, event_row: int) -> Outcome:
    outcome = events.process_event(settings, event_row)
    return Outcome(
        {"status": outcome.status, "reason": outcome.reason, "new_receipt": outcome.new_receipt},
        receipts=[outcome.new_receipt] if outcome.new_receipt else [],
        events=list(outcome.released),
        publish=outcome.status == "done",
    )


def publish(settings: Settings, written: Written | None = None) -> Outcome:
    """Publish what is pending (``written``: the commit this process just made, see
    ``publish_pending``). When another publisher holds the cursor it will deliver what is
    pending now; asking again a moment later covers what commits just after it finishes."""
    try:
        return Outcome({"published": publish_pending(settings, written=written)})
    except PublisherBusy:
        return Outcome({"published": 0, "busy": True}, publish_later=True)


def sweep(settings: Settings) -> Outcome:
    """Ask again for intake that is persisted but not processed (``operations.sweep``)."""
    pending = operations.sweep(settings)
    return Outcome(
        {"receipts": len(pending.receipts), "events": len(pending.events)},
        receipts=list(pending.receipts),
        events=list(pending.events),
        publish=True,
    )


class MalformedMessage(InputRefused):
    """A task message whose arguments are not what its task takes."""


_IDS = TypeAdapter(list[StrictInt])
_ID = TypeAdapter(StrictInt)


def _one(args: list[Any]) -> Any:
    if len(args) != 1:
        raise MalformedMessage(f"malformed message: one argument expected, got {len(args)}")
    return args[0]


def _ids(args: list[Any]) -> list[int]:
    ids = _IDS.validate_python(_one(args))
    if not ids:
        raise MalformedMessage("malformed message: no receipt ids")
    return ids


def _id(args: list[Any]) -> int:
    return int(_ID.validate_python(_one(args)))


def _no_arguments(args: list[Any]) -> None:
    if args:
        raise MalformedMessage(f"malformed message: this task takes no arguments, got {args!r}")


def _distribute_receipts(settings: Settings, args: list[Any]) -> Outcome:
    return distribute(settings, _ids(args), top_up=TOP_UP)


def _distribute_lockbox_batch(settings: Settings, args: list[Any]) -> Outcome:
    return distribute(settings, _ids(args))


def _process_event(settings: Settings, args: list[Any]) -> Outcome:
    return process_event(settings, _id(args))


def _publish_gl(settings: Settings, args: list[Any]) -> Outcome:
    _no_arguments(args)
    return publish(settings)


def _sweep(settings: Settings, args: list[Any]) -> Outcome:
    _no_arguments(args)
    return sweep(settings)


# What each task runs, by name: a worker's tasks and the in-process mode use this one table.
JOBS: dict[TaskName, Callable[[Settings, list[Any]], Outcome]] = {
    TaskName.DISTRIBUTE_RECEIPTS: _distribute_receipts,
    TaskName.DISTRIBUTE_LOCKBOX_BATCH: _distribute_lockbox_batch,
    TaskName.PROCESS_EVENT: _process_event,
    TaskName.PUBLISH_GL: _publish_gl,
    TaskName.SWEEP: _sweep,
}


def run(settings: Settings, task: str, args: list[Any]) -> Outcome:
    """Run the job of the task named ``task`` on a message's arguments.

    Raises MalformedMessage for an unknown task or arguments of the wrong shape (the message is
    then a poison message), and whatever the job raises.
    """
    try:
        job = JOBS[TaskName(task)]
    except ValueError:
        raise MalformedMessage(f"unknown task {task!r}") from None
    try:
        return job(settings, args)
    except ValidationError as exc:
        raise MalformedMessage(
            f"malformed message: {exc.errors(include_url=False)[0]['msg']}"
        ) from None
