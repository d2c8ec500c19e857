"""Seeding: resource groups, VMs and images with disks of deterministic random data.

A client of the local Azure like any other: it reads ``azure.env`` and drives the emulator
through the unchanged SDKs (``ClientSecretCredential``, azure-mgmt-resource/compute,
azure-storage-blob), then asks the admin API for each disk's hash. Each disk is created
with ``createOption: Upload``, filled through its Write SAS (a few MiB in a few regions —
the first MiB, the last MiB, some in between — so a nominal 1 TiB disk costs MiB) and
closed with ``endGetAccess``. VMs attach their disks and start; images are built from
snapshots of seeded disks; the source disks are then deleted, and the snapshots too
unless the image keeps them (``keep_snapshots``, as the demo's golden images do).

The bytes depend only on (seed, resource group, disk name): two seeds of the same spec
in two fresh emulators give disks with equal hashes. Seeding is idempotent where that is
cheap: what exists is kept, a disk left half-uploaded is filled again.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.storage.blob import BlobClient
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.vhd import make_footer

GIB = 1024**3
MIB = 1024**2
PAGE = 512
#: largest Put Page body Azure accepts
PUT_PAGE_MAX = 4 * MIB
ARM_SCOPE = "https://management.azure.com/.default"
#: Azure's managed-disk size limit
MAX_DISK_GIB = 32767
#: how many disks are created and filled at once
PARALLEL_DISKS = 4
#: SAS lifetime asked for while filling a disk, seconds
WRITE_SAS_SECONDS = 3600


class SeedError(Exception):
    """Seeding could not be done as asked (bad spec, or Azure refused a step)."""


# ---------------------------------------------------------------------------------------
# the spec


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


# ---------------------------------------------------------------------------------------
# the data


def layout(seed: int, group: str, disk: str, size: int, data_bytes: int, regions: int) -> list[tuple[int, int]]:
    """Where a disk's random data goes: sorted, disjoint, page-aligned ``(offset, length)``.

    The first region starts at 0 (where a boot sector lives) and the last ends at the end
    of the disk, so exports and copies must get both edges right.
    """
    rng = _rng(seed, group, disk, "layout")
    regions = max(1, min(regions, data_bytes // PAGE))
    slot = size // regions // PAGE * PAGE  # each region in its own slot: they never overlap
    pages = min(data_bytes, slot * regions) // PAGE
    out = []
    for i in range(regions):
        # the pages split as evenly as they go: the lengths add up to exactly data_bytes
        length = (pages // regions + (1 if i < pages % regions else 0)) * PAGE
        if i == 0:
            offset = 0
        elif i == regions - 1:
            offset = size - length
        else:
            offset = i * slot + rng.randrange(0, max(1, (slot - length) // PAGE + 1)) * PAGE
        out.append((offset, length))
    return out


def region_bytes(seed: int, group: str, disk: str, offset: int, length: int) -> bytes:
    return _rng(seed, group, disk, str(offset)).randbytes(length)


def _rng(seed: int, group: str, disk: str, what: str) -> random.Random:
    # a str seed is hashed with SHA-512 by random.Random: stable across runs and versions
    return random.Random(f"{seed}/{group.lower()}/{disk.lower()}/{what}")


# ---------------------------------------------------------------------------------------
# the clients


@dataclass
class Azure:
    """The SDK clients a seed needs, built from ``azure.env`` values."""

    env: dict[str, str]
    resource: ResourceManagementClient
    compute: ComputeManagementClient
    admin: AdminClient

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Azure:
        ca = env.get("REQUESTS_CA_BUNDLE")
        verify: dict[str, Any] = {"connection_verify": ca} if ca else {}
        credential = ClientSecretCredential(
            env["AZURE_TENANT_ID"],
            env["AZURE_CLIENT_ID"],
            env["AZURE_CLIENT_SECRET"],
            authority=env["AZURE_AUTHORITY_HOST"],
            disable_instance_discovery=True,
            **verify,
        )
        sub = env["AZURE_SUBSCRIPTION_ID"]
        kw = {"base_url": env["DISKFERRY_ARM_ENDPOINT"], "credential_scopes": [ARM_SCOPE], **verify}
        return cls(
            env=env,
            resource=ResourceManagementClient(credential, sub, **kw),
            compute=ComputeManagementClient(credential, sub, **kw),
            admin=AdminClient.from_env(env),
        )

    def blob(self, sas_url: str) -> BlobClient:
        ca = self.env.get("REQUESTS_CA_BUNDLE")
        return BlobClient.from_blob_url(sas_url, connection_verify=ca or True)

    def close(self) -> None:
        self.resource.close()
        self.compute.close()
        self.admin.close()


# ---------------------------------------------------------------------------------------
# the result


@dataclass
class SeededDisk:
    #: the disk's name; for an image's disk, ``{image}/os`` or ``{image}/lun{n}``
    name: str
    #: the disk's id; for an image's disk, the id of the snapshot it was built from
    id: str
    #: None for an OS disk
    lun: int | None
    size_gb: int
    sha256: str
    allocated: int


@dataclass
class Seeded:
    """A seeded VM or image and its disks (OS first, then data disks by LUN)."""

    kind: str
    name: str
    id: str
    resource_group: str
    location: str
    created: bool
    disks: list[SeededDisk] = field(default_factory=list)


@dataclass
class SeedResult:
    items: list[Seeded] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"items": [asdict(i) for i in self.items]}


# ---------------------------------------------------------------------------------------
# seeding


@dataclass
class _Disk:
    """One disk to seed: where it goes and what it holds."""

    group: GroupSpec
    name: str
    lun: int | None
    spec: DiskSpec
    os_type: str | None
    hyper_v_generation: str


class Seeder:
    def __init__(self, azure: Azure, spec: SeedSpec, log: Callable[[str], None] = lambda _: None) -> None:
        self.azure = azure
        self.spec = spec
        self.log = log

    def run(self) -> SeedResult:
        result = SeedResult()
        compute = self.azure.compute
        for group in self.spec.resource_groups:
            self.azure.resource.resource_groups.create_or_update(group.name, {"location": group.location})
            for vm in group.vms:
                made = self._ensure(
                    "vm", group, vm.name, compute.virtual_machines.get, partial(self._create_vm, group, vm)
                )
                result.items.append(made)
            for image in group.images:
                made = self._ensure(
                    "image", group, image.name, compute.images.get, partial(self._create_image, group, image)
                )
                result.items.append(made)
        return result

    def _ensure(
        self, kind: str, group: GroupSpec, name: str, get: Callable[[str, str], Any], create: Callable[[], Any]
    ) -> Seeded:
        """The VM or image, made by ``create`` unless it exists (then kept as it is)."""
        try:
            made, created = get(group.name, name), False
            self.log(f"{kind} {group.name}/{name}: exists, kept")
        except ResourceNotFoundError:
            made, created = create(), True
        return self._describe(kind, group, made, created, _vm_disks(made) if kind == "vm" else _image_disks(made))

    def _create_vm(self, group: GroupSpec, vm: VmSpec) -> Any:
        disks = self._disks(group, vm, prefix=vm.name)
        self.log(f"vm {group.name}/{vm.name}: creating with {len(disks)} disks")
        body = m.VirtualMachine(
            location=group.location,
            tags=self.spec.tags,
            properties=m.VirtualMachineProperties(
                hardware_profile=m.HardwareProfile(vm_size=vm.vm_size),
                storage_profile=m.StorageProfile(
                    os_disk=m.OSDisk(
                        os_type=vm.os_type,
                        create_option="Attach",
                        managed_disk=m.ManagedDiskParameters(id=disks[0].id),
                    ),
                    data_disks=[
                        m.DataDisk(lun=lun, create_option="Attach", managed_disk=m.ManagedDiskParameters(id=d.id))
                        for lun, d in zip(_luns(vm), disks[1:], strict=True)
                    ],
                ),
            ),
        )
        # a VM that is created runs: its disks become Attached
        return self.azure.compute.virtual_machines.begin_create_or_update(group.name, vm.name, body).result()

    def _create_image(self, group: GroupSpec, image: ImageSpec) -> Any:
        compute = self.azure.compute
        disks = self._disks(group, image, prefix=f"{image.name}-src")
        self.log(f"image {group.name}/{image.name}: snapshotting {len(disks)} disks")
        snaps = self._parallel(lambda d: self._snapshot(group, d), disks)
        body = m.Image(
            location=group.location,
            tags=self.spec.tags,
            properties=m.ImageProperties(
                hyper_v_generation=image.hyper_v_generation,
                storage_profile=m.ImageStorageProfile(
                    os_disk=m.ImageOSDisk(
                        os_type=image.os_type,
                        os_state="Generalized",
                        snapshot=m.SubResource(id=snaps[0].id),
                        storage_account_type=image.os_disk.sku,
                    ),
                    data_disks=[
                        m.ImageDataDisk(lun=lun, snapshot=m.SubResource(id=s.id), storage_account_type=d.sku)
                        for lun, d, s in zip(_luns(image), _data_disks(image), snaps[1:], strict=True)
                    ],
                ),
            ),
        )
        made = compute.images.begin_create_or_update(group.name, image.name, body).result()
        # the image holds its own copy: the source disks (and, unless kept, the snapshots)
        # were scaffolding
        if not image.keep_snapshots:
            self._parallel(lambda s: compute.snapshots.begin_delete(group.name, s.name).result(), snaps)
        self._parallel(lambda d: compute.disks.begin_delete(group.name, d.name).result(), disks)
        return made

    def _snapshot(self, group: GroupSpec, disk: Any) -> Any:
        name = disk.name.replace("-src-", "-snap-", 1)
        body = m.Snapshot(
            location=group.location,
            tags=self.spec.tags,
            properties=m.SnapshotProperties(
                incremental=False,
                creation_data=m.CreationData(create_option="Copy", source_resource_id=disk.id),
            ),
        )
        return self.azure.compute.snapshots.begin_create_or_update(group.name, name, body).result()

    # -- disks ----------------------------------------------------------------------------
    def _disks(self, group: GroupSpec, owner: VmSpec | ImageSpec, prefix: str) -> list[Any]:
        """Create and fill an owner's disks (OS first, then data disks by LUN)."""
        wanted = [_Disk(group, f"{prefix}-osdisk", None, owner.os_disk, owner.os_type, owner.hyper_v_generation)]
        wanted += [
            _Disk(group, f"{prefix}-data{lun}", lun, d, None, owner.hyper_v_generation)
            for lun, d in zip(_luns(owner), _data_disks(owner), strict=True)
        ]
        return self._parallel(self._disk, wanted)

    def _disk(self, want: _Disk) -> Any:
        disks = self.azure.compute.disks
        rg = want.group.name
        size = want.spec.size_gb * GIB
        try:
            disk = disks.get(rg, want.name)
        except ResourceNotFoundError:
            body = m.Disk(
                location=want.group.location,
                tags=self.spec.tags,
                sku=m.DiskSku(name=want.spec.sku),
                properties=m.DiskProperties(
                    os_type=want.os_type,
                    hyper_v_generation=want.hyper_v_generation,
                    # Upload takes the VHD's length: the content plus its 512-byte footer
                    creation_data=m.CreationData(create_option="Upload", upload_size_bytes=size + PAGE),
                ),
            )
            disk = disks.begin_create_or_update(rg, want.name, body).result()
        if disk.properties and disk.properties.disk_state in ("ReadyToUpload", "ActiveUpload"):
            self.log(f"disk {rg}/{want.name}: filling {want.spec.size_gb} GiB nominal")
            self._fill(want, size)
            disk = disks.get(rg, want.name)
        return disk

    def _fill(self, want: _Disk, size: int) -> None:
        rg = want.group.name
        with self._write_access(rg, want.name) as sas_url:
            blob = self.azure.blob(sas_url)
            try:
                spec = self.spec
                data_bytes = int(spec.data_mib * MIB) // PAGE * PAGE
                for offset, length in layout(spec.seed, rg, want.name, size, data_bytes, spec.regions):
                    data = region_bytes(spec.seed, rg, want.name, offset, length)
                    for pos in range(0, length, PUT_PAGE_MAX):
                        chunk = data[pos : pos + PUT_PAGE_MAX]
                        blob.upload_page(chunk, offset + pos, len(chunk))
                # an uploaded VHD ends with its footer, as AzCopy writes it
                blob.upload_page(make_footer(size), size, PAGE)
            finally:
                blob.close()

    @contextmanager
    def _write_access(self, rg: str, name: str) -> Iterator[str]:
        disks = self.azure.compute.disks
        grant = disks.begin_grant_access(
            rg, name, m.GrantAccessData(access="Write", duration_in_seconds=WRITE_SAS_SECONDS)
        )
        sas_url = grant.result().access_sas
        if not sas_url:
            raise SeedError(f"disk {rg}/{name}: beginGetAccess (Write) gave no SAS")
        try:
            yield sas_url
        finally:
            disks.begin_revoke_access(rg, name).result()

    # -- helpers --------------------------------------------------------------------------
    def _parallel(self, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        with ThreadPoolExecutor(max_workers=min(PARALLEL_DISKS, max(1, len(items)))) as pool:
            return list(pool.map(fn, items))

    def _describe(
        self, kind: str, group: GroupSpec, made: Any, created: bool, disks: list[tuple[int | None, str]]
    ) -> Seeded:
        """The summary of a VM or image, with each disk's hash from the admin API."""
        seeded = Seeded(kind, made.name, made.id, group.name, made.location, created)
        by_lun = {d["lun"]: d for d in self.azure.admin.hash(made.id)["disks"]} if kind == "image" else {}
        for lun, disk_id in disks:
            if kind == "image":
                name, h = f"{made.name}/{'os' if lun is None else f'lun{lun}'}", by_lun[lun]
            else:
                name, h = disk_id.rsplit("/", 1)[-1], self.azure.admin.hash(disk_id)
            seeded.disks.append(SeededDisk(name, disk_id, lun, h["size"] // GIB, h["sha256"], h["allocated"]))
        return seeded


def _data_disks(owner: VmSpec | ImageSpec) -> list[DiskSpec]:
    """Data disks by LUN."""
    return sorted(owner.data_disks, key=lambda d: d.lun or 0)


def _luns(owner: VmSpec | ImageSpec) -> list[int]:
    return [d.lun or 0 for d in _data_disks(owner)]


def _vm_disks(vm: Any) -> list[tuple[int | None, str]]:
    profile = vm.storage_profile
    out: list[tuple[int | None, str]] = [(None, profile.os_disk.managed_disk.id)]
    out += sorted((d.lun, d.managed_disk.id) for d in profile.data_disks or [])
    return out


def _image_disks(image: Any) -> list[tuple[int | None, str]]:
    """(lun, source id) of an image's disks, OS first."""
    profile = image.storage_profile

    def source(d: Any) -> str:
        ref = d.snapshot or d.managed_disk
        return str(ref.id if ref else d.blob_uri)

    out: list[tuple[int | None, str]] = [(None, source(profile.os_disk))]
    out += sorted((d.lun, source(d)) for d in profile.data_disks or [])
    return out


def seed(env: dict[str, str], spec: SeedSpec, log: Callable[[str], None] = lambda _: None) -> SeedResult:
    """Seed the emulator that ``env`` (the values of its ``azure.env``) points at."""
    azure = Azure.from_env(env)
    try:
        return Seeder(azure, spec, log).run()
    finally:
        azure.close()
