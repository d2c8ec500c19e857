"""A smoke test of scale: 20 VMs to two regions on the session's two workers, with the wall
time and the calls it cost (emulator operations, Redis commands) printed for the record."""

from __future__ import annotations

import time

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_same_content, delta
from tests.fleet.conftest import Fleet, vm_job
from tests.fleet.sources import seed_vms, unique_rg


def _redis_commands(fleet: Fleet) -> dict[str, int]:
    """Commands the fleet's Redis (broker, results, job records: one server) has run, by name."""
    stats = fleet.store._r.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def test_twenty_vms_to_two_regions(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    """A smoke test of scale: 20 VMs (27 disks) to 2 regions on the session's 2 workers."""
    rg = unique_rg("fleet20")
    vms = seed_vms(fleet, rg, *({"name": f"vm{i:02}", "os_disk": 1, "data_disks": [1] * (i % 3 == 0)}
                                for i in range(20)))
    disks = sum(len(vm.disks) for vm in vms)
    before, redis_before = fast_copies.counters(), _redis_commands(fleet)
    started = time.monotonic()
    targets = [{"region": "westeurope", "resource_group": f"we-{rg}"},
               {"region": "brazilsouth", "resource_group": f"br-{rg}"}]
    job_id = fleet.submit(vm_job(rg, [vm.name for vm in vms], targets))
    status = fleet.wait(job_id, timeout=60)
    wall = time.monotonic() - started
    calls = delta(before, fast_copies.counters())
    redis_calls = delta(redis_before, _redis_commands(fleet))

    assert status.phase is Phase.succeeded, status
    assert len(status.disks()) == 2 * disks == 54
    for vm in vms:
        assert_same_content(fleet, vm, status)
    assert calls.get("blob.CopyBlob") == 2 * disks
    assert calls.get("Microsoft.Compute/snapshots/write") == disks
    assert calls.get("Microsoft.Compute/disks/write") == 2 * disks
    # one staging account per region (two pairs may both PUT it: Azure's create is idempotent)
    assert calls.get("Microsoft.Storage/storageAccounts/delete") == 2
    arm = sum(n for op, n in calls.items() if not op.startswith(("blob.", "oauth2.")))
    blob = sum(n for op, n in calls.items() if op.startswith("blob."))
    print(f"\n20 VMs, {disks} disks → 2 regions: {wall:.1f} s; emulator calls: {arm} ARM, {blob} blob "
          f"({calls.get('blob.GetBlobProperties', 0)} copy polls), {calls.get('oauth2.token', 0)} tokens; "
          f"Redis commands: {sum(redis_calls.values())}, most: {sorted(redis_calls.items(), key=lambda i: -i[1])[:6]}")
    assert_clean(fleet, job_id)
