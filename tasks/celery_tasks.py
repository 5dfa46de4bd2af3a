"""The Celery tasks: decode and validate the message, run one job, dispatch its follow-ups.

Names are explicit (``arledger.*``) and arguments are ids only, so a message is small, JSON and
meaningful to anyone reading the queue. Transient database trouble — a deadlock, a serialization
failure, a lost connection, SQLite's busy lock — is retried with a short exponential backoff
(never more than a few seconds of countdown). A message that cannot be processed — a malformed
body, an id that does not exist, a bug — is recorded as a poison message with its reason, for the
exception queue, and acknowledged: it never blocks the queue and is retryable from the CLI.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from celery import Celery, Task
from pydantic import StrictInt, TypeAdapter, ValidationError
from sqlalchemy import insert
from sqlalchemy.exc import InterfaceError, OperationalError

from config.settings import get_settings
from ledger.domain.errors import InputRefused
from ledger.persistence.db import unit_of_work
from ledger.persistence.schema import POISON_MESSAGES
from tasks import dispatch, jobs

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
_RECEIPT_IDS = TypeAdapter(list[StrictInt])
_ID = TypeAdapter(StrictInt)
# A gateway receipt's task takes up to this many other queued receipts with it (see
# services.distribute_receipts): one transaction for a burst instead of one per receipt, which is
# what lets two worker processes keep up with hundreds of webhook events a second.
TOP_UP = 100


def record_poison(task: str, body: Any, reason: str) -> None:
    """Keep a message that cannot be processed, with its reason, for `arledger exceptions`."""
    try:
        text = json.dumps(body, default=str)
    except (TypeError, ValueError):
        text = repr(body)
    with unit_of_work(get_settings().database_url) as session:
        session.execute(
            insert(POISON_MESSAGES).values(
                task=task, body=text[:20000], reason=reason[:2000], status="open"
            )
        )
        session.commit()


class ArledgerTask(Task):  # type: ignore[misc,unused-ignore]
    """Base task: a failure that is not retried becomes a poison message, not a lost message."""

    autoretry_for = TRANSIENT
    retry_backoff = 0.5
    retry_backoff_max = 5
    retry_jitter = True
    max_retries = 25

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        if self.name == "arledger.publish_gl":
            return  # the beat schedule publishes again in a second; nothing is lost
        log.error("task %s %s failed: %s", self.name, task_id, exc)
        record_poison(
            self.name,
            {"args": list(args or ()), "kwargs": dict(kwargs or {})},
            f"{type(exc).__name__}: {exc}",
        )


def _ids(task: str, body: Any) -> list[int] | None:
    try:
        ids = _RECEIPT_IDS.validate_python(body)
    except ValidationError as exc:
        record_poison(task, body, f"malformed message: {exc.errors(include_url=False)[0]['msg']}")
        return None
    if not ids:
        record_poison(task, body, "malformed message: no receipt ids")
        return None
    return ids


def _id(task: str, body: Any) -> int | None:
    try:
        return int(_ID.validate_python(body))
    except ValidationError as exc:
        record_poison(task, body, f"malformed message: {exc.errors(include_url=False)[0]['msg']}")
        return None


def _follow_up(outcome: jobs.Outcome) -> dict[str, Any]:
    # The journals this task committed are published by this task: a publish message per batch
    # cost the sender, the worker's main process and a pool process about 2 ms of CPU between
    # them, and put a queue between a batch and its journals.
    dispatch.follow_up(get_settings(), outcome, here=True)
    return outcome.result


def register(app: Celery) -> None:
    """Define every arledger task on ``app``."""

    @app.task(name="arledger.distribute_receipts", base=ArledgerTask)
    def distribute_receipts(receipt_ids: Any) -> dict[str, Any] | None:
        ids = _ids("arledger.distribute_receipts", receipt_ids)
        if ids is None:
            return None
        return _follow_up(jobs.distribute(get_settings(), ids, top_up=TOP_UP))

    @app.task(name="arledger.distribute_lockbox_batch", base=ArledgerTask)
    def distribute_lockbox_batch(receipt_ids: Any) -> dict[str, Any] | None:
        ids = _ids("arledger.distribute_lockbox_batch", receipt_ids)
        return None if ids is None else _follow_up(jobs.distribute(get_settings(), ids))

    @app.task(name="arledger.process_event", base=ArledgerTask)
    def process_event(event_row: Any) -> dict[str, Any] | None:
        row = _id("arledger.process_event", event_row)
        if row is None:
            return None
        try:
            return _follow_up(jobs.process_event(get_settings(), row))
        except InputRefused as exc:
            record_poison("arledger.process_event", event_row, exc.message)
            return None

    @app.task(name="arledger.publish_gl", base=ArledgerTask)
    def publish_gl() -> dict[str, Any]:
        # Errors are the task's: a transient one is retried with backoff, like any task's.
        settings = get_settings()
        outcome = jobs.publish(settings)
        if outcome.publish_later:
            dispatch.publish_later(settings)
        return outcome.result

    @app.task(name="arledger.sweep", base=ArledgerTask)
    def sweep() -> dict[str, Any]:
        return _follow_up(jobs.sweep(get_settings()))
