"""Microsoft.Network: virtual networks with subnets, network interfaces, public IPs.

What rebuilding a VM at a destination needs of a network, with Azure's rules and error
codes (sources in docs/emulator-network.md): a NIC's IP configuration references a subnet
(and optionally a public IP) in its own region; a NIC attached to a VM, a subnet holding
IP configurations and a public IP held by a NIC cannot be deleted.
"""

from __future__ import annotations

from diskferry.emulator.arm import ArmRouter


def register(router: ArmRouter) -> None:
    from diskferry.emulator.network import nics, publicips, vnets

    vnets.register(router)
    publicips.register(router)
    nics.register(router)
