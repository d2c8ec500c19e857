"""The network facade: subnets, NICs and public IPs, found or created, deleted as done."""

from __future__ import annotations

import pytest
from azure.mgmt.network import NetworkManagementClient

from diskferry.cloud import Cloud
from diskferry.errors import DiskFailed
from tests.conftest import Clients
from tests.emulator.network.helpers import new_subnet


def _nic_id(clients: Clients, rg: str, name: str) -> str:
    group = f"/subscriptions/{clients.subscription_id}/resourceGroups/{rg}"
    return f"{group}/providers/Microsoft.Network/networkInterfaces/{name}"


def test_find_subnet(cloud: Cloud, network: NetworkManagementClient, rg: str) -> None:
    subnet_id = new_subnet(network, rg)
    found = cloud.network.find_subnet(subnet_id)
    assert found is not None
    assert (found.id, found.name, found.location, found.address_prefix) == (
        subnet_id, "default", "francecentral", "10.1.0.0/24"
    )
    assert cloud.network.find_subnet(subnet_id.replace("/default", "/other")) is None
    assert cloud.network.find_subnet(subnet_id.replace("/virtualNetworks/", "/virtualNetworks/x")) is None


def test_ensure_nic_is_idempotent_and_delete_is_done_when_gone(
    cloud: Cloud, clients: Clients, network: NetworkManagementClient, rg: str
) -> None:
    subnet_id = new_subnet(network, rg)
    nic_id = _nic_id(clients, rg, "vm1-nic")
    tags = {"diskferry-job": "j1", "diskferry-role": "result"}
    made = cloud.network.ensure_nic(nic_id, location="francecentral", subnet_id=subnet_id, tags=tags)
    assert (made.subnet_id, made.private_ip, made.vm_id, made.tags) == (subnet_id, "10.1.0.4", None, tags)
    again = cloud.network.ensure_nic(nic_id, location="francecentral", subnet_id=subnet_id, tags=tags)
    assert again == made
    assert len(list(network.network_interfaces.list(rg))) == 1
    other = new_subnet(network, rg, prefix="10.3")
    with pytest.raises(DiskFailed) as err:
        cloud.network.ensure_nic(nic_id, location="francecentral", subnet_id=other, tags=tags)
    assert err.value.code == "NicExists"
    assert cloud.network.delete(nic_id) is True
    assert cloud.network.find_nic(nic_id) is None
    cloud.network.delete(nic_id)  # gone: Azure answers 204, done


def test_nic_with_a_public_ip(cloud: Cloud, clients: Clients, network: NetworkManagementClient, rg: str) -> None:
    subnet_id = new_subnet(network, rg)
    base = f"/subscriptions/{clients.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network"
    ip_id = cloud.network.ensure_public_ip(f"{base}/publicIPAddresses/vm1-ip", location="francecentral", tags={})
    assert cloud.network.ensure_public_ip(ip_id, location="francecentral", tags={}) == ip_id
    nic = cloud.network.ensure_nic(
        _nic_id(clients, rg, "vm1-nic"), location="francecentral", subnet_id=subnet_id, tags={}, public_ip_id=ip_id
    )
    assert nic.public_ip_id == ip_id
    with pytest.raises(DiskFailed) as err:  # held by the NIC
        cloud.network.delete(ip_id)
    assert err.value.code == "PublicIPAddressCannotBeDeleted"


def test_a_subnet_in_another_region_is_refused(
    cloud: Cloud, clients: Clients, network: NetworkManagementClient, rg: str
) -> None:
    subnet_id = new_subnet(network, rg, location="westeurope")
    with pytest.raises(DiskFailed) as err:
        cloud.network.ensure_nic(_nic_id(clients, rg, "n"), location="francecentral", subnet_id=subnet_id, tags={})
    assert err.value.code == "InvalidResourceReference"
    assert cloud.network.find_nic(_nic_id(clients, rg, "n")) is None
