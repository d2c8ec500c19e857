"""Redis dies mid-job (SIGKILL, AOF on) and comes back — at once, or after a 30 s outage:
every worker reconnects, no worker process exits, and the running job completes without
waiting for a visibility timeout (the fleet keeps the 12-hour default).

Before ``worker_cancel_long_running_tasks_on_connection_loss`` was turned off, every worker
died here: kombu logged "Restoring N unacknowledged message(s)", then
``AttributeError: 'NoneType' object has no attribute 'hostname'`` and "Unrecoverable error"
(Celery issues #7185 and #9250: the cancel path on reconnection kills the main process).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from diskferry.producer.localfleet import free_port
from tests.fleet.checks import assert_clean, assert_same_content, copying
from tests.fleet.conftest import running_fleet, vm_job

#: 1 MiB of data per disk at this rate: each copy takes ~10 s, so Redis dies mid-copy
BANDWIDTH = 100 * 1024
#: what the workers log when one of them gives up (Celery's "Unrecoverable error: ...")
FATAL = ("Unrecoverable error", "AttributeError")


@dataclass
class RedisServer:
    """A redis-server of the test's own, with an append-only file, that it may kill and start
    again on the same port and directory (so the data comes back, as on a real restart)."""

    binary: str
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs redis-server to kill and restart")
    server = RedisServer(binary, free_port(), tmp_path / "redis")
    server.workdir.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("outage", [0, 30], ids=["restart", "30s-outage"])
def test_workers_survive_a_redis_restart_and_the_job_completes(emulator: EmulatorProcess, admin: AdminClient,
                                                               own_redis: RedisServer, tmp_path: Path,
                                                               outage: float) -> None:
    with running_fleet(emulator, own_redis.url, tmp_path / "workers") as fleet:
        rg = f"redis-{uuid.uuid4().hex[:6]}"
        (vm,) = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                            "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]}).items
        admin.set(copy_bandwidth=BANDWIDTH, lro_latency=0.0)
        job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
        copying(fleet, job_id)

        own_redis.kill()
        killed = time.monotonic()
        time.sleep(outage)
        own_redis.start()
        try:
            status = fleet.wait(job_id, timeout=90)
        finally:
            admin.set(copy_bandwidth=256 * 1024 * 1024)
        took = time.monotonic() - killed
        exited = [(i, p.returncode) for i, p in enumerate(fleet.workers.procs) if p.poll() is not None]
        logs = fleet.workers.tail(lines=100_000)

        assert exited == [], f"workers exited: {exited}\n{fleet.workers.tail()}"
        assert not [line for line in logs.splitlines() if line.strip() and any(f in line for f in FATAL)], logs
        # every worker answers again, on the restarted Redis (asked on a fresh connection: the
        # test's pooled one died with the old Redis)
        with fleet.app.connection_for_write() as conn:
            assert len(fleet.app.control.ping(timeout=2.0, connection=conn) or []) == len(fleet.workers.procs)
        assert status.phase is Phase.succeeded, f"{status}\n{fleet.workers.tail()}"
        # far less than any visibility timeout (12 h here): nothing waited for a redelivery
        assert took < 90
        print(f"\nRedis down {outage:.0f} s; job done {took:.1f} s after the kill")
        assert_same_content(fleet, vm, status)
        assert_clean(fleet, job_id)
