"""The Celery tasks: decode and check the message, run one job, dispatch its follow-ups.

One task per entry of ``tasks.registry.TaskName``, each running the job ``tasks.jobs.run`` finds
for it, so a worker and the in-process mode run the same code. Arguments are ids only, so a
message is small, JSON and meaningful to anyone reading the queue. Transient database trouble — a
deadlock, a serialization failure, a lost connection, SQLite's busy lock — is retried with a
short exponential backoff (never more than a few seconds of countdown). A message that cannot be
processed — a malformed body, an id that does not exist, a bug — is recorded as a poison message
with its reason, for the exception queue, and acknowledged: it never blocks the queue and is
retryable from the CLI.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task

from config.settings import get_settings
from ledger.domain.errors import InputRefused
from ledger.persistence.db import TRANSIENT_ERRORS
from ledger.services.operations import record_poison
from tasks import dispatch, jobs
from tasks.registry import TaskName

log = logging.getLogger(__name__)


class ArledgerTask(Task):  # type: ignore[misc,unused-ignore]
    """Base task: a failure that is not retried becomes a poison message, not a lost message."""

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 0.5
    retry_backoff_max = 5
    retry_jitter = True
    max_retries = 25
    # False for a task whose work the beat schedule asks for again anyway (the GL publish).
    poison_on_failure = True

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        if not self.poison_on_failure:
            return
        log.error("task %s %s failed: %s", self.name, task_id, exc)
        record_poison(
            get_settings(),
            self.name,
            {"args": list(args or ()), "kwargs": dict(kwargs or {})},
            f"{type(exc).__name__}: {exc}",
        )


def _run(task: ArledgerTask, *args: Any) -> dict[str, Any] | None:
    settings = get_settings()
    try:
        outcome = jobs.run(settings, task.name, list(args))
    except InputRefused as exc:
        # Refused input is not a failure to retry: the message is kept for an operator.
        record_poison(settings, task.name, {"args": list(args), "kwargs": {}}, exc.message)
        return None
    # The journals this task committed are published by this task: a publish message per batch
    # cost more CPU and put a queue between a batch and its journals (docs/performance.md).
    dispatch.follow_up(settings, outcome, here=True)
    return outcome.result


def register(app: Celery) -> None:
    """Define every arledger task on ``app`` (the worker's: ``workers.celery_app``)."""
    for name in TaskName:
        app.task(
            name=name.value,
            base=ArledgerTask,
            bind=True,
            poison_on_failure=name is not TaskName.PUBLISH_GL,
        )(_run)
