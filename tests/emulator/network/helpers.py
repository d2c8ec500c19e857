"""Networks for tests: a VNet with a subnet, NICs in it, through the real Network SDK."""

from __future__ import annotations

from typing import Any

from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network import models as nm

from tests.emulator.compute.helpers import LOCATION, name


def new_subnet(network: NetworkManagementClient, rg: str, location: str = LOCATION, prefix: str = "10.1") -> str:
    """The id of subnet ``default`` (``{prefix}.0.0/24``) of a new VNet ``{prefix}.0.0/16``."""
    body = {
        "location": location,
        "properties": {
            "addressSpace": {"addressPrefixes": [f"{prefix}.0.0/16"]},
            "subnets": [{"name": "default", "properties": {"addressPrefix": f"{prefix}.0.0/24"}}],
        },
    }
    vnet = network.virtual_networks.begin_create_or_update(rg, name("vnet"), body).result()
    return str(vnet.subnets[0].id)


def nic_body(subnet_id: str, location: str = LOCATION, **config: Any) -> dict[str, Any]:
    props = {"subnet": {"id": subnet_id}, **config}
    return {"location": location, "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": props}]}}


def new_nic(network: NetworkManagementClient, rg: str, subnet_id: str, location: str = LOCATION) -> nm.NetworkInterface:
    return network.network_interfaces.begin_create_or_update(rg, name("nic"), nic_body(subnet_id, location)).result()
