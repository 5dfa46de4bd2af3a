"""docker-compose.yml cannot run here (no Docker engine), so its services are held to running the
commands this suite runs: each arledger service's command — and its health check — is run
directly against the local PostgreSQL and Redis, with only host names, ports and temp paths
translated. Flower's service is run the same way, against a real worker, and must show the
worker and its tasks through its API and its Prometheus endpoint.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.databases import reset_postgres
from tests.support.metrics import Scrape
from tests.support.paths import ROOT, SAMPLE
from tests.support.processes import ARLEDGER, Process, pipeline_env, run_ok, wait_until

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ARLEDGER_SERVICES = {"migrate", "worker", "beat", "ingress"}
# Services of the arledger image that run another program of it (Flower, through celery).
IMAGE_SERVICES = ARLEDGER_SERVICES | {"flower"}
CELERY = str(Path(ARLEDGER).with_name("celery"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def command(service: str, **replace: str) -> list[str]:
    words = [replace.get(word, word) for word in SERVICES[service]["command"]]
    assert words[0] == "arledger"
    return [ARLEDGER, *words[1:]]


def celery_command(service: str, **replace: str) -> list[str]:
    words = [replace.get(word, word) for word in SERVICES[service]["command"]]
    assert words[0] == "celery"
    return [CELERY, *words[1:]]


def test_the_compose_file_has_every_service_with_health_checks_and_environment():
    assert set(SERVICES) == {"postgres", "redis"} | IMAGE_SERVICES
    for name in ("postgres", "redis", "worker", "ingress", "flower"):
        assert "healthcheck" in SERVICES[name], name
    for name in IMAGE_SERVICES:
        environment = SERVICES[name]["environment"]
        assert set(environment) >= {
            "ARLEDGER_DATABASE_URL",
            "ARLEDGER_BROKER_URL",
            "ARLEDGER_GL_SINK",
            "ARLEDGER_WEBHOOK_SECRET",
        }
        assert environment["ARLEDGER_DATABASE_URL"].startswith("postgresql://")
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("worker", "beat", "ingress"):
        assert (
            SERVICES[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )


def test_every_compose_service_command_runs_here(
    pg_run_database, redis_url, start_worker, tmp_path: Path
):
    reset_postgres(pg_run_database)
    env = pipeline_env(pg_run_database, redis_url, redis_url)

    run_ok(command("migrate"), env)
    run_ok([ARLEDGER, "load", str(SAMPLE)], env)

    start_worker(env, *command("worker")[1:])
    ping = SERVICES["worker"]["healthcheck"]["test"][1:]
    assert ping[0] == "celery"
    result = subprocess.run(
        [str(Path(ARLEDGER).with_name("celery")), *ping[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and "pong" in result.stdout, result.stdout + result.stderr

    schedule = str(tmp_path / "celerybeat-schedule")
    start_worker(
        env, *command("beat", **{"/tmp/celerybeat-schedule": schedule})[1:], ready="beat: Starting"
    )

    port = str(free_port())
    start_worker(
        env,
        *command("ingress", **{"0.0.0.0": "127.0.0.1", "8000": port})[1:],
        ready="Application startup complete",  # a server process, not only the supervisor
    )
    probe = SERVICES["ingress"]["healthcheck"]["test"][-1].replace("8000", port)
    assert (
        subprocess.run(
            [str(Path(ARLEDGER).with_name("python")), "-c", probe], timeout=30, check=False
        ).returncode
        == 0
    )

    from ledger.intake.signature import sign

    body = json.dumps(
        {
            "event_id": "evt_c1",
            "type": "payment.succeeded",
            "gateway": "stripe",
            "payment_id": "pi_c1",
            "amount": "10.00",
            "currency": "USD",
            "occurred_at": "2026-11-05T10:00:00Z",
        }
    ).encode()
    response = httpx.post(
        f"http://127.0.0.1:{port}/v1/gateway/events",
        content=body,
        headers={"X-Arledger-Signature": sign(env["ARLEDGER_WEBHOOK_SECRET"], body)},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    # The worker distributes it (no order: unapplied for nobody, i.e. unidentified) and beat publishes.
    deadline = time.monotonic() + 30
    show = [ARLEDGER, "receipt", "show", str(response.json()["receipt_id"]), "--json"]
    status = run_ok(show, env)
    while json.loads(status.stdout)["status"] == "queued" and time.monotonic() < deadline:
        time.sleep(0.5)
        status = run_ok(show, env)
    assert json.loads(status.stdout)["status"] == "unidentified", status.stdout


@pytest.mark.parametrize("service", sorted(ARLEDGER_SERVICES))
def test_compose_commands_are_real_arledger_commands(service):
    help_text = subprocess.run(
        [*command(service)[:2], "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert help_text.returncode == 0, help_text.stderr


# Flower logs nothing when it switches events on; the worker logs this, and only when its task
# events were off until then (celery/worker/control.py, enable_events).
ENABLED_BY_REMOTE = "Events of group {task} enabled by remote."


def test_the_flower_service_sees_the_worker_and_its_tasks(
    pg_run_database, redis_url, start_worker, tmp_path: Path
):
    # The workers' task events are off (the default, ARLEDGER_TASK_EVENTS) until Flower switches
    # them on; that the setting reaches Celery is a unit test (tests/unit/test_settings.py).
    reset_postgres(pg_run_database)
    env = pipeline_env(pg_run_database, redis_url, redis_url)
    for step in (["init"], ["load", str(SAMPLE)]):
        run_ok([ARLEDGER, *step], env)
    worker = start_worker(env, *command("worker")[1:])

    port = str(free_port())
    user, password = "ops", "flower-test"
    # The password comes from the environment, as in the compose file.
    assert SERVICES["flower"]["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH")
    flower = Process(
        celery_command(
            "flower",
            **{"--address=0.0.0.0": "--address=127.0.0.1", "--port=5555": f"--port={port}"},
        ),
        {**env, "FLOWER_BASIC_AUTH": f"{user}:{password}"},
        tmp_path / "flower.log",
    )
    try:
        flower.wait_for("Visit me at")
        base = f"http://127.0.0.1:{port}"
        probe = SERVICES["flower"]["healthcheck"]["test"][-1].replace("5555", port)
        assert (
            subprocess.run(
                [str(Path(ARLEDGER).with_name("python")), "-c", probe], timeout=30, check=False
            ).returncode
            == 0
        )
        api = httpx.Client(base_url=base, auth=(user, password), timeout=15)
        assert httpx.get(f"{base}/api/workers", timeout=15).status_code == 401  # Basic auth

        # The worker's heartbeats are events too: once Flower has one, it is listening.
        def alive() -> dict:
            return api.get("/api/workers", params={"status": "true"}).json()

        wait_until(lambda: any(alive().values()), timeout=60, what="Flower hearing the worker")
        workers = api.get("/api/workers", params={"refresh": "true"}).json()
        assert len(workers) >= 1 and all(name.startswith("celery@") for name in workers)
        name = next(iter(alive()))
        assert {queue["name"] for queue in workers[name]["active_queues"]} == {
            "receipts",
            "lockbox",
            "gl",
        }
        # Hearing the worker is not enough: its task events are off until Flower's first
        # `enable_events` broadcast (5 s after Flower starts), and a task run before it is
        # never shown. The worker's log line proves they were off and Flower turned them on.
        worker.wait_for(ENABLED_BY_REMOTE, timeout=30)

        run_ok(
            [
                ARLEDGER,
                "receipt",
                "submit",
                "--order",
                "O-100",
                "--amount",
                "350.00",
                "--external-id",
                "CHK-FLOWER",
                "--json",
            ],
            env,
        )

        def distributed() -> list[dict]:
            tasks = api.get("/api/tasks").json().values()
            return [
                task
                for task in tasks
                if task["name"] == "arledger.distribute_receipts" and task["state"] == "SUCCESS"
            ]

        wait_until(distributed, timeout=60, what="Flower showing the distribution task")
        (task,) = distributed()
        assert task["worker"] == name
        assert task["received"] is not None and task["started"] is not None
        assert task["succeeded"] is not None
        # `task-sent` is the sender's own setting: no monitor can switch it on.
        assert task["sent"] is None

        # Flower's Prometheus endpoint counts the same task's events.
        scrape = Scrape(httpx.get(f"{base}/metrics", timeout=15).text)
        for kind in ("task-sent", "task-received", "task-started", "task-succeeded"):
            expected = 0 if kind == "task-sent" else 1
            assert (
                scrape.total("flower_events_total", task="arledger.distribute_receipts", type=kind)
                == expected
            ), kind
    finally:
        flower.stop()
        worker.stop()
