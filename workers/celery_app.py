"""The Celery app: one app, configured from the settings object (SPEC section 9).

JSON only (a pickled message is refused, never deserialised); late acknowledgement with
``reject_on_worker_lost`` so a killed worker's message is redelivered; prefetch of one so a slow
task never sits on others; hard and soft time limits; three queues — receipts, lockbox, gl —
with routing; a beat schedule for the outbox publisher and the intake sweep. Tasks live in
``tasks/`` and take ids and strings only.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from kombu.entity import Queue

from config.settings import Settings, get_settings
from workers.runtime import freeze_startup_heap

QUEUES = ("receipts", "lockbox", "gl")
ROUTES = {
    "arledger.distribute_receipts": {"queue": "receipts"},
    "arledger.distribute_lockbox_batch": {"queue": "lockbox"},
    "arledger.process_event": {"queue": "receipts"},
    "arledger.publish_gl": {"queue": "gl"},
    "arledger.sweep": {"queue": "receipts"},
}
PUBLISH_EVERY_SECONDS = 1.0
SWEEP_EVERY_SECONDS = 15.0


def create_app(settings: Settings) -> Celery:
    """A Celery app for these settings, with every arledger task registered on it."""
    app = Celery("arledger", set_as_current=False)
    app.conf.update(
        # With no broker configured nothing is ever sent: tasks run in-process (tasks.dispatch).
        broker_url=settings.broker_url or "memory://",
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
        task_default_queue="receipts",
        task_queues=[Queue(name) for name in QUEUES],
        task_routes=ROUTES,
        task_create_missing_queues=False,
        worker_send_task_events=False,
        timezone="UTC",
        beat_schedule={
            "publish-gl": {"task": "arledger.publish_gl", "schedule": PUBLISH_EVERY_SECONDS},
            "sweep-intake": {"task": "arledger.sweep", "schedule": SWEEP_EVERY_SECONDS},
        },
    )
    from tasks import celery_tasks  # noqa: PLC0415 - registers the tasks on this app

    celery_tasks.register(app)
    return app


app = create_app(get_settings())


@worker_process_init.connect(weak=False)
def _pool_process_started(**_kwargs: Any) -> None:
    # After the fork, before the first task: the imports and the app are all in place.
    freeze_startup_heap()
