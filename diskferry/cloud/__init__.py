"""The only place that imports the Azure SDKs: a small typed facade in diskferry's words.

``Cloud(settings)`` gives ``cloud.compute`` (VMs, disks, snapshots, images, grants, sizes),
``cloud.network`` (subnets, NICs, public IPs) and ``cloud.storage`` (resource groups,
staging accounts, blobs and Copy Blob). Every SDK error
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
    NicInfo,
    ResourceId,
    SubnetInfo,
    VmInfo,
    VmSize,
)

__all__ = [
    "AccountInfo",
    "Cloud",
    "CopyState",
    "CopyStatus",
    "DiskInfo",
    "ImageDiskInfo",
    "ImageInfo",
    "NicInfo",
    "ResourceId",
    "SubnetInfo",
    "VmInfo",
    "VmSize",
]
