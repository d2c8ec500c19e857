"""Virtual networks and subnets: address rules, subnets in use."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient

from tests.emulator.compute.helpers import LOCATION, code_of, name
from tests.emulator.network.helpers import new_nic, new_subnet


def _vnet(prefixes: list[str], subnets: dict[str, str]) -> dict[str, object]:
    return {
        "location": LOCATION,
        "properties": {
            "addressSpace": {"addressPrefixes": prefixes},
            "subnets": [{"name": n, "properties": {"addressPrefix": p}} for n, p in subnets.items()],
        },
    }


def test_create_get_list_and_subnet_calls(network: NetworkManagementClient, rg: str) -> None:
    vnet_name = name("vnet")
    made = network.virtual_networks.begin_create_or_update(
        rg, vnet_name, _vnet(["10.0.0.0/16"], {"a": "10.0.1.0/24"})
    ).result()
    assert made.provisioning_state == "Succeeded"
    assert made.address_space.address_prefixes == ["10.0.0.0/16"]
    assert [(s.name, s.address_prefix) for s in made.subnets] == [("a", "10.0.1.0/24")]
    assert made.subnets[0].id == f"{made.id}/subnets/a"
    body = {"properties": {"addressPrefix": "10.0.2.0/24"}}
    added = network.subnets.begin_create_or_update(rg, vnet_name, "b", body).result()
    assert (added.name, added.address_prefix, added.provisioning_state) == ("b", "10.0.2.0/24", "Succeeded")
    assert sorted(s.name for s in network.subnets.list(rg, vnet_name)) == ["a", "b"]
    assert network.subnets.get(rg, vnet_name, "b").id == added.id
    assert vnet_name in [v.name for v in network.virtual_networks.list(rg)]
    network.subnets.begin_delete(rg, vnet_name, "b").result()
    with pytest.raises(ResourceNotFoundError):
        network.subnets.get(rg, vnet_name, "b")
    network.virtual_networks.begin_delete(rg, vnet_name).result()
    with pytest.raises(ResourceNotFoundError):
        network.virtual_networks.get(rg, vnet_name)
    network.virtual_networks.begin_delete(rg, vnet_name).result()  # absent: done


@pytest.mark.parametrize(
    ("prefixes", "subnets", "code"),
    [
        (["10.0.0.0/16"], {"a": "10.9.0.0/24"}, "NetcfgSubnetRangeOutsideVnet"),
        (["10.0.0.0/16"], {"a": "10.0.1.0/24", "b": "10.0.1.128/25"}, "NetcfgSubnetRangesOverlap"),
        (["10.0.0.0/16"], {"a": "10.0.3.5/24"}, "InvalidCIDRNotation"),
        (["10.0.0.0/16"], {"a": "ten/24"}, "InvalidAddressPrefixFormat"),
    ],
)
def test_address_rules(
    network: NetworkManagementClient, rg: str, prefixes: list[str], subnets: dict[str, str], code: str
) -> None:
    vnet_name = name("vnet")
    with pytest.raises(HttpResponseError) as err:
        network.virtual_networks.begin_create_or_update(rg, vnet_name, _vnet(prefixes, subnets))
    assert (err.value.status_code, code_of(err)) == (400, code)
    with pytest.raises(ResourceNotFoundError):
        network.virtual_networks.get(rg, vnet_name)


def test_a_subnet_in_use_stays(network: NetworkManagementClient, rg: str) -> None:
    subnet_id = new_subnet(network, rg)
    vnet_name = subnet_id.split("/")[-3]
    nic = new_nic(network, rg, subnet_id)
    assert network.subnets.get(rg, vnet_name, "default").ip_configurations[0].id == nic.ip_configurations[0].id
    for call in (
        lambda: network.subnets.begin_delete(rg, vnet_name, "default"),
        lambda: network.virtual_networks.begin_delete(rg, vnet_name),
        lambda: network.virtual_networks.begin_create_or_update(rg, vnet_name, _vnet(["10.1.0.0/16"], {})),
    ):
        with pytest.raises(HttpResponseError) as err:
            call()
        assert (err.value.status_code, code_of(err)) == (400, "InUseSubnetCannotBeDeleted")
        assert nic.ip_configurations[0].id in str(err.value)
    network.network_interfaces.begin_delete(rg, nic.name).result()
    assert not network.subnets.get(rg, vnet_name, "default").ip_configurations
    network.virtual_networks.begin_delete(rg, vnet_name).result()
