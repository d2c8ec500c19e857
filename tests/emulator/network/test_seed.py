"""Seeding a network per region: idempotent, in the right region, ready for NICs."""

from __future__ import annotations

import uuid

from azure.mgmt.network import NetworkManagementClient

from diskferry.emulator.network.seed import address_space, ensure_nic, seed_networks
from diskferry.emulator.testing import EmulatorProcess
from tests.conftest import Clients


def test_seed_networks_twice_gives_the_same_networks(
    emulator: EmulatorProcess, clients: Clients, network: NetworkManagementClient
) -> None:
    prefix = f"net{uuid.uuid4().hex[:6]}"
    first = seed_networks(emulator.env, ["West Europe", "brazilsouth"], prefix)
    assert seed_networks(emulator.env, ["westeurope", "brazilsouth"], prefix) == first
    try:
        we = first["westeurope"]
        vnet = network.virtual_networks.get(we.resource_group, "vnet-westeurope")
        assert (vnet.location, vnet.address_space.address_prefixes) == ("westeurope", [address_space("westeurope")])
        assert [s.id for s in vnet.subnets] == [we.subnet_id]
        nic_id = ensure_nic(network, we.resource_group, "vm1-nic", we, {"seed": "1"})
        assert ensure_nic(network, we.resource_group, "vm1-nic", we, {"seed": "1"}) == nic_id
        nic = network.network_interfaces.get(we.resource_group, "vm1-nic")
        assert (nic.location, nic.ip_configurations[0].subnet.id) == ("westeurope", we.subnet_id)
    finally:
        for where in first.values():
            clients.resource.resource_groups.begin_delete(where.resource_group).result()
