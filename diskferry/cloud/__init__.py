"""The only place that imports the Azure SDKs: a small typed facade in diskferry's words.

``Cloud(settings.azure)`` gives ``cloud.compute`` (VMs, disks, snapshots, images, grants, sizes),
``cloud.network`` (subnets, NICs, public IPs) and ``cloud.storage`` (resource groups,
staging accounts, blobs and Copy Blob). Every SDK error
leaves it as a :mod:`diskferry.errors` error carrying Azure's code and message.

The types are plain dataclasses; ``Cloud`` (and with it the SDKs, a second of imports) is
loaded on first use, so that code that only speaks of resources (the CLI's ``status``,
``list``, ``--help``) never loads an SDK.
"""

from typing import TYPE_CHECKING, Any

from diskferry.cloud.types import (
    AccountInfo,
    CopyState,
    CopyStatus,
    DiskInfo,
    EncryptionSetInfo,
    ImageDiskInfo,
    ImageInfo,
    NicInfo,
    ResourceId,
    SubnetInfo,
    VmInfo,
    VmSize,
)

if TYPE_CHECKING:
    from diskferry.cloud.facade import Cloud

__all__ = [
    "AccountInfo",
    "Cloud",
    "CopyState",
    "CopyStatus",
    "DiskInfo",
    "EncryptionSetInfo",
    "ImageDiskInfo",
    "ImageInfo",
    "NicInfo",
    "ResourceId",
    "SubnetInfo",
    "VmInfo",
    "VmSize",
]


def __getattr__(name: str) -> Any:
    if name == "Cloud":
        from diskferry.cloud.facade import Cloud

        return Cloud
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
