"""What to seed: the spec (resource groups, VMs, images and their disks) as pydantic
models, read from YAML or JSON or given as flags, and the demo's spec.

Sizes are whole GiB, written ``32``, ``32GiB`` or ``1TiB``; a spec that Azure would refuse
(a disk beyond 32 767 GiB, repeated LUNs) is refused here, before anything is created.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Azure's managed-disk size limit
MAX_DISK_GIB = 32767


class SeedError(Exception):
    """Seeding could not be done as asked (bad spec, or Azure refused a step)."""


def parse_size_gib(value: object) -> int:
    """Whole GiB from ``32``, ``"32"``, ``"32G"``, ``"32GiB"``, ``"1T"`` or ``"1TiB"``."""
    if isinstance(value, bool):
        raise ValueError(f"not a disk size: {value!r}")
    if isinstance(value, int):
        gib = value
    else:
        m = re.fullmatch(r"\s*(\d+)\s*(g|gb|gib|t|tb|tib)?\s*", str(value), re.IGNORECASE)
        if not m:
            raise ValueError(f"not a disk size: {value!r} (use e.g. 32, 32GiB or 1TiB)")
        gib = int(m[1]) * (1024 if (m[2] or "g").lower().startswith("t") else 1)
    if not 1 <= gib <= MAX_DISK_GIB:
        raise ValueError(f"disk size {gib} GiB is outside 1..{MAX_DISK_GIB} GiB")
    return gib


class DiskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size_gb: int
    #: data disks only; defaults to the disk's position in the list
    lun: int | None = Field(default=None, ge=0, le=63)
    sku: str = "Standard_LRS"
    #: a disk encryption set in the disk's group (made when absent): the disk is under its
    #: customer-managed key
    encryption_set: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,80}$")
    #: Azure Disk Encryption's settings on the disk (BitLocker or DM-Crypt in the guest): only
    #: the settings, as the extension leaves them; the bytes are not encrypted
    guest_encrypted: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_size(cls, value: Any) -> Any:
        # a bare size is the short form: `data_disks: [1TiB, 32]`
        return {"size_gb": value} if isinstance(value, int | str) else value

    @field_validator("size_gb", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size_gib(value)


class _WithDisks(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    os_disk: DiskSpec
    data_disks: list[DiskSpec] = Field(default_factory=list)
    os_type: str = Field(default="Linux", pattern="^(Linux|Windows)$")
    hyper_v_generation: str = Field(default="V2", pattern="^V[12]$")

    @model_validator(mode="after")
    def _luns(self) -> _WithDisks:
        for i, disk in enumerate(self.data_disks):
            if disk.lun is None:
                disk.lun = i
        luns = [d.lun for d in self.data_disks]
        if len(set(luns)) != len(luns):
            raise ValueError(f"{self.name}: data disk LUNs repeat: {luns}")
        return self


class VmSpec(_WithDisks):
    vm_size: str = "Standard_D2s_v5"
    #: ``TrustedLaunch``: Secure Boot and a vTPM (a V2 VM); None: a Standard VM
    security_type: str | None = Field(default=None, pattern="^TrustedLaunch$")
    #: Azure Disk Encryption's first version ("dual pass", with an Azure AD application): its
    #: settings on the VM (``osDisk.encryptionSettings``), not on the disk; the bytes are not encrypted
    ade_on_vm: bool = False

    @model_validator(mode="after")
    def _generation_2(self) -> VmSpec:
        if self.security_type and self.hyper_v_generation != "V2":
            raise ValueError(f"{self.name}: a {self.security_type} VM is a Generation 2 VM (hyper_v_generation: V2)")
        return self


class ImageSpec(_WithDisks):
    #: keep the snapshots the image is built from, as image pipelines usually do; Azure
    #: cannot read an image's data back, so tools replicate an image from these sources
    keep_snapshots: bool = False


class GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    location: str
    vms: list[VmSpec] = Field(default_factory=list)
    images: list[ImageSpec] = Field(default_factory=list)

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        return value.replace(" ", "").lower()


class SeedSpec(BaseModel):
    """What to seed. One group may be written at the top level (``resource_group``,
    ``location``, ``vms``, ``images``) instead of under ``resource_groups``."""

    model_config = ConfigDict(extra="forbid")

    #: the PRNG seed of the data: same seed, same bytes
    seed: int = 1
    #: MiB of random data written per disk
    data_mib: float = Field(default=2.0, gt=0, le=256)
    #: how many separate regions the data is scattered into
    regions: int = Field(default=3, ge=1, le=64)
    #: tags put on every disk, VM, snapshot and image made
    tags: dict[str, str] = Field(default_factory=lambda: {"seeded-by": "diskferry-emulator"})
    resource_groups: list[GroupSpec]

    @model_validator(mode="before")
    @classmethod
    def _single_group(cls, value: Any) -> Any:
        if isinstance(value, dict) and "resource_group" in value:
            value = dict(value)
            group = {"name": value.pop("resource_group")}
            for key in ("location", "vms", "images"):
                if key in value:
                    group[key] = value.pop(key)
            value.setdefault("resource_groups", []).append(group)
        return value

    @classmethod
    def load(cls, path: Path) -> SeedSpec:
        return cls.model_validate(load_spec_data(path))


def load_spec_data(path: Path) -> dict[str, Any]:
    """The raw spec in a YAML or JSON file (JSON is YAML), not yet validated."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SeedError(f"cannot read the seed spec {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SeedError(f"the seed spec {path} is not a mapping")
    return data


DEMO_SPEC: dict[str, Any] = {
    "seed": 2024,
    "resource_group": "FranceCentral",
    "location": "francecentral",
    "vms": [
        {"name": "MASTER", "os_disk": 64, "data_disks": ["1TiB", 256, 32]},
        {"name": "web-1", "os_disk": 32, "data_disks": [128]},
        {"name": "db-1", "os_disk": 32, "data_disks": [512, 64]},
    ],
    "images": [
        {"name": "golden-ubuntu", "os_disk": 32, "data_disks": [64], "keep_snapshots": True},
        {
            "name": "app-base",
            "os_disk": 128,
            "os_type": "Windows",
            "data_disks": [{"size_gb": 32, "lun": 0}, {"size_gb": 256, "lun": 3}],
            "keep_snapshots": True,
        },
    ],
}


def demo_spec() -> SeedSpec:
    """francecentral / FranceCentral: 3 VMs (OS + 1 to 3 data disks, 32 GiB..1 TiB), 2 images."""
    return SeedSpec.model_validate(DEMO_SPEC)
