"""Network interfaces and public IPs: subnet references, addresses, what blocks a delete."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient

from tests.emulator.compute.helpers import code_of, name
from tests.emulator.network.helpers import new_nic, new_subnet, nic_body


def test_nic_takes_addresses_from_its_subnet(network: NetworkManagementClient, rg: str) -> None:
    subnet_id = new_subnet(network, rg)
    first, second = new_nic(network, rg, subnet_id), new_nic(network, rg, subnet_id)
    # Azure keeps .0-.3 of every subnet
    assert [n.ip_configurations[0].private_ip_address for n in (first, second)] == ["10.1.0.4", "10.1.0.5"]
    config = first.ip_configurations[0]
    assert (config.subnet.id, config.primary, config.private_ip_allocation_method) == (subnet_id, True, "Dynamic")
    assert first.provisioning_state == "Succeeded" and first.virtual_machine is None
    again = network.network_interfaces.begin_create_or_update(rg, first.name, nic_body(subnet_id)).result()
    assert again.ip_configurations[0].private_ip_address == "10.1.0.4"  # a re-PUT keeps its address
    static = network.network_interfaces.begin_create_or_update(
        rg, name("nic"), nic_body(subnet_id, privateIPAllocationMethod="Static", privateIPAddress="10.1.0.50")
    ).result()
    assert static.ip_configurations[0].private_ip_address == "10.1.0.50"
    assert first.name in [n.name for n in network.network_interfaces.list(rg)]
    network.network_interfaces.begin_delete(rg, first.name).result()
    assert new_nic(network, rg, subnet_id).ip_configurations[0].private_ip_address == "10.1.0.4"  # freed


def test_subnet_must_exist_in_the_nic_region(network: NetworkManagementClient, rg: str) -> None:
    subnet_id = new_subnet(network, rg)
    nic_name = name("nic")
    for bad in (nic_body(subnet_id, location="westeurope"), nic_body(subnet_id.replace("/default", "/nope"))):
        with pytest.raises(HttpResponseError) as err:
            network.network_interfaces.begin_create_or_update(rg, nic_name, bad)
        assert (err.value.status_code, code_of(err)) == (400, "InvalidResourceReference")
        assert "both resources are in the same region" in str(err.value)
    with pytest.raises(ResourceNotFoundError):
        network.network_interfaces.get(rg, nic_name)
    assert not network.subnets.get(rg, subnet_id.split("/")[-3], "default").ip_configurations


def test_public_ip_is_held_by_one_nic(network: NetworkManagementClient, rg: str) -> None:
    subnet_id = new_subnet(network, rg)
    pip = network.public_ip_addresses.begin_create_or_update(
        rg, name("pip"), {"location": "francecentral", "sku": {"name": "Standard"}}
    ).result()
    assert pip.ip_address and pip.public_ip_allocation_method == "Static" and pip.ip_configuration is None
    nic = network.network_interfaces.begin_create_or_update(
        rg, name("nic"), nic_body(subnet_id, publicIPAddress={"id": pip.id})
    ).result()
    held = network.public_ip_addresses.get(rg, pip.name).ip_configuration
    assert held.id == nic.ip_configurations[0].id
    with pytest.raises(HttpResponseError) as err:
        network.network_interfaces.begin_create_or_update(
            rg, name("nic"), nic_body(subnet_id, publicIPAddress={"id": pip.id})
        )
    assert (err.value.status_code, code_of(err)) == (400, "PublicIPAddressInUse")
    with pytest.raises(HttpResponseError) as err:
        network.public_ip_addresses.begin_delete(rg, pip.name)
    assert (err.value.status_code, code_of(err)) == (400, "PublicIPAddressCannotBeDeleted")
    network.network_interfaces.begin_create_or_update(rg, nic.name, nic_body(subnet_id)).result()  # drops the IP
    assert network.public_ip_addresses.get(rg, pip.name).ip_configuration is None
    network.public_ip_addresses.begin_delete(rg, pip.name).result()
    with pytest.raises(ResourceNotFoundError):
        network.public_ip_addresses.get(rg, pip.name)


def test_public_ip_zones_need_a_zonal_region(network: NetworkManagementClient, rg: str) -> None:
    redundant = network.public_ip_addresses.begin_create_or_update(
        rg, name("pip"), {"location": "francecentral", "sku": {"name": "Standard"}, "zones": ["1", "2", "3"]}
    ).result()
    assert redundant.zones == ["1", "2", "3"]
    with pytest.raises(HttpResponseError) as err:
        network.public_ip_addresses.begin_create_or_update(
            rg, name("pip"), {"location": "westus", "sku": {"name": "Standard"}, "zones": ["1"]}
        )
    assert (err.value.status_code, code_of(err)) == (400, "LocationNotSupportAvailabilityZones")
