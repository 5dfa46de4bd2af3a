"""Where persisted intake goes next: a message on the broker, or straight in-process.

Callers persist first (the receipt, the event, the lockbox file's checks), commit, and then
dispatch ids. With a broker configured the ids travel as JSON task messages, in batches, through
the one Celery app (``workers.celery_app``); with none (the embedded default) the same jobs run
here, synchronously, followed by their follow-ups and by publishing. Either way a dispatch that
never happens (a crash, a lost queue) is repaired by the sweep, because the database remembers
what is pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from config.settings import Settings
from ledger.persistence.outbox import Written
from tasks import jobs
from tasks.registry import TaskName

log = logging.getLogger(__name__)


def send(settings: Settings, task: str, args: list[Any], countdown: float | None = None) -> None:
    """Send one task message through the broker."""
    from workers.celery_app import celery_app  # noqa: PLC0415 - in-process runs never load Celery

    celery_app(settings).send_task(task, args=args, countdown=countdown)


def intake(settings: Settings, receipts: Sequence[int] = (), events: Sequence[int] = ()) -> None:
    """Dispatch what intake persisted: receipts to distribute, refunds and disputes to process.

    The one way in for the webhook, the CLI and the demo alike."""
    if receipts:
        distribute(settings, receipts)
    if events:
        process_events(settings, events)


def distribute(
    settings: Settings,
    receipt_ids: Sequence[int],
    *,
    task: TaskName = TaskName.DISTRIBUTE_RECEIPTS,
    on_batch: Callable[[int], object] | None = None,
) -> None:
    """Distribute these receipts: batches of ``settings.batch_size`` per message. In-process,
    ``on_batch`` hears how many receipts each finished batch held (for a progress bar)."""
    ids = list(receipt_ids)
    for start in range(0, len(ids), settings.batch_size):
        chunk = ids[start : start + settings.batch_size]
        if settings.broker_url:
            send(settings, task, [chunk])
        else:
            follow_up(settings, jobs.distribute(settings, chunk), and_publish=False)
            if on_batch is not None:
                on_batch(len(chunk))
    if not settings.broker_url and ids:
        publish(settings)


def process_events(settings: Settings, event_rows: Sequence[int]) -> None:
    for row in event_rows:
        if settings.broker_url:
            send(settings, TaskName.PROCESS_EVENT, [row])
        else:
            follow_up(settings, jobs.process_event(settings, row))


def publish(
    settings: Settings, *, here: bool = False, written: Written | None = None
) -> dict[str, Any]:
    """Publish pending journals: as a task on the gl queue, or — with no broker, or ``here`` (a
    worker that has just committed a batch) — now, in this process.

    A publish that fails leaves the journals in the outbox: nothing is lost. In a worker the batch
    that asked is committed and is not failed, retried or made a poison message for it: the gl
    task takes over, with its own retries (and the beat publishes every second besides).
    In-process, a sink that fails is logged and the next publish delivers; any other error reaches
    the command that asked. When another publisher holds the cursor it delivers what is pending,
    and one publish a second later covers what commits just after it finishes.
    """
    if settings.broker_url and not here:
        send(settings, TaskName.PUBLISH_GL, [])
        return {"sent": True}
    try:
        outcome = jobs.publish(settings, written)
    except Exception as exc:
        if not settings.broker_url and not isinstance(exc, OSError):
            raise
        log.warning("GL journals kept for a later publish: %s: %s", type(exc).__name__, exc)
        if settings.broker_url:
            _send_quietly(settings, TaskName.PUBLISH_GL, [])
        return {"published": 0, "error": type(exc).__name__}
    if outcome.publish_later:
        publish_later(settings)
    return outcome.result


def publish_later(settings: Settings) -> None:
    """Another publisher held the cursor: with a broker, ask once more a second from now (never a
    longer countdown, docs/rules.md section 8); in-process, the next command's publish delivers."""
    if settings.broker_url:
        _send_quietly(settings, TaskName.PUBLISH_GL, [], countdown=1)
    else:
        log.info("another publisher holds the GL cursor; it delivers what is pending")


def _send_quietly(
    settings: Settings, task: str, args: list[Any], countdown: float | None = None
) -> None:
    # Only for a publish: the journals wait in the outbox, and the beat asks every second.
    try:
        send(settings, task, args, countdown)
    except Exception as exc:
        log.warning("could not ask for a later publish (%s); the beat will", exc)


def resend(settings: Settings, task: str, args: list[Any]) -> None:
    """Send a message again (a poison message an operator retries), or run it here."""
    if settings.broker_url:
        send(settings, task, args)
        return
    follow_up(settings, jobs.run(settings, task, args))


def sweep(settings: Settings) -> dict[str, Any]:
    outcome = jobs.sweep(settings)
    follow_up(settings, outcome)
    return outcome.result


def follow_up(
    settings: Settings, outcome: jobs.Outcome, *, and_publish: bool = True, here: bool = False
) -> None:
    """Dispatch what a job asked for next, the way this process dispatches; a worker passes
    ``here`` to publish the journals it just committed itself (see ``publish``)."""
    intake(settings, outcome.receipts, outcome.events)
    if and_publish and outcome.publish:
        publish(settings, here=here, written=outcome.written)
    elif outcome.publish_later:
        publish_later(settings)


def distribute_now(settings: Settings, receipt_id: int) -> dict[str, Any]:
    """Dispatch one receipt and return its view: distributed already when in-process, still
    queued (or distributed by a fast worker) when on a broker."""
    from ledger.services.receipts import receipt_view  # noqa: PLC0415

    distribute(settings, [receipt_id])
    return receipt_view(settings, receipt_id)
