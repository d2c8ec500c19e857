"""Availability sets: managed (Aligned) sets for managed disks, no zones, no delete while used."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.conftest import Clients
from tests.emulator.compute.helpers import LOCATION, code_of, empty_disk, name, vm_body, vm_nic


def _set(clients: Clients, rg: str, sku: str = "Aligned", **props: Any) -> Any:
    body = {"location": LOCATION, "sku": {"name": sku}, "properties": props}
    return clients.compute.availability_sets.create_or_update(rg, name("avset"), body)


def _vm_in(clients: Clients, rg: str, set_id: str, disk_id: str, **extra: Any) -> Any:
    body = {**vm_body(disk_id, nic_ids=[vm_nic(clients, rg)]), **extra}
    body["properties"]["availabilitySet"] = {"id": set_id}
    return clients.compute.virtual_machines.begin_create_or_update(rg, name("vm"), body).result()


def test_vm_joins_and_leaves_a_set(clients: Clients, rg: str) -> None:
    avset = _set(clients, rg, platformFaultDomainCount=2)
    assert (avset.sku.name, avset.platform_fault_domain_count, avset.platform_update_domain_count) == ("Aligned", 2, 5)
    vm = _vm_in(clients, rg, avset.id, empty_disk(clients, rg).id)
    assert vm.availability_set.id.lower() == avset.id.lower()
    assert [m.id for m in clients.compute.availability_sets.get(rg, avset.name).virtual_machines] == [vm.id]
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.availability_sets.delete(rg, avset.name)
    assert code_of(err) == "OperationNotAllowed"
    clients.compute.virtual_machines.begin_delete(rg, vm.name).result()
    assert not clients.compute.availability_sets.get(rg, avset.name).virtual_machines
    clients.compute.availability_sets.delete(rg, avset.name)
    with pytest.raises(ResourceNotFoundError):
        clients.compute.availability_sets.get(rg, avset.name)


def test_set_rules(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg)
    with pytest.raises(HttpResponseError) as err:
        _set(clients, rg, platformFaultDomainCount=7)
    assert (err.value.status_code, code_of(err)) == (400, "InvalidParameter")
    classic = _set(clients, rg, sku="Classic")
    aligned = _set(clients, rg)
    zonal: dict[str, Any] = {
        "location": LOCATION, "zones": ["1"], "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}
    }
    zonal_disk = clients.compute.disks.begin_create_or_update(rg, name("disk"), zonal).result()
    cases = [
        (classic.id, disk.id, {}, 400, "BadRequest"),  # managed disks need an Aligned set
        (aligned.id, disk.id, {"zones": ["1"]}, 400, "InvalidParameter"),  # a set excludes zones
        (aligned.id, zonal_disk.id, {}, 400, "BadRequest"),  # so does a zonal disk
        (aligned.id.replace(aligned.name, "missing"), disk.id, {}, 404, "NotFound"),
    ]
    for set_id, disk_id, extra, status, code in cases:
        with pytest.raises(HttpResponseError) as err:
            _vm_in(clients, rg, set_id, disk_id, **extra)
        assert (err.value.status_code, code_of(err)) == (status, code), set_id
    assert clients.compute.disks.get(rg, disk.name).disk_state == "Unattached"
    assert not clients.compute.availability_sets.get(rg, aligned.name).virtual_machines
