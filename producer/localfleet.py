"""A small fleet on this machine: celery workers and Flower as subprocesses.

For the demo and the end-to-end tests, which need real worker processes (a thread worker
cannot be killed) started with exactly the environment a deployment would give them.
Everything started here is ended here, by its own Popen.
"""

from __future__ import annotations

import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from celery import Celery

from diskferry.config.settings import Settings

#: Flower 2.2 binds ``--port=0`` to a port of the kernel's choosing and logs the one it got
#: (``flower.command.print_banner``): no port is probed and released, so none can be taken
#: by another process between the probe and Flower's bind
FLOWER_LISTENING = re.compile(r"Visit me at https?://[^:/\s]+:(\d+)")


def unwind_on_sigterm() -> None:
    """Make SIGTERM end this process as Ctrl-C does: by unwinding, so that every ``with`` that
    started a child (workers, Flower, the local Azure, a Redis server) stops it. Python's default
    for SIGTERM is to die at once, which left them all running: ``timeout`` sends SIGTERM, and so
    do CI runners and ``kill`` without a signal."""
    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def flower_port(log: Path) -> int | None:
    """The port Flower logged that it listens on, once it has."""
    match = FLOWER_LISTENING.search(log.read_text(errors="replace")) if log.exists() else None
    return int(match.group(1)) if match else None


@dataclass
class LocalFleet:
    """``workers`` worker processes serving both queues (+ Flower when ``flower``)."""

    env: dict[str, str]
    settings: Settings
    logdir: Path
    workers: int = 2
    concurrency: int = 2
    flower: bool = False
    cwd: Path | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    flower_url: str | None = None
    #: basic-auth "user:password" of Flower (kept out of logs and output)
    flower_auth: str | None = None

    def start(self, app: Celery, timeout: float = 60) -> LocalFleet:
        self.logdir.mkdir(parents=True, exist_ok=True)
        for i in range(self.workers):
            self._spawn(
                f"worker{i}",
                [
                    "worker",
                    f"--queues={self.settings.queue},{self.settings.poll_queue}",
                    f"--concurrency={self.concurrency}",
                    f"--hostname=worker{i}-{uuid.uuid4().hex[:6]}@%h",
                    "--loglevel=INFO",
                    "--events",
                    "--without-gossip",
                    "--without-mingle",
                ],
            )
        if self.flower:
            self.flower_auth = f"diskferry:{secrets.token_urlsafe(12)}"
            self._spawn("flower", ["flower", "--address=127.0.0.1", "--port=0", f"--basic-auth={self.flower_auth}"])
        try:
            self._wait_for_workers(app, timeout)
            if self.flower:
                self.flower_url = f"http://127.0.0.1:{self._wait_for_flower(timeout)}"
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, args: list[str]) -> None:
        log = self.logdir / f"{name}.log"
        self.logs.append(log)
        with open(log, "ab") as out:
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "celery", "--app=diskferry.tasks.app:app", *args],
                    cwd=self.cwd,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    def _wait_for_workers(self, app: Celery, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for log, proc in zip(self.logs, self.procs, strict=True):
                if proc.poll() is not None:
                    raise RuntimeError(f"{log.stem} exited with {proc.returncode}\n{self.tail()}")
            if len(app.control.ping(timeout=1.0) or []) >= self.workers:
                return
        raise TimeoutError(f"workers did not answer within {timeout}s\n{self.tail()}")

    def _wait_for_flower(self, timeout: float) -> int:
        log, proc = self.logs[-1], self.procs[-1]
        deadline = time.monotonic() + timeout
        while (port := flower_port(log)) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"flower is not listening (exit status {proc.poll()})\n{self.tail()}")
            time.sleep(0.05)
        return port

    def tail(self, lines: int = 40) -> str:
        out = []
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self, grace: float = 20) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def __enter__(self) -> LocalFleet:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
