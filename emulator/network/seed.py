"""Seeding a network per region, for the demo and the tests: a client of the local Azure like any other.

``seed_networks(env, regions)`` makes, in each region, resource group ``{prefix}-{region}``
with VNet ``vnet-{region}`` and subnet ``default`` (a /20 of a /16 chosen from the region's
name, so that two seeds agree; a /20 holds the NICs of 4,091 seeded VMs, a /24 only 251),
through the unchanged Network SDK; ``ensure_nic`` gives a seeded VM its NIC there. Both are
idempotent: run again, they find what they made.

The VM seeding (``diskferry.emulator.seed``) calls ``ensure_nic`` for each VM it creates and
puts the id in ``networkProfile`` (a VM needs a NIC, see docs/emulator-network.md).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import NetworkInterface, VirtualNetwork
from azure.mgmt.resource.resources import ResourceManagementClient

from diskferry.emulator.credential import ARM_SCOPE, env_credential

SUBNET = "default"


@dataclass(frozen=True)
class RegionNetwork:
    region: str
    resource_group: str
    vnet_id: str
    subnet_id: str


def address_space(region: str) -> str:
    """``10.N.0.0/16``, N from the region's name: stable across seeds and emulators."""
    return f"10.{zlib.crc32(region.encode()) % 250 + 1}.0.0/16"


def _clients(env: dict[str, str]) -> tuple[ResourceManagementClient, NetworkManagementClient]:
    credential, verify = env_credential(env)
    sub, url = env["AZURE_SUBSCRIPTION_ID"], env["DISKFERRY_ARM_ENDPOINT"]
    return (
        ResourceManagementClient(credential, sub, base_url=url, credential_scopes=[ARM_SCOPE], **verify),
        NetworkManagementClient(credential, sub, base_url=url, credential_scopes=[ARM_SCOPE], **verify),
    )


def seed_region(
    resource: ResourceManagementClient, network: NetworkManagementClient, region: str, prefix: str = "net"
) -> RegionNetwork:
    group = f"{prefix}-{region}"
    resource.resource_groups.create_or_update(group, {"location": region})
    space = address_space(region)
    body = {
        "location": region,
        "properties": {
            "addressSpace": {"addressPrefixes": [space]},
            "subnets": [{"name": SUBNET, "properties": {"addressPrefix": space.replace(".0.0/16", ".0.0/20")}}],
        },
    }
    vnet = network.virtual_networks.begin_create_or_update(group, f"vnet-{region}", VirtualNetwork(body)).result()
    return RegionNetwork(region, group, str(vnet.id), f"{vnet.id}/subnets/{SUBNET}")


def seed_networks(env: dict[str, str], regions: list[str], prefix: str = "net") -> dict[str, RegionNetwork]:
    """A VNet and subnet in each region (lower-cased, spaces removed), by region."""
    resource, network = _clients(env)
    try:
        wanted = sorted({r.replace(" ", "").lower() for r in regions})
        return {r: seed_region(resource, network, r, prefix) for r in wanted}
    finally:
        resource.close()
        network.close()


def ensure_nic(
    network: NetworkManagementClient, resource_group: str, name: str, where: RegionNetwork, tags: dict[str, str]
) -> str:
    """The id of NIC ``name`` in the region's subnet, made unless it exists (a re-PUT keeps its address)."""
    config = {"name": "ipconfig1", "properties": {"subnet": {"id": where.subnet_id}}}
    body = {"location": where.region, "tags": tags, "properties": {"ipConfigurations": [config]}}
    nic = network.network_interfaces.begin_create_or_update(resource_group, name, NetworkInterface(body)).result()
    return str(nic.id)
