"""consistency: snapshot (the VM keeps running; one snapshot and one grant per disk for
every target) and deallocate (the VM is deallocated, read, and started again)."""

from __future__ import annotations

import uuid

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_same_content, delta
from tests.fleet.conftest import Fleet, vm_job

SNAPSHOT_WRITE = "Microsoft.Compute/snapshots/write"
SNAPSHOT_GRANT = "Microsoft.Compute/snapshots/beginGetAccess/action"
DISK_GRANT = "Microsoft.Compute/disks/beginGetAccess/action"


def _power(clients: Clients, rg: str, vm: str) -> str:
    view = clients.compute.virtual_machines.get(rg, vm, expand="instanceView")
    return next(s.code for s in view.instance_view.statuses if s.code.startswith("PowerState/"))


def test_snapshot_is_shared_by_every_target(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = f"snap-{uuid.uuid4().hex[:6]}"
    vm = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                     "vms": [{"name": "db", "os_disk": 1, "data_disks": [1]}]}).items[0]
    targets = [{"region": r, "resource_group": f"{r}-{rg}"} for r in ("brazilsouth", "westeurope", "eastus")]
    before = fast_copies.counters()
    job_id = fleet.submit(vm_job(rg, ["db"], targets, consistency="snapshot"))
    status = fleet.wait(job_id)
    calls = delta(before, fast_copies.counters())

    assert status.phase is Phase.succeeded, status
    assert len(status.disks()) == 6
    # one snapshot and one SAS per disk, whatever the number of targets
    assert calls.get(SNAPSHOT_WRITE) == 2
    assert calls.get(SNAPSHOT_GRANT) == 2
    assert DISK_GRANT not in calls
    assert "Microsoft.Compute/virtualMachines/deallocate/action" not in calls
    assert _power(clients, rg, "db") == "PowerState/running"
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_deallocate_restarts_the_vm(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = f"dealloc-{uuid.uuid4().hex[:6]}"
    vm = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                     "vms": [{"name": "web", "os_disk": 1, "data_disks": [1, 1]}]}).items[0]
    before = fast_copies.counters()
    job_id = fleet.submit(vm_job(rg, ["web"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}],
                                 consistency="deallocate"))
    status = fleet.wait(job_id)
    calls = delta(before, fast_copies.counters())

    assert status.phase is Phase.succeeded, status
    assert calls.get("Microsoft.Compute/virtualMachines/deallocate/action") == 1
    assert calls.get("Microsoft.Compute/virtualMachines/start/action") == 1
    assert calls.get(DISK_GRANT) == 3  # the disks themselves, no snapshot
    assert SNAPSHOT_WRITE not in calls
    assert _power(clients, rg, "web") == "PowerState/running"
    for disk in vm.disks:
        assert clients.compute.disks.get(rg, disk.name).disk_state == "Attached"
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)
