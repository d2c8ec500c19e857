"""A redis-server of one's own (the tests', a benchmark's), on a loopback TCP port that the
server binds itself.

redis-server cannot listen on TCP port 0 (``--port 0`` turns TCP off), so a port is proposed
here and the *server* binds it: when another process holds it, redis-server says "Address
already in use" and exits, and another port is tried. Nothing binds a port and releases it
for the server to take later (the race in which another process takes it meanwhile).

Why TCP and not a unix socket (no port at all; kombu ``redis+socket://``, Celery's backend
and Flower support one): starting is no faster on a socket (median of 10 starts here: TCP
27 ms, unix socket 64 ms; ``python -m tests.benchmarks.timings`` prints them), a port
collision costs one more start of ~25 ms, and a socket needs its own URL spelling per
client (redis-py ``unix://PATH?db=N``, kombu ``redis+socket://PATH?virtual_host=N``) while
the settings derive the result backend and the state store from the broker URL and every
test hands ``redis://host:port/db`` around (``redis_url``, ``running_fleet``).
One spelling everywhere is worth a rare retried start.

Proposed ports lie below Linux's ephemeral range, so that no outgoing connection's local port
can hold one, and a server stopped by a test can usually be restarted on its port.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from diskferry.emulator.testing import stop_process

#: below the default ephemeral range (32768-60999) and above the registered services' crowd
PORTS = range(20000, 32768)
ATTEMPTS = 20
#: redis-server's own words (server.c) for a listening server and for a taken port
READY = "Ready to accept connections"
IN_USE = "Address already in use"
#: numbered databases per server: 0-15 as Redis's default, the rest for ``RedisDatabases``
DATABASES = 128


class RedisNotInstalled(RuntimeError):
    pass


def redis_server_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise RedisNotInstalled(
            "redis-server is not installed: the tests and benchmarks start their own and never use a Redis "
            "they did not start; run scripts/test.sh (installs it) or apt-get install redis-server"
        )
    return path


class RedisServer:
    """Use as a context manager; ``url(db)`` while it runs. ``stop()`` (SIGTERM) or
    ``kill()`` (SIGKILL) and ``start()`` again restart it on the same port."""

    def __init__(self, workdir: Path, args: Sequence[str] = (), ports: Sequence[int] | None = None) -> None:
        """``ports``: the ones to propose, in order (default: ``ATTEMPTS`` random ``PORTS``)."""
        self.workdir = workdir
        self.args = list(args)
        self.ports = list(ports) if ports is not None else random.sample(PORTS, ATTEMPTS)
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "redis.log"

    def url(self, db: int = 0) -> str:
        assert self.port is not None, "the server has not started"
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 10) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.port is not None:  # a restart: the clients hold this port
            if not self._serve(self.port, timeout):
                raise RuntimeError(f"redis-server cannot listen on {self.port} again:\n{self._log()}")
            return self
        for port in self.ports:
            if self._serve(port, timeout):
                self.port = port
                return self
        raise RuntimeError(f"redis-server found no free port among {self.ports}:\n{self._log()}")

    def _serve(self, port: int, timeout: float) -> bool:
        """Start on ``port``; False when it is taken (the server exited saying so)."""
        self.log_path.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--databases", str(DATABASES), "--dir", str(self.workdir), "--logfile", str(self.log_path),
             *self.args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        proc = self.proc
        deadline = time.monotonic() + timeout
        while READY not in self._log() and proc.poll() is None:
            if time.monotonic() > deadline:
                stop_process(proc)
                raise RuntimeError(f"redis-server not ready after {timeout}s:\n{self._log()}")
            time.sleep(0.01)
        if proc.poll() is None:
            return True
        if IN_USE in self._log():
            return False
        raise RuntimeError(f"redis-server exited with {proc.returncode}:\n{self._log()}")

    def _log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: Redis gone without a word, as when its host dies."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
