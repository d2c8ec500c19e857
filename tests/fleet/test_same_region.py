"""A target in the source's own region: snapshot → disk Copy, no SAS and no staging copy."""

from __future__ import annotations

import uuid

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_same_content, delta
from tests.fleet.conftest import Fleet, vm_job


def test_clone_into_another_group_zone_and_sku(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = f"clone-{uuid.uuid4().hex[:6]}"
    vm = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                     "vms": [{"name": "db", "os_disk": 1, "data_disks": [1]}]}).items[0]
    before = fast_copies.counters()
    job_id = fleet.submit(vm_job(
        rg, ["db"],
        [{"region": "France Central", "resource_group": f"{rg}-clone", "zone": 2, "sku": "StandardSSD_LRS"}],
        name="{source}-clone-{key}",
    ))
    status = fleet.wait(job_id)
    calls = delta(before, fast_copies.counters())

    assert status.phase is Phase.succeeded, status
    for disk in status.disks():
        made = clients.compute.disks.get(f"{rg}-clone", f"db-clone-{disk.key}")
        assert made.id == disk.result_id
        assert made.location == "francecentral"
        assert made.zones == ["2"]
        assert made.sku.name == "StandardSSD_LRS"
        assert made.creation_data.create_option == "Copy"
    assert not any("beginGetAccess" in op for op in calls), calls
    assert not any(op.startswith("Microsoft.Storage/storageAccounts/write") for op in calls)
    assert not any(op.startswith("blob.") for op in calls)
    assert calls.get("Microsoft.Compute/snapshots/write") == 2
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)
