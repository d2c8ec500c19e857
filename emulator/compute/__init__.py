"""Microsoft.Resources (resource groups) and Microsoft.Compute: disks, snapshots, VMs, images."""

from __future__ import annotations

from diskferry.emulator.arm import ArmRouter


def register(router: ArmRouter) -> None:
    from diskferry.emulator.compute import disks, images, resourcegroups, snapshots, vms

    resourcegroups.register(router)
    disks.register(router)
    snapshots.register(router)
    vms.register(router)
    images.register(router)
