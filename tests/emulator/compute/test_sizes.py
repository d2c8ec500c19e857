"""VM sizes per region and zone: the two list APIs and the checks of a VM PUT."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from tests.conftest import Clients
from tests.emulator.compute.helpers import code_of, empty_disk, name, vm_body, vm_nic


def _zonal_disk(clients: Clients, rg: str, location: str, zone: str | None, sku: str = "Premium_LRS") -> Any:
    body: dict[str, Any] = {
        "location": location,
        "sku": {"name": sku},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1},
    }
    if zone:
        body["zones"] = [zone]
    return clients.compute.disks.begin_create_or_update(rg, name("disk"), body).result()


def _vm(clients: Clients, rg: str, disk_id: str, location: str, size: str, zone: str | None = None) -> Any:
    body = vm_body(disk_id, location=location, nic_ids=[vm_nic(clients, rg, location)])
    body["properties"]["hardwareProfile"] = {"vmSize": size}
    if zone:
        body["zones"] = [zone]
    return clients.compute.virtual_machines.begin_create_or_update(rg, name("vm"), body).result()


def test_resource_skus_give_zones_and_restrictions(clients: Clients) -> None:
    skus = list(clients.compute.resource_skus.list(filter="location eq 'eastus'"))
    by_name = {s.name: s for s in skus}
    assert {s.resource_type for s in skus} == {"virtualMachines"}
    assert {"Standard_D2s_v3", "Standard_M64s"} <= set(by_name)
    d2 = by_name["Standard_D2s_v3"]
    assert d2.location_info[0].zones == ["1", "2", "3"]
    (restriction,) = d2.restrictions
    assert (restriction.type, restriction.restriction_info.zones) == ("Zone", ["3"])
    assert {c.name: c.value for c in d2.capabilities}["vCPUs"] == "2"
    westus = list(clients.compute.resource_skus.list(filter="location eq 'westus'"))
    assert westus and all(not s.location_info[0].zones for s in westus)


def test_vm_sizes_of_a_region(clients: Clients) -> None:
    france = {s.name: s for s in clients.compute.virtual_machine_sizes.list("francecentral")}
    assert "Standard_D2s_v5" in france and "Standard_M64s" not in france
    assert (france["Standard_D2s_v5"].number_of_cores, france["Standard_D2s_v5"].memory_in_mb) == (2, 8192)
    assert "Standard_M64s" in {s.name for s in clients.compute.virtual_machine_sizes.list("westeurope")}


@pytest.mark.parametrize(
    ("location", "size", "zone", "status", "code"),
    [
        ("francecentral", "Standard_M64s", None, 400, "InvalidParameter"),  # not offered in the region
        ("francecentral", "Standard_Bogus", None, 400, "InvalidParameter"),
        ("eastus", "Standard_D2s_v3", "3", 409, "SkuNotAvailable"),  # not in that zone
        ("westus", "Standard_D2s_v3", "1", 400, "LocationNotSupportAvailabilityZones"),
        ("eastus", "Standard_D2s_v3", "4", 400, "InvalidAvailabilityZone"),
    ],
)
def test_size_and_zone_checks(
    clients: Clients, rg: str, location: str, size: str, zone: str | None, status: int, code: str
) -> None:
    disk = _zonal_disk(clients, rg, location, zone if zone in ("1", "2", "3") and location == "eastus" else None)
    with pytest.raises(HttpResponseError) as err:
        _vm(clients, rg, disk.id, location, size, zone)
    assert (err.value.status_code, code_of(err)) == (status, code)
    assert clients.compute.disks.get(rg, disk.name).disk_state == "Unattached"


def test_zonal_vm_takes_disks_of_its_zone(clients: Clients, rg: str) -> None:
    regional = empty_disk(clients, rg, location="eastus")
    with pytest.raises(HttpResponseError) as err:
        _vm(clients, rg, regional.id, "eastus", "Standard_D2s_v3", "1")
    assert (err.value.status_code, code_of(err)) == (400, "BadRequest")
    assert "is not in zone '1'" in str(err.value)
    other = _zonal_disk(clients, rg, "eastus", "2")
    with pytest.raises(HttpResponseError) as err:
        _vm(clients, rg, other.id, "eastus", "Standard_D2s_v3", "1")
    assert "VM zone: '1'. Disk zone: '2'." in str(err.value)
    vm = _vm(clients, rg, _zonal_disk(clients, rg, "eastus", "1").id, "eastus", "Standard_D2s_v3", "1")
    assert vm.zones == ["1"] and vm.hardware_profile.vm_size == "Standard_D2s_v3"
    zrs = _zonal_disk(clients, rg, "eastus", None, sku="Premium_ZRS")
    assert _vm(clients, rg, zrs.id, "eastus", "Standard_D2s_v3", "2").zones == ["2"]
