"""What a create or update body may say about a disk or snapshot: SKU, size, upload size,
and the properties stored as given; checked as DiskRP checks them."""

from __future__ import annotations

from diskferry.emulator.compute import common
from diskferry.emulator.compute.common import GIB, Doc, invalid, required
from diskferry.emulator.compute.disklike.resource import Flavor
from diskferry.emulator.errors import bad_request
from diskferry.emulator.vhd import FOOTER_SIZE, MIB

#: Upload size limits (content + footer), as DiskRP states them
MIN_UPLOAD = 20 * MIB + FOOTER_SIZE
MAX_UPLOAD = 32 * 1024 * GIB + FOOTER_SIZE
MAX_DISK_GB = 65536
#: properties the service computes: never taken from a request body
READ_ONLY = {
    "timeCreated", "diskSizeBytes", "uniqueId", "provisioningState", "diskState", "shareInfo",
    "burstingEnabledTime", "propertyUpdatesInProgress", "LastOwnershipUpdateTime",
    "incrementalSnapshotFamilyId", "snapshotAccessState", "immutabilityPolicy",
}
#: creationData fields that name what a resource was made from: fixed once created
FIXED_CREATION = ("createOption", "sourceResourceId", "sourceUri", "storageAccountId", "uploadSizeBytes")
#: canonical spelling of the create options (Azure takes any case)
CREATE_OPTIONS = {
    o.lower(): o
    for o in ("Empty", "Attach", "FromImage", "Import", "Copy", "Restore", "Upload", "CopyStart",
              "ImportSecure", "UploadPreparedSecure", "CopyFromSanSnapshot")
}


def checked_sku(flavor: Flavor, body: Doc) -> dict[str, str]:
    given = body.get("sku") or {}
    name = str(given.get("name") or flavor.default_sku)
    canonical = {k.lower(): k for k in flavor.skus}.get(name.lower())
    if canonical is None:
        raise invalid("sku.name", f"The value '{name}' of parameter 'sku.name' is invalid. Allowed values: "
                      f"{', '.join(flavor.skus)}.")
    return {"name": canonical, "tier": flavor.skus[canonical]}


def size_gb_given(props: Doc) -> int | None:
    value = props.get("diskSizeGB")
    if value is None:
        return None
    try:
        gb = int(value)
    except (TypeError, ValueError):
        raise invalid("diskSizeGB") from None
    if not 1 <= gb <= MAX_DISK_GB:
        raise invalid("diskSizeGB", f"The value {gb} of parameter 'diskSizeGB' is out of range (1-{MAX_DISK_GB}).")
    return gb


def final_size(name: str, source_bytes: int, gb: int | None) -> int:
    """The size of a copy or import: the source's, or larger when ``diskSizeGB`` asks."""
    if gb is None or gb * GIB <= source_bytes:
        if gb is not None and gb < common.size_gb(source_bytes):
            raise bad_request(
                f"The specified disk size {gb} GB is smaller than the size of the source "
                f"({common.size_gb(source_bytes)} GB) of disk {name}."
            )
        return source_bytes
    return gb * GIB


def upload_size(creation: Doc) -> int:
    raw = required(creation.get("uploadSizeBytes"), "uploadSizeBytes")
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise invalid("uploadSizeBytes") from None
    if not MIN_UPLOAD <= size <= MAX_UPLOAD:
        raise bad_request(
            f"The upload size in bytes {size} is not supported. It must be between {MIN_UPLOAD} bytes "
            f"(20 MiB + 512 bytes for the VHD footer) and {MAX_UPLOAD} bytes (32 TiB + 512 bytes for the VHD footer)."
        )
    if (size - FOOTER_SIZE) % MIB:
        raise bad_request(
            f"The upload size in bytes {size} - 512 bytes for the VHD footer ({size - FOOTER_SIZE} in this case) "
            "must be a multiple of MiB."
        )
    return size


def settable(props: Doc) -> Doc:
    """The properties of a request body that are stored as given."""
    computed = READ_ONLY | {"creationData", "diskSizeGB"}
    return {k: v for k, v in props.items() if k not in computed and v is not None}
