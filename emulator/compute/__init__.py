"""Microsoft.Resources (resource groups) and Microsoft.Compute: disks, snapshots, VMs, images,
availability sets, disk encryption sets and the VM sizes of each region."""

from __future__ import annotations

from diskferry.emulator.arm import ArmRouter


def register(router: ArmRouter) -> None:
    from diskferry.emulator.compute import (
        availabilitysets,
        disks,
        encryptionsets,
        images,
        resourcegroups,
        sizes,
        snapshots,
        vms,
    )

    resourcegroups.register(router)
    disks.register(router)
    snapshots.register(router)
    vms.register(router)
    images.register(router)
    availabilitysets.register(router)
    encryptionsets.register(router)
    sizes.register(router)
