"""Every task arledger sends: its name, its queue and the periodic schedule.

A leaf module (it imports nothing of the project), read by the Celery app, the worker's task
definitions, the dispatcher that sends or runs them, and the in-process mode alike, so a task's
name is written once. Names are explicit (``arledger.*``) so a message on the broker says what it
is to anyone reading the queue.
"""

from __future__ import annotations

from enum import StrEnum


class TaskName(StrEnum):
    """The tasks, by the name their messages carry."""

    DISTRIBUTE_RECEIPTS = "arledger.distribute_receipts"
    DISTRIBUTE_LOCKBOX_BATCH = "arledger.distribute_lockbox_batch"
    PROCESS_EVENT = "arledger.process_event"
    PUBLISH_GL = "arledger.publish_gl"
    SWEEP = "arledger.sweep"


RECEIPTS_QUEUE = "receipts"
LOCKBOX_QUEUE = "lockbox"
GL_QUEUE = "gl"
QUEUES = (RECEIPTS_QUEUE, LOCKBOX_QUEUE, GL_QUEUE)

QUEUE_OF: dict[TaskName, str] = {
    TaskName.DISTRIBUTE_RECEIPTS: RECEIPTS_QUEUE,
    TaskName.DISTRIBUTE_LOCKBOX_BATCH: LOCKBOX_QUEUE,
    TaskName.PROCESS_EVENT: RECEIPTS_QUEUE,
    TaskName.PUBLISH_GL: GL_QUEUE,
    TaskName.SWEEP: RECEIPTS_QUEUE,
}
ROUTES = {name.value: {"queue": queue} for name, queue in QUEUE_OF.items()}

# Beat asks for a publish every second (what no worker published after its batch, say after a
# sink failure) and sweeps persisted but unprocessed intake every 15 seconds (docs/rules.md section 8).
PUBLISH_EVERY_SECONDS = 1.0
SWEEP_EVERY_SECONDS = 15.0
BEAT_SCHEDULE = {
    "publish-gl": {"task": TaskName.PUBLISH_GL.value, "schedule": PUBLISH_EVERY_SECONDS},
    "sweep-intake": {"task": TaskName.SWEEP.value, "schedule": SWEEP_EVERY_SECONDS},
}

# A gateway receipt's task takes up to this many other queued receipts with it (see
# services.distribution.distribute_receipts): one transaction for a burst instead of one per receipt,
# which is what lets two worker processes keep up with hundreds of webhook events a second.
TOP_UP = 100
