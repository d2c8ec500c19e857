"""Rebuilding the VM at the destination (issue 10), end to end, in one job of three pairs:

* brazilsouth: a cross-region VM on a seeded subnet, left deallocated as asked;
* francecentral, zone 2, another resource group and another virtual network: the same-region
  clone, the whole method (deallocate, disk Copy, the VM, the source started again);
* brazilsouth zone 3 with a size the region offers but not in that zone: Azure refuses the VM
  (``SkuNotAvailable``); the pair fails with Azure's code, its disks are kept, its NIC deleted.

Then ``resume``: the refused pair runs again and is refused again, the other two are kept —
nothing is made twice (no disk, NIC or VM of the kept pairs written again); then ``cancel
--discard`` removes the job's VMs, NICs and disks, and nothing that is not the job's.
"""

from __future__ import annotations

from typing import Any

from diskferry.cloud import ResourceId
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.network.seed import seed_networks
from diskferry.model import TAG_JOB, TAG_ROLE, Phase
from diskferry.pipeline import layout
from diskferry.producer import api
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_same_content, delta, job_disks, power_state
from tests.fleet.conftest import Fleet, parse_job, vm_job
from tests.fleet.sources import seed_vms, unique_rg

#: offered in brazilsouth, but not in its zone 3 (emulator/compute/sizes.py)
NOT_IN_ZONE_3 = "Standard_E4s_v5"


def _vm_writes(calls: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in calls.items()
            if op.startswith(("Microsoft.Compute/virtualMachines/write", "Microsoft.Network/networkInterfaces/",
                              "Microsoft.Compute/disks/write"))}


