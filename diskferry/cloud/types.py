"""What the facade returns: plain, typed records (no SDK objects leak out)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"(?P<namespace>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ResourceId:
    """An ARM id split into its parts (``/subscriptions/S/resourceGroups/G/providers/N/T/X``)."""

    subscription_id: str
    resource_group: str
    namespace: str
    type: str
    name: str

    @classmethod
    def parse(cls, resource_id: str) -> ResourceId:
        m = _ID.match(resource_id)
        if m is None:
            raise ValueError(f"not an ARM resource id: {resource_id!r}")
        return cls(m["sub"], m["rg"], m["namespace"], m["type"], m["name"])

    def __str__(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{self.namespace}/{self.type}/{self.name}"
        )

    @property
    def is_snapshot(self) -> bool:
        return self.type.lower() == "snapshots"


@dataclass(frozen=True)
class DiskInfo:
    """A managed disk or a snapshot."""

    id: str
    name: str
    location: str
    size_bytes: int
    sku: str | None
    os_type: str | None = None
    hyper_v_generation: str | None = None
    zones: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    #: Unattached, Attached, Reserved, ActiveSAS, ...
    state: str | None = None
    managed_by: str | None = None
    #: Succeeded once made; Creating/Updating while an operation makes it; Failed
    provisioning_state: str | None = None
    #: a snapshot's ``snapshotAccessState``: ``Pending`` while a Premium SSD v2 or Ultra disk's
    #: snapshot is copied in the background (it cannot be exported or copied), then
    #: ``Available``; None where Azure gives none
    access_state: str | None = None
    #: how far that background copy is, in percent (``completionPercent``)
    completion_percent: float | None = None
    #: ``encryption.type`` (``EncryptionAtRestWithPlatformKey`` unless a customer-managed key)
    encryption_type: str | None = None
    #: the disk encryption set of a customer-managed key (``encryption.diskEncryptionSetId``)
    encryption_set: str | None = None
    #: Azure Disk Encryption (BitLocker or DM-Crypt inside the guest, its keys in a key vault):
    #: ``encryptionSettingsCollection.enabled``
    guest_encrypted: bool = False
    #: an OS disk's ``securityProfile.securityType`` (``TrustedLaunch``); None for a Standard disk
    security_type: str | None = None

    @property
    def usable(self) -> bool:
        """Whether the disk or snapshot can be exported or copied now: not a snapshot still copied
        in the background (``Pending``), nor one that only restores disks (``InstantAccess``)."""
        return self.access_state not in ("Pending", "InstantAccess")


@dataclass(frozen=True)
class EncryptionSetInfo:
    """A disk encryption set: the customer-managed key that disks in its region may be under."""

    id: str
    name: str
    location: str
    #: ``EncryptionAtRestWithCustomerKey``, ``EncryptionAtRestWithPlatformAndCustomerKeys`` or
    #: ``ConfidentialVmEncryptedWithCustomerKey``
    encryption_type: str


@dataclass(frozen=True)
class VmDisk:
    #: None for the OS disk
    lun: int | None
    disk_id: str
    caching: str | None


@dataclass(frozen=True)
class VmSecurity:
    """A VM's ``securityProfile``: its security type (``TrustedLaunch``) and UEFI settings."""

    type: str
    secure_boot: bool | None = None
    vtpm: bool | None = None

    @property
    def profile(self) -> dict[str, object]:
        uefi = {k: v for k, v in (("secureBootEnabled", self.secure_boot), ("vTpmEnabled", self.vtpm)) if v is not None}
        return {"securityType": self.type, **({"uefiSettings": uefi} if uefi else {})}


@dataclass(frozen=True)
class VmInfo:
    id: str
    name: str
    location: str
    #: running, deallocated, stopped, ... (from the instance view)
    power_state: str | None
    disks: tuple[VmDisk, ...]
    #: what rebuilding the VM elsewhere needs of it
    size: str | None = None
    zones: tuple[str, ...] = ()
    nic_ids: tuple[str, ...] = ()
    availability_set_id: str | None = None
    os_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    #: Creating, Succeeded, Failed, ... (a re-run that finds a VM still Creating waits on it)
    provisioning_state: str | None = None
    #: ``securityProfile.securityType``: TrustedLaunch, ConfidentialVM; None for a Standard VM
    security_type: str | None = None
    #: ``securityProfile.uefiSettings``: Secure Boot and the vTPM (None: not said)
    secure_boot: bool | None = None
    vtpm: bool | None = None
    #: Azure Disk Encryption's first version ("dual pass") is on: its settings are on the VM's OS
    #: disk entry (``osDisk.encryptionSettings``), not always on the disk
    guest_encrypted: bool = False


@dataclass(frozen=True)
class VmSize:
    """A VM size a region offers, and the zones it is offered in there (none: a regional size)."""

    name: str
    location: str
    zones: tuple[str, ...]
    vcpus: int | None
    memory_gib: float | None
    max_data_disks: int | None
    max_nics: int | None


@dataclass(frozen=True)
class NicInfo:
    """A network interface: its primary IP configuration's subnet and address, and its VM."""

    id: str
    name: str
    location: str
    subnet_id: str
    private_ip: str | None
    public_ip_id: str | None
    #: the VM that holds it (a NIC belongs to one VM at most)
    vm_id: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubnetInfo:
    id: str
    name: str
    location: str
    address_prefix: str


@dataclass(frozen=True)
class ImageDiskInfo:
    """One disk of a managed image's storage profile."""

    #: None for the OS disk
    lun: int | None
    #: the managed disk or snapshot the image was built from (None: a blob URI)
    source_id: str | None
    size_gb: int | None
    caching: str | None
    storage_account_type: str | None
    #: the disk encryption set of the image's copy of this disk (None: platform-managed keys)
    encryption_set: str | None = None


@dataclass(frozen=True)
class ImageInfo:
    id: str
    name: str
    location: str
    os_type: str
    os_state: str
    hyper_v_generation: str | None
    disks: tuple[ImageDiskInfo, ...]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountInfo:
    """A storage account (a staging account)."""

    id: str
    name: str
    resource_group: str
    location: str
    blob_endpoint: str
    tags: dict[str, str] = field(default_factory=dict)
    #: creation time: an account deleted and made again has other keys
    created: str | None = None
    #: False when the account refuses Shared Key (``allowSharedKeyAccess: false``): its blobs are
    #: reached with Microsoft Entra ID (``diskferry.cloud.storage``)
    shared_key: bool = True


class CopyState(StrEnum):
    pending = "pending"  #: bytes are still flowing
    success = "success"  #: the destination holds the whole source
    failed = "failed"  #: the copy stopped; ``description`` says why
    aborted = "aborted"  #: Abort Copy was called


@dataclass(frozen=True)
class CopyStatus:
    """A blob's copy state (``x-ms-copy-*``); never carries the source URL."""

    copy_id: str | None
    state: CopyState
    copied: int
    total: int
    description: str | None = None
    #: when Azure says the copy ended (``x-ms-copy-completion-time``; epoch seconds), once it has
    completed: float | None = None
