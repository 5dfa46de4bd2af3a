"""The long-running processes and their one-shot siblings: ``worker``, ``beat``, ``serve``,
``sweep`` and ``gl publish``.

Celery and uvicorn are imported by the command that starts them, never by the read commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.domain.errors import InvalidInput
from workers.cli.common import JsonOption, app, gl_app, settings
from workers.cli.render import emit_json, line, stdout


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes (default ARLEDGER_WORKER_CONCURRENCY).")
    ] = None,
    queues: Annotated[
        str, typer.Option(help="Queues to consume, comma-separated.")
    ] = "receipts,lockbox,gl",
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """The Celery worker."""
    from tasks.celery_tasks import register
    from tasks.registry import QUEUES
    from workers.celery_app import celery_app

    config = settings()
    if not config.broker_url:
        raise InvalidInput(
            "the worker needs a broker: set ARLEDGER_BROKER_URL (e.g. redis://127.0.0.1:6379/0)"
        )
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(QUEUES))
    if unknown or not wanted:
        raise InvalidInput(
            f"unknown queue {', '.join(unknown) or '(none)'}: the queues are {', '.join(QUEUES)}"
        )
    celery = celery_app(config)
    register(celery)
    celery.worker_main(
        [
            "worker",
            f"--loglevel={loglevel}",
            f"--concurrency={concurrency or config.worker_concurrency}",
            "-Q",
            ",".join(wanted),
            # Heartbeats stay on: they keep the event dispatcher open, so that a monitor's
            # `enable_events` can switch task events on (celery/worker/consumer/events.py).
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def beat(
    schedule: Annotated[Path, typer.Option(help="Where beat keeps its schedule state.")] = Path(
        "celerybeat-schedule"
    ),
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """The periodic schedule: the outbox publisher every second, the intake sweep every 15 s."""
    from workers.celery_app import celery_app

    config = settings()
    if not config.broker_url:
        raise InvalidInput("beat needs a broker: set ARLEDGER_BROKER_URL")
    celery_app(config).start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"])


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes. One process handles about 200 events/s on one core; more "
            "processes use more cores (each holds its own database connections).",
        ),
    ] = 1,
) -> None:
    """The HTTP ingress: the signed gateway webhook, /health and /metrics."""
    import os
    import shutil
    import tempfile

    import uvicorn

    if workers == 1:
        from workers.ingress import app_from_environment

        application = app_from_environment()  # refuses to start without a webhook secret
        uvicorn.run(application, host=host, port=port, log_level="info", access_log=False)
        return
    # Each process counts its webhooks in files of a directory they share, and the one that
    # answers a scrape adds them all up (workers/metrics.py). The directory must be set before
    # prometheus_client is first imported, and start empty: counts left by an earlier run would
    # be added to this one's. An operator's own PROMETHEUS_MULTIPROC_DIR is used as it is.
    own_directory = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_directory = tempfile.mkdtemp(prefix="arledger-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_directory
    try:
        from workers.ingress import app_from_environment

        app_from_environment()  # refuses to start without a webhook secret, before any process
        # Several processes need the app by import path: each builds its own from the environment.
        uvicorn.run(
            "workers.ingress:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="info",
            access_log=False,
        )
    finally:
        if own_directory is not None:
            shutil.rmtree(own_directory, ignore_errors=True)


@app.command()
def sweep(as_json: JsonOption = False) -> None:
    """Re-dispatch intake persisted but not processed (what the beat schedule runs every 15 s)."""
    from tasks import dispatch

    result = dispatch.sweep(settings())
    if as_json:
        emit_json(result)
    else:
        stdout().print(f"re-dispatched {result['receipts']} receipts and {result['events']} events")


@gl_app.command("publish")
def gl_publish(as_json: JsonOption = False) -> None:
    """Publish every unpublished journal to the configured sink now."""
    from ledger.outbox.publisher import publish_pending, sink_for

    config = settings()
    sink = sink_for(config)
    count = publish_pending(config, sink)
    if as_json:
        emit_json({"published": count, "sink": sink.describe()})
    else:
        line(f"published {count} journals to {sink.describe()}")