def test_vms_rebuilt_cloned_and_refused_then_resumed_without_making_anything_twice(
    fleet: Fleet, fast_copies: AdminClient, clients: Clients
) -> None:
    rg = unique_rg("vmre")
    (app,) = seed_vms(fleet, rg, {"name": "app", "os_disk": 1, "data_disks": [1, 1]})
    nets = seed_networks(fleet.env, ["brazilsouth"])
    other = seed_networks(fleet.env, ["francecentral"], prefix=f"{rg}-net2")["francecentral"]
    targets: list[dict[str, Any]] = [
        {"region": "brazilsouth", "resource_group": f"{rg}-br",
         "vm": {"subnet": nets["brazilsouth"].subnet_id, "power": "deallocated"}},
        {"region": "francecentral", "resource_group": f"{rg}-clone", "zone": 2, "sku": "StandardSSD_LRS",
         "vm": {"name": "{source}-clone", "subnet": f"{other.resource_group}/vnet-francecentral/default"}},
        {"region": "brazilsouth", "resource_group": f"{rg}-z3",
         "vm": {"subnet": nets["brazilsouth"].subnet_id, "zone": 3, "size": NOT_IN_ZONE_3}},
    ]
    doc = vm_job(rg, ["app"], targets, consistency="deallocate", name="{source}-{key}-{rg}")
    plan = api.plan_job(parse_job(doc), settings=fleet.settings, cloud=fleet.cloud)
    actions = [s.action for s in plan.steps]
    for step in ("deallocate", "clone", "nic", "vm", "power", "start-vm"):
        assert step in actions, actions
    assert any("zone 3" in w and NOT_IN_ZONE_3 in w for w in plan.warnings), plan.warnings

    # Azure busy or throttling once at each new step: the step comes back, nothing fails for it
    fast_copies.add_fault("Microsoft.Network/networkInterfaces/write", status=503, code="ServerBusy")
    fast_copies.add_fault("Microsoft.Compute/virtualMachines/write", status=429, code="TooManyRequests",
                          retry_after=0.5)
    fast_copies.add_fault("Microsoft.Compute/virtualMachines/deallocate/action", status=500, code="InternalError")
    job_id = fleet.submit(doc)
    status = fleet.wait(job_id, timeout=90)
    assert fast_copies.call("GET", "/faults") == [], "a fault was not met"

    assert status.phase is Phase.failed, status
    br, clone, z3 = status.sources[0].targets
    job = fleet.store.job(job_id)
    source = job.sources[0]

    # cross-region: a VM on the copied disks, at the source's LUNs, deallocated as asked
    assert br.phase is Phase.succeeded, br
    vm = fleet.cloud.compute.find_vm(br.vm_id or "")
    assert vm is not None and vm.power_state == "deallocated" == br.vm_power
    assert {d.lun: d.disk_id.lower() for d in vm.disks} == {
        (None if d.key == "os" else int(d.key[3:])): (d.result_id or "").lower() for d in br.disks}
    assert vm.size == source.vm_size and vm.location == "brazilsouth"
    assert vm.tags[TAG_JOB] == job_id and vm.tags[TAG_ROLE] == "result"
    nic = fleet.cloud.network.find_nic(vm.nic_ids[0])
    assert nic is not None and nic.subnet_id.lower() == nets["brazilsouth"].subnet_id.lower()
    assert nic.tags[TAG_JOB] == job_id

    # same region: another group, zone, SKU, network and name; the source VM runs again
    assert clone.phase is Phase.succeeded, clone
    made = clients.compute.virtual_machines.get(f"{rg}-clone", "app-clone")
    assert made.zones == ["2"] and made.id == clone.vm_id and clone.vm_power == "running"
    assert made.storage_profile.os_disk.managed_disk.id.lower() == (clone.disks[0].result_id or "").lower()
    assert [(d.lun, d.caching) for d in made.storage_profile.data_disks] == [
        (d.lun, d.caching or "None") for d in source.disks if d.lun is not None]
    for d in clone.disks:
        disk = clients.compute.disks.get(f"{rg}-clone", d.result_name)
        assert disk.zones == ["2"] and disk.sku.name == "StandardSSD_LRS"
        assert disk.creation_data.create_option == "Copy"
    clone_nic = fleet.cloud.network.find_nic(made.network_profile.network_interfaces[0].id)
    assert clone_nic is not None and clone_nic.subnet_id.lower() == other.subnet_id.lower()
    assert power_state(clients, rg, "app") == "PowerState/running"

    # refused: Azure's code on the pair, the disks kept as results, the NIC made for it gone
    assert z3.phase is Phase.failed and z3.error is not None and z3.error.code == "SkuNotAvailable", z3
    assert z3.vm_id is None
    assert all(d.phase is Phase.succeeded and d.result_id for d in z3.disks), z3.disks
    refused = layout.rebuilt_vm(job, source, job.targets[2])
    assert fleet.cloud.compute.find_vm(refused.id) is None
    assert fleet.cloud.network.find_nic(refused.nic_id) is None
    assert_same_content(fleet, app, status)
    assert_clean(fleet, job_id)

    # resume: only the refused pair runs again; nothing of the kept pairs is written again
    before, kept = fast_copies.counters(), {d.id for d in job_disks(clients, job_id)}
    assert api.resume_job(job_id, settings=fleet.settings, cloud=fleet.cloud, app=fleet.app) == 1
    again = fleet.wait(job_id, timeout=90)
    calls = delta(before, fast_copies.counters())
    writes = _vm_writes(calls)
    assert not [op for op in calls if op.startswith(("blob.CopyBlob", "Microsoft.Compute/snapshots/write")) or
                op.endswith(("deallocate/action", "beginGetAccess/action"))], calls
    assert again.sources[0].targets[2].error is not None
    assert again.sources[0].targets[2].error.code == "SkuNotAvailable"
    # the refused pair's disks were kept: nothing copied or written, the source not read again
    assert {d.id for d in job_disks(clients, job_id)} == kept
    assert writes.get("Microsoft.Compute/disks/write", 0) == 0, writes
    assert power_state(clients, rg, "app") == "PowerState/running"
    assert writes.get("Microsoft.Compute/virtualMachines/write") == 1, writes  # the refused VM, tried once more
    assert writes.get("Microsoft.Network/networkInterfaces/write") == 1, writes  # its NIC, deleted again
    assert [t.vm_id for t in again.sources[0].targets[:2]] == [br.vm_id, clone.vm_id]
    assert fleet.cloud.network.find_nic(refused.nic_id) is None
    assert_clean(fleet, job_id)

    # gc: a NIC a job made that no VM holds is a leftover; the NICs the job's VMs hold are not
    orphan = refused.nic_id.replace(f"/{rg}-z3/", f"/{rg}-br/").replace("-nic", "-orphan-nic")
    fleet.cloud.network.ensure_nic(orphan, location="brazilsouth", subnet_id=nets["brazilsouth"].subnet_id,
                                   tags={TAG_JOB: "0000deadbeef", TAG_ROLE: "result"})
    listed = {left.id: left for left in api.collect_garbage(older_than=0, dry_run=True, settings=fleet.settings,
                                                            cloud=fleet.cloud) if left.kind.value == "nic"}
    assert listed[orphan].outcome == "would remove" and listed[orphan].job == "0000deadbeef"
    assert not {vm.nic_ids[0], clone_nic.id} & set(listed)
    fleet.cloud.network.delete(orphan)

    # cancel --discard: the job's VMs, NICs and disks go; the source VM and its NIC stay
    api.cancel_job(job_id, discard=True, settings=fleet.settings, cloud=fleet.cloud, app=fleet.app)
    for vm_id in (br.vm_id, clone.vm_id):
        assert fleet.cloud.compute.find_vm(vm_id or "") is None
    assert fleet.cloud.network.find_nic(vm.nic_ids[0]) is None
    assert fleet.cloud.network.find_nic(clone_nic.id) is None
    assert job_disks(clients, job_id) == []
    source_vm = fleet.cloud.compute.find_vm(source.resource_id)
    assert source_vm is not None and source_vm.power_state == "running"
    assert fleet.cloud.network.find_nic(source_vm.nic_ids[0]) is not None



