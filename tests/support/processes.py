"""Child processes as an operator starts them: the `arledger` executable, its ``ARLEDGER_*``
environment, a process group with its output in a log file, and polling until something holds.

The benchmarks start their workers with these too (``benchmarks/support.py`` imports them), so
this module needs nothing from pytest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ARLEDGER = str(Path(sys.executable).with_name("arledger"))


def arledger_env(
    database_url: str, broker_url: str, sink: str, webhook_secret: str, **extra: str
) -> dict[str, str]:
    """The environment of an arledger child process: this one's, with every ``ARLEDGER_*``
    variable replaced by these (so a developer's own settings never leak into a run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARLEDGER_")}
    env.update(
        ARLEDGER_DATABASE_URL=database_url,
        ARLEDGER_BROKER_URL=broker_url,
        ARLEDGER_GL_SINK=sink,
        ARLEDGER_WEBHOOK_SECRET=webhook_secret,
        **extra,
    )
    return env


def run_ok(
    command: list[str], env: dict[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to its end as an operator would, its output captured; it must exit 0."""
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}"
    )
    return result


def pipeline_env(database_url: str, broker_url: str, sink: str, **extra: str) -> dict[str, str]:
    return arledger_env(database_url, broker_url, sink, "whsec-integration", **extra)


class Process:
    """A child process (a worker, beat, the ingress) in its own process group, with its output in
    a log file; the benchmarks and the test suite's pipeline tests both start them this way."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("w")
        self.process = subprocess.Popen(
            args, env=env, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(
            f"{text!r} never appeared in {self.log}; its end:\n"
            f"{self.log.read_text(errors='replace')[-4000:]}"
        )

    def tree(self) -> list[int]:
        return [self.process.pid, *_children(self.process.pid)]

    def tree_peak_mb(self) -> float:
        """Peak RSS (VmHWM) of this process and each of its children, the largest, in MB."""
        peaks = [hwm_kb(pid) for pid in [self.process.pid, *_children(self.process.pid)]]
        return max(peaks, default=0) / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.handle.close()

    def kill(self) -> None:
        """kill -9 the whole process group: the main process and its pool children."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.handle.close()


class WorkerProcess(Process):
    """An `arledger worker` (or `beat`) subprocess and its log."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        super().__init__([ARLEDGER, *args], env, log)


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    result = [int(child) for child in found]
    for child in list(result):
        result += _children(child)
    return result


def hwm_kb(pid: int) -> int:
    """A process's peak RSS so far (VmHWM) in kB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_until(
    predicate: Callable[[], object], timeout: float = 90, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
