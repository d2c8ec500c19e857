"""The compute facade's VM rebuild calls: create from attached disks and NICs, sizes of a region."""

from __future__ import annotations

import pytest
from azure.mgmt.network import NetworkManagementClient

from diskferry.cloud import Cloud
from diskferry.cloud.types import VmDisk
from diskferry.errors import DiskFailed
from tests.conftest import Clients
from tests.emulator.compute.helpers import empty_disk
from tests.emulator.network.helpers import new_nic, new_subnet


def _vm_id(clients: Clients, rg: str, name: str) -> str:
    group = f"/subscriptions/{clients.subscription_id}/resourceGroups/{rg}"
    return f"{group}/providers/Microsoft.Compute/virtualMachines/{name}"


def test_create_vm_from_disks_is_idempotent(
    cloud: Cloud, clients: Clients, network: NetworkManagementClient, rg: str
) -> None:
    os_disk, data = empty_disk(clients, rg, gb=2), empty_disk(clients, rg)
    nic = new_nic(network, rg, new_subnet(network, rg))
    vm_id = _vm_id(clients, rg, "rebuilt")
    tags = {"diskferry-job": "j1", "diskferry-role": "result"}

    def create() -> object:
        return cloud.compute.create_vm_from_disks(
            vm_id, location="francecentral", size="Standard_D2s_v5", os_type="Linux",
            os_disk=VmDisk(None, os_disk.id, "ReadWrite"), data_disks=[VmDisk(3, data.id, "ReadOnly")],
            nic_ids=[nic.id], tags=tags,
        )

    made = create()
    assert made == create()  # a re-run finds it
    vm = cloud.compute.get_vm(clients.subscription_id, rg, "rebuilt")
    assert (vm.size, vm.nic_ids, vm.os_type, vm.tags, vm.power_state, vm.provisioning_state) == (
        "Standard_D2s_v5", (nic.id,), "Linux", tags, "running", "Succeeded"
    )
    assert vm.disks == (VmDisk(None, os_disk.id, "ReadWrite"), VmDisk(3, data.id, "ReadOnly"))
    assert cloud.compute.vm_power_state(vm_id) == "running"
    assert network.network_interfaces.get(rg, nic.name).virtual_machine.id == vm.id
    deleting = cloud.compute.delete(vm_id)
    assert deleting is not None and cloud.compute.wait(deleting).done
    assert cloud.compute.find_vm(vm_id) is None
    assert clients.compute.disks.get(rg, os_disk.name).disk_state == "Unattached"  # disks stay
    assert network.network_interfaces.get(rg, nic.name).virtual_machine is None  # NIC released
    cloud.compute.delete(vm_id)  # gone: Azure answers 204, done


def test_create_vm_refusals_are_disk_failures(
    cloud: Cloud, clients: Clients, network: NetworkManagementClient, rg: str
) -> None:
    nic = new_nic(network, rg, new_subnet(network, rg))
    disk = empty_disk(clients, rg)
    with pytest.raises(DiskFailed) as err:
        cloud.compute.create_vm_from_disks(
            _vm_id(clients, rg, "big"), location="francecentral", size="Standard_M64s", os_type="Linux",
            os_disk=VmDisk(None, disk.id, None), data_disks=[], nic_ids=[nic.id], tags={},
        )
    assert err.value.code == "InvalidParameter"
    assert "Standard_M64s is not available in the current region" in err.value.message
    assert cloud.compute.find_vm(_vm_id(clients, rg, "big")) is None


def test_list_sizes_with_zones(cloud: Cloud, clients: Clients) -> None:
    sizes = {s.name: s for s in cloud.compute.list_sizes(clients.subscription_id, "eastus")}
    d2 = sizes["Standard_D2s_v3"]
    assert (d2.location, d2.zones, d2.vcpus, d2.memory_gib, d2.max_nics) == ("eastus", ("1", "2"), 2, 8.0, 2)
    assert sizes["Standard_D2s_v5"].zones == ("1", "2", "3")
    france = {s.name for s in cloud.compute.list_sizes(clients.subscription_id, "France Central")}
    assert "Standard_D2s_v5" in france and "Standard_M64s" not in france
    assert all(not s.zones for s in cloud.compute.list_sizes(clients.subscription_id, "westus"))
