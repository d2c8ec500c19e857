"""Managed disks (Microsoft.Compute/disks): Empty, Upload, Copy and Import; attachment.

The calls themselves are those of every disk-like resource (``disklike``); this module
adds what only disks have: the Empty and Upload create options, the SKUs of managed
disks, and attachment to virtual machines (``managedBy``).
"""

from __future__ import annotations

from diskferry.emulator import clock
from diskferry.emulator.arm import ArmRouter
from diskferry.emulator.compute import disklike
from diskferry.emulator.compute.common import Doc, ResourceType
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, conflict

TYPE = ResourceType("disk", "disks")
#: SKU name -> tier
SKUS = {
    "Standard_LRS": "Standard",
    "Premium_LRS": "Premium",
    "StandardSSD_LRS": "Standard",
    "UltraSSD_LRS": "Ultra",
    "Premium_ZRS": "Premium",
    "StandardSSD_ZRS": "Standard",
    "PremiumV2_LRS": "Premium",
}
FLAVOR = disklike.Flavor(
    rt=TYPE,
    what="disk",
    skus=SKUS,
    default_sku="Standard_LRS",
    create_options=frozenset({"Empty", "Upload", "UploadPreparedSecure", "Copy", "Import"}),
)


def attach_blocker(disk: Doc, vm_id: str) -> AzureError | None:
    """Why Azure would refuse to attach this disk to ``vm_id`` now, or None."""
    owner = disk.get("managedBy")
    if owner and owner.lower() != vm_id.lower():
        return conflict(f"Disk {disk['name']} is already attached to VM {owner}.")
    state = disk["properties"].get("diskState")
    if state in ("ActiveSAS", "ReadyToUpload", "ActiveUpload"):
        return conflict(
            f"Disk {disk['name']} cannot be attached to VM {vm_id} while it is in the '{state}' state. "
            "Revoke its access (endGetAccess) first."
        )
    if disk["properties"].get("provisioningState") != "Succeeded":
        return conflict(f"Disk {disk['name']} is not ready: it is still being provisioned.")
    return None


def attach(emu: Emulator, disk: Doc, vm_id: str) -> None:
    if disk.get("managedBy") != vm_id:
        disk["managedBy"] = vm_id
        disk["properties"]["LastOwnershipUpdateTime"] = clock.iso()
    disklike.save(emu, disk)


def detach(emu: Emulator, disk: Doc) -> None:
    if disk.pop("managedBy", None) is not None:
        disk["properties"]["LastOwnershipUpdateTime"] = clock.iso()
    disklike.save(emu, disk)


def register(router: ArmRouter) -> None:
    disklike.register(router, FLAVOR)
