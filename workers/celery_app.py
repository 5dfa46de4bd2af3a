"""The Celery app: one per process, built lazily from the settings object (docs/rules.md section 8).

JSON only (a pickled message is refused, never deserialised); late acknowledgement with
``reject_on_worker_lost`` so a killed worker's message is redelivered; prefetch of one so a slow
task never sits on others; hard and soft time limits; the queues, routes and beat schedule of
``tasks.registry``; task events sent by the workers (received, started, succeeded, failed) and by
every sender (sent), so that Flower and its Prometheus endpoint show each task (README,
"Watching the workers"). Importing this module builds nothing: :func:`celery_app` builds the app the
first time a process sends a message or starts a worker, and every later call returns it.
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

_apps: dict[str, Celery] = {}
# A threaded server's first requests may all send at once: one builder at a time.
_lock = threading.Lock()


def celery_app(settings: Settings | None = None) -> Celery:
    """The process's Celery app for these settings' broker, built on first use."""
    settings = settings or get_settings()
    broker = settings.broker_url or "memory://"
    with _lock:
        app = _apps.get(broker)
        if app is None:
            app = _apps[broker] = _build(broker)
        return app


def _build(broker_url: str) -> Celery:
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
        # Task events, for Flower: a few small broker messages per task, and a task here is a
        # batch of receipts. With no monitor listening the broker drops them (Redis pub/sub;
        # RabbitMQ's event exchange has no queue bound).
        worker_send_task_events=True,
        task_send_sent_event=True,
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