def test_a_trusted_launch_vm_is_rebuilt_as_one(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    """A Trusted Launch VM's OS disk is imported as a Trusted Launch disk (a VHD carries no
    security type) or cloned as one (a Copy keeps it), and the VM rebuilt on it is a Trusted
    Launch VM with the source's UEFI settings: Azure boots a VM only from an OS disk of its own
    security type. The plan says the VM guest state (the vTPM's) is not copied."""
    rg = unique_rg("tl")
    (vm,) = seed_vms(fleet, rg, {"name": "tl", "os_disk": 1, "data_disks": [1], "security_type": "TrustedLaunch"})
    nets = seed_networks(fleet.env, ["brazilsouth"])
    here = seed_networks(fleet.env, ["francecentral"], prefix=f"{rg}-net")["francecentral"]
    doc = vm_job(rg, ["tl"], [
        {"region": "brazilsouth", "resource_group": f"{rg}-br", "vm": {"subnet": nets["brazilsouth"].subnet_id}},
        {"region": "francecentral", "resource_group": f"{rg}-fr",
         "vm": {"name": "{source}-clone", "subnet": f"{here.resource_group}/vnet-francecentral/default"}},
    ], name="{source}-{key}-{region}")
    plan = api.plan_job(parse_job(doc), settings=fleet.settings, cloud=fleet.cloud)
    assert any("TrustedLaunch VM" in w and "guest state is not copied" in w for w in plan.warnings), plan.warnings
    job_id = fleet.submit(doc)
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    security = {d.name: (d.security_profile.security_type if d.security_profile else None)
                for d in job_disks(clients, job_id)}
    assert security == {"tl-os-brazilsouth": "TrustedLaunch", "tl-lun0-brazilsouth": None,
                        "tl-os-francecentral": "TrustedLaunch", "tl-lun0-francecentral": None}
    for pair in status.sources[0].targets:
        rid = ResourceId.parse(pair.vm_id or "")
        rebuilt = clients.compute.virtual_machines.get(rid.resource_group, rid.name).security_profile
        assert rebuilt.security_type == "TrustedLaunch"
        assert (rebuilt.uefi_settings.secure_boot_enabled, rebuilt.uefi_settings.v_tpm_enabled) == (True, True)
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)
