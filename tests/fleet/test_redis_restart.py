"""Redis dies mid-job (SIGKILL, AOF on) and comes back — at once, or after a 30 s outage:
every worker reconnects, no worker process exits, and the running job completes without
waiting for a visibility timeout (the fleet keeps the 10-minute default).

Before ``worker_cancel_long_running_tasks_on_connection_loss`` was turned off, every worker
died here: kombu logged "Restoring N unacknowledged message(s)", then
``AttributeError: 'NoneType' object has no attribute 'hostname'`` and "Unrecoverable error"
(Celery issues #7185 and #9250: the cancel path on reconnection kills the main process).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from tests.fleet.checks import assert_clean, assert_same_content, copying
from tests.fleet.conftest import running_fleet, vm_job
from tests.redisserver import RedisServer
from tests.reliability import CaseRecord, record_case

#: 1 MiB of data per disk at this rate: each copy takes ~10 s, so Redis dies mid-copy
BANDWIDTH = 100 * 1024
#: what the workers log when one of them gives up (Celery's "Unrecoverable error: ...")
FATAL = ("Unrecoverable error", "AttributeError")


@pytest.mark.parametrize("outage", [0, pytest.param(30, marks=pytest.mark.slow)], ids=["restart", "30s-outage"])
def test_workers_survive_a_redis_restart_and_the_job_completes(emulator: EmulatorProcess, admin: AdminClient,
                                                               own_redis: Callable[..., RedisServer], tmp_path: Path,
                                                               request: pytest.FixtureRequest, outage: float) -> None:
    redis_server = own_redis("--appendonly", "yes", "--appendfsync", "always")
    with running_fleet(emulator, redis_server.url(), tmp_path / "workers") as fleet:
        rg = f"redis-{uuid.uuid4().hex[:6]}"
        (vm,) = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                            "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]}).items
        admin.set(copy_bandwidth=BANDWIDTH, lro_latency=0.0)
        job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
        copying(fleet, job_id)

        redis_server.kill()
        killed = time.monotonic()
        time.sleep(outage)
        redis_server.start()
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
        # far less than any visibility timeout (10 min here): nothing waited for a redelivery
        assert took < 90
        print(f"\nRedis down {outage:.0f} s; job done {took:.1f} s after the kill")
        assert_same_content(fleet, vm, status)
        assert_clean(fleet, job_id)
        # a kill-matrix case too (the report lists it beside the worker kills)
        record_case(CaseRecord(matrix="kill", case=f"redis-{request.node.callspec.id}", outcome=status.phase.value,
                               recovery_seconds=round(took, 1), nodeid=request.node.nodeid,
                               details={"down_seconds": outage, "appendonly": True}))
