"""Per-region quotas of managed disks, refused as Compute refuses them.

Azure counts a subscription's managed disks per region and SKU family against quotas that
``az vm list-usage`` shows (``PremiumDiskCount``, ``StandardSSDDiskCount``, ...). A create
beyond the limit is refused at once, before any LRO, with ``409 OperationNotAllowed`` and a
message of this shape (the same one Compute gives for cores, e.g. Azure/karpenter-provider-azure
#192 and nforgeio/neonKUBE #1671):

    Operation could not be completed as it results in exceeding approved
    StandardDSv3Family Cores quota. Additional details - Deployment Model: Resource Manager,
    Location: eastus, Current Limit: 100, Current Usage: 96, Additional Required: 64,
    (Minimum) New Limit Required: 160. ...

The emulator counts all the subscription's disks of a region against one limit
(``Settings.disk_quota``, region -> count), named after the created disk's SKU family.
"""

from __future__ import annotations

from diskferry.emulator.compute.common import Doc
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError

#: the quota ``az vm list-usage`` names for each disk SKU family
_QUOTA_NAMES = {"premium": "PremiumDiskCount", "standardssd": "StandardSSDDiskCount",
                "ultrassd": "UltraSSDDiskCount"}


def quota_name(sku: str) -> str:
    family = sku.split("_", 1)[0].lower()
    return _QUOTA_NAMES.get(family.removesuffix("v2"), "StandardDiskCount")


def check_disk_quota(emu: Emulator, sub: str, location: str, sku: str) -> None:
    """Refuse one more disk in ``location`` when the subscription's quota there is used up."""
    limit = emu.faults.settings.disk_quota.get(location)
    if limit is None:
        return
    prefix = f"/subscriptions/{sub.lower()}/"
    usage = sum(1 for d in emu.store.values("disk") if _in(d, prefix, location))
    if usage + 1 <= limit:
        return
    raise AzureError(
        409,
        "OperationNotAllowed",
        f"Operation could not be completed as it results in exceeding approved {quota_name(sku)} quota. "
        f"Additional details - Deployment Model: Resource Manager, Location: {location}, Current Limit: {limit}, "
        f"Current Usage: {usage}, Additional Required: 1, (Minimum) New Limit Required: {usage + 1}. "
        "Submit a request for Quota increase at https://aka.ms/ProdportalCRP.",
    )


def _in(doc: Doc, prefix: str, location: str) -> bool:
    return str(doc["id"]).lower().startswith(prefix) and doc.get("location") == location
