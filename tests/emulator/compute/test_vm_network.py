"""VMs and their NICs: a NIC belongs to one VM in its region, is held until the VM goes."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient

from tests.conftest import Clients
from tests.emulator.compute.helpers import code_of, empty_disk, name, vm_body
from tests.emulator.network.helpers import new_nic, new_subnet


def _create(clients: Clients, rg: str, body: dict[str, object], vm: str | None = None) -> object:
    return clients.compute.virtual_machines.begin_create_or_update(rg, vm or name("vm"), body).result()


def test_vm_holds_its_nic_until_deleted(clients: Clients, network: NetworkManagementClient, rg: str) -> None:
    nic = new_nic(network, rg, new_subnet(network, rg))
    disk = empty_disk(clients, rg)
    vm: Any = _create(clients, rg, vm_body(disk.id, nic_ids=[nic.id]))
    (ref,) = vm.network_profile.network_interfaces
    assert (ref.id, ref.primary) == (nic.id, True)
    held = network.network_interfaces.get(rg, nic.name)
    assert held.virtual_machine.id == vm.id
    assert held.mac_address and held.mac_address.startswith("00-0D-3A-")
    with pytest.raises(HttpResponseError) as err:
        network.network_interfaces.begin_delete(rg, nic.name)
    assert (err.value.status_code, code_of(err)) == (400, "NicInUse")
    assert f"is used by existing resource {vm.id}" in str(err.value)
    with pytest.raises(HttpResponseError) as err:
        _create(clients, rg, vm_body(empty_disk(clients, rg).id, nic_ids=[nic.id]))
    assert (err.value.status_code, code_of(err)) == (400, "NicInUse")
    clients.compute.virtual_machines.begin_delete(rg, vm.name).result()
    assert network.network_interfaces.get(rg, nic.name).virtual_machine is None
    assert clients.compute.disks.get(rg, disk.name).disk_state == "Unattached"
    network.network_interfaces.begin_delete(rg, nic.name).result()


def test_nic_delete_option(clients: Clients, network: NetworkManagementClient, rg: str) -> None:
    nic = new_nic(network, rg, new_subnet(network, rg))
    body = vm_body(empty_disk(clients, rg).id, nic_ids=[nic.id])
    body["properties"]["networkProfile"]["networkInterfaces"][0]["properties"] = {"deleteOption": "Delete"}  # type: ignore[index]
    vm_name = name("vm")
    _create(clients, rg, body, vm_name)
    clients.compute.virtual_machines.begin_delete(rg, vm_name).result()
    with pytest.raises(ResourceNotFoundError):
        network.network_interfaces.get(rg, nic.name)


def test_network_profile_rules(clients: Clients, network: NetworkManagementClient, rg: str) -> None:
    subnet = new_subnet(network, rg)
    nics = [new_nic(network, rg, subnet) for _ in range(3)]
    disk = empty_disk(clients, rg)
    elsewhere = new_nic(network, rg, new_subnet(network, rg, "westeurope", "10.2"), "westeurope")
    cases = [
        ([], 400, "InvalidParameter"),  # a VM needs a NIC
        ([elsewhere.id], 400, "InvalidResourceReference"),
        ([nics[0].id.rsplit("/", 1)[0] + "/missing"], 400, "InvalidResourceReference"),
        ([nics[0].id, nics[1].id], 400, "NetworkInterfaceMustHavePrimaryPropertySet"),
        ([n.id for n in nics], 400, "NetworkProfileValidationError"),  # Standard_D2s_v3 takes 2
    ]
    for ids, status, code in cases:
        body = vm_body(disk.id, nic_ids=ids)
        if not ids:
            body["properties"]["networkProfile"] = {"networkInterfaces": []}  # type: ignore[index]
        with pytest.raises(HttpResponseError) as err:
            _create(clients, rg, body)
        assert (err.value.status_code, code_of(err)) == (status, code), ids
    # nothing was taken by the refused requests
    assert clients.compute.disks.get(rg, disk.name).disk_state == "Unattached"
    assert all(network.network_interfaces.get(rg, n.name).virtual_machine is None for n in nics)
    two = vm_body(disk.id, nic_ids=[nics[0].id, nics[1].id])
    two["properties"]["networkProfile"]["networkInterfaces"][1]["properties"] = {"primary": True}  # type: ignore[index]
    vm = _create(clients, rg, two)
    assert [r.primary for r in vm.network_profile.network_interfaces] == [False, True]  # type: ignore[attr-defined]


def test_update_swaps_nics(clients: Clients, network: NetworkManagementClient, rg: str) -> None:
    subnet = new_subnet(network, rg)
    first, second = new_nic(network, rg, subnet), new_nic(network, rg, subnet)
    disk = empty_disk(clients, rg)
    vm_name = name("vm")
    _create(clients, rg, vm_body(disk.id, nic_ids=[first.id]), vm_name)
    vm = _create(clients, rg, vm_body(disk.id, nic_ids=[second.id]), vm_name)
    assert [r.id for r in vm.network_profile.network_interfaces] == [second.id]  # type: ignore[attr-defined]
    assert network.network_interfaces.get(rg, first.name).virtual_machine is None
    assert network.network_interfaces.get(rg, second.name).virtual_machine.id == vm.id  # type: ignore[attr-defined]
