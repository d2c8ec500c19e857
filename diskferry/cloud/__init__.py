"""The only place that imports the Azure SDKs: a small typed facade in diskferry's words.

``Cloud(settings)`` gives ``cloud.compute`` (VMs, disks, snapshots, images, grants) and
``cloud.storage`` (resource groups, staging accounts, blobs and Copy Blob). Every SDK error
leaves it as a :mod:`diskferry.errors` error carrying Azure's code and message.
"""

from typing import TYPE_CHECKING, Any

from diskferry.cloud.types import (
    AccountInfo,
    CopyState,
    CopyStatus,
    DiskInfo,
    ImageDiskInfo,
    ImageInfo,
    ResourceId,
    VmInfo,
)

if TYPE_CHECKING:
    from diskferry.cloud.facade import Cloud


def __getattr__(name: str) -> Any:
    # the SDKs take over a second to import: only code that talks to Azure pays for them
    # (``diskferry status`` and ``watch`` read Redis only)
    if name == "Cloud":
        from diskferry.cloud.facade import Cloud

        return Cloud
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AccountInfo",
    "Cloud",
    "CopyState",
    "CopyStatus",
    "DiskInfo",
    "ImageDiskInfo",
    "ImageInfo",
    "ResourceId",
    "VmInfo",
]
