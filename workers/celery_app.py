"""The Celery app: one per process, built lazily from the settings object (docs/rules.md section 8).

JSON only (a pickled message is refused, never deserialised); late acknowledgement with
``reject_on_worker_lost`` so a killed worker's message is redelivered; prefetch of one so a slow
task never sits on others; hard and soft time limits; the queues, routes and beat schedule of
``tasks.registry``. Task events are Celery's default: off until a monitor asks for them (Flower
broadcasts ``enable_events`` every 5 s while it runs), or always on, the senders' ``task-sent``
included, with ``ARLEDGER_TASK_EVENTS`` (README, "Watching the workers"). Importing this module
builds nothing: :func:`celery_app` builds the app the first time a process sends a message or
starts a worker, and every later call returns it.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from kombu.entity import Queue

from config.settings import Settings, get_settings
from tasks.registry import BEAT_SCHEDULE, QUEUES, RECEIPTS_QUEUE, ROUTES
from workers.runtime import freeze_startup_heap

_apps: dict[tuple[str, bool], Celery] = {}
# A threaded server's first requests may all send at once: one builder at a time.
_lock = threading.Lock()


def celery_app(settings: Settings | None = None) -> Celery:
    """The process's Celery app for these settings' broker, built on first use."""
    settings = settings or get_settings()
    key = (settings.broker_url or "memory://", settings.task_events)
    with _lock:
        app = _apps.get(key)
        if app is None:
            app = _apps[key] = _build(*key)
        return app


def _build(broker_url: str, task_events: bool) -> Celery:
    app = Celery("arledger", set_as_current=False)
    app.conf.update(
        broker_url=broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 900},
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=600,
        task_soft_time_limit=540,
        task_default_queue=RECEIPTS_QUEUE,
        task_queues=[Queue(name) for name in QUEUES],
        task_routes=ROUTES,
        task_create_missing_queues=False,
        # Task events cost CPU on both sides of every task (docs/performance.md, "what task
        # events cost"), so they are off unless asked for. A monitor's `enable_events` turns on
        # the workers' (received, started, succeeded…); `task-sent` is the sender's own setting,
        # which no remote command reaches.
        worker_send_task_events=task_events,
        task_send_sent_event=task_events,
        timezone="UTC",
        beat_schedule=BEAT_SCHEDULE,
    )
    return app


@worker_process_init.connect(weak=False)
def _pool_process_started(**_kwargs: Any) -> None:
    # After the fork, before the first task: the imports and the app are all in place.
    freeze_startup_heap()


def __getattr__(name: str) -> Celery:
    # ``celery -A workers.celery_app:app …`` (the compose file's health check, `inspect ping`)
    # asks for a module attribute: it gets the app built from the environment's settings.
    if name == "app":
        return celery_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
