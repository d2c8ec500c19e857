"""A VM with data disks replicated through the fleet, checked byte for byte."""

from __future__ import annotations

import uuid

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_same_content
from tests.fleet.conftest import Fleet, vm_job


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
