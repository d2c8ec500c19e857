"""The only place that imports the Azure SDKs: a small typed facade in diskferry's words.

``Cloud(settings)`` gives ``cloud.compute`` (VMs, disks, snapshots, images, grants) and
``cloud.storage`` (resource groups, staging accounts, blobs and Copy Blob). Every SDK error
leaves it as a :mod:`diskferry.errors` error carrying Azure's code and message.
"""

from diskferry.cloud.facade import Cloud
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
