"""A VM with data disks replicated through the fleet, checked byte for byte."""

from __future__ import annotations

import json
import uuid

import redis

from diskferry.config.celeryconfig import COPY_DISK
from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_same_content
from tests.fleet.conftest import Fleet, vm_job
from tests.waiting import wait_until


def test_vm_with_data_disks_to_two_regions(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = f"src-{uuid.uuid4().hex[:6]}"
    seeded = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                         "vms": [{"name": "app", "os_disk": 1, "data_disks": [2, {"size_gb": 1, "lun": 3}]}]})
    vm = seeded.items[0]
    targets = [{"region": "brazilsouth", "resource_group": f"br-{rg}", "sku": "Premium_LRS"},
               {"region": "westeurope", "resource_group": f"we-{rg}"}]
    job_id = fleet.submit(vm_job(rg, ["app"], targets, tags={"owner": "ops"}))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    disks = status.disks()
    assert len(disks) == 6 and all(d.phase is Phase.succeeded and d.result_id for d in disks)
    for d in disks:
        made = clients.compute.disks.get(d.result_id.split("/")[4], d.result_id.rsplit("/", 1)[1])
        assert made.tags == {"owner": "ops", "diskferry-job": job_id, "diskferry-role": "result"}
        region = "brazilsouth" if d.target.startswith("brazilsouth") else "westeurope"
        assert made.location == region
        assert made.name == f"app-{d.name}-{region}"
        if region == "brazilsouth":
            assert made.sku.name == "Premium_LRS"
    assert_same_content(fleet, vm, status)
    # the VM kept running: consistency=snapshot needs no downtime
    view = clients.compute.virtual_machines.get(rg, "app", expand="instanceView")
    assert "PowerState/running" in [s.code for s in view.instance_view.statuses]
    assert_clean(fleet, job_id)


def test_each_copy_task_runs_once_its_copy_started_by_prepare(fleet: Fleet, admin: AdminClient) -> None:
    """A staged pair's copies are started and parked by its prepare (``diskferry.tasks.startcopies``):
    while they run no copy task is queued or running — only the watcher looks at them — and
    each copy's task runs once, after its copy ended, counted in the pair's chord."""
    # 1 MiB per disk: a copy lasts ~5 s (the admin fixture puts the settings back after the test)
    admin.set(copy_bandwidth=200 * 1024, lro_latency=0.0)
    rg = f"once-{uuid.uuid4().hex[:6]}"
    seeded = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                         "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]})
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]))
    copies = {d.key: fleet.store.disk_state(job_id, d.source, d.target, d.key)["poll"]["id"]
              for d in fleet.store.status(job_id).disks()}

    def copying() -> bool:
        return all(d.phase is Phase.copying and d.bytes_copied for d in fleet.store.status(job_id).disks())

    wait_until(copying, 30, lambda: f"the copies never ran: {fleet.store.status(job_id)}", interval=0.1)
    logs = "\n".join(log.read_text(errors="replace") for log in fleet.workers.logs)
    assert not [c for c in copies.values() if f"[{c}] received" in logs], "a copy task ran while its copy ran"
    broker = redis.Redis.from_url(fleet.settings.broker_url)
    try:
        queued = [json.loads(m)["headers"]["task"] for q in (fleet.settings.queue, fleet.settings.poll_queue)
                  for m in broker.lrange(q, 0, -1)] + [
                  json.loads(m)[0]["headers"]["task"] for m in broker.hvals("unacked")]
    finally:
        broker.close()
    assert COPY_DISK not in queued, queued

    status = fleet.wait(job_id)
    assert status.phase is Phase.succeeded, status
    logs = "\n".join(log.read_text(errors="replace") for log in fleet.workers.logs)
    assert {key: logs.count(f"[{c}] received") for key, c in copies.items()} == dict.fromkeys(copies, 1)
    assert_same_content(fleet, seeded.items[0], status)
    assert_clean(fleet, job_id)
