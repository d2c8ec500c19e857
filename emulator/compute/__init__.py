"""Microsoft.Resources (resource groups) and Microsoft.Compute: disks, snapshots, VMs, images."""

from __future__ import annotations

from emulator.arm import ArmRouter


def register(router: ArmRouter) -> None:
    from emulator.compute import resourcegroups

    resourcegroups.register(router)
    # disks, snapshots, virtual machines and images register here as they are built
