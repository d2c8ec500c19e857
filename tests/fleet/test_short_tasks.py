"""No task holds a worker while Azure works: with every long-running operation slow (snapshots,
grants, imports, images, deletes, revokes, deallocation and start all take seconds), every
task run still ends in a fraction of that, and the job completes."""

from __future__ import annotations

import re
import uuid

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.fleet.checks import assert_clean, assert_same_content
from tests.fleet.conftest import Fleet, vm_job

#: what every Azure operation takes in this test
LRO_SECONDS = 2.0
#: Celery's line for each task run: "Task diskferry.prepare[<id>] succeeded in 0.12s: ..." or a retry
_RUN = re.compile(r"Task (diskferry\.\w+)\[([0-9a-f-]+)\] (?:succeeded in ([0-9.]+)s|retry: Retry in)")


def test_operations_are_started_then_checked_not_waited_for(fleet: Fleet, fast_copies: AdminClient) -> None:
    rg = f"short-{uuid.uuid4().hex[:6]}"
    vm = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                     "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]}).items[0]
    fast_copies.set(lro_latency=LRO_SECONDS)
    logs_before = {log: log.stat().st_size for log in fleet.workers.logs}

    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}],
                                 consistency="deallocate", image=True, keep_image_disks=True))
    status = fleet.wait(job_id, timeout=180)

    assert status.phase is Phase.succeeded, status
    runs = []
    for log, offset in logs_before.items():
        with log.open("rb") as f:
            f.seek(offset)
            runs += _RUN.findall(f.read().decode(errors="replace"))
    finished = {name: float(took) for name, _, took in runs if took}
    retried = {name for name, _, took in runs if not took}
    # prepare (deallocation, grants) and finalize (imports, image, revokes, the VM's start) came
    # back while Azure worked ...
    assert {"diskferry.prepare", "diskferry.finalize"} <= retried
    # ... and no run lasted as long as one Azure operation
    assert finished and max(finished.values()) < LRO_SECONDS, finished
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)
