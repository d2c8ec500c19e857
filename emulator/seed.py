"""Seeding: resource groups, VMs and images with disks of deterministic random data.

What to seed is a :class:`~diskferry.emulator.seedspec.SeedSpec`; the bytes come from
:mod:`diskferry.emulator.seeddata`; this module is the seeder.

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

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache, partial
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute import models as m
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.storage.blob import BlobClient

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.credential import ARM_SCOPE, env_credential
from diskferry.emulator.network.seed import RegionNetwork, ensure_nic, seed_region
from diskferry.emulator.seeddata import PAGE, layout, region_bytes
from diskferry.emulator.seedspec import DiskSpec, GroupSpec, ImageSpec, VmSpec

# what a caller of the seeder passes it, and what it raises: named here too
from diskferry.emulator.seedspec import SeedError as SeedError
from diskferry.emulator.seedspec import SeedSpec as SeedSpec
from diskferry.emulator.seedspec import demo_spec as demo_spec
from diskferry.emulator.vhd import make_footer

GIB = 1024**3
MIB = 1024**2
#: largest Put Page body Azure accepts
PUT_PAGE_MAX = 4 * MIB
#: how many disks of one VM or image are created and filled at once
PARALLEL_DISKS = 4
#: how many VMs are seeded at once
PARALLEL_VMS = 8
#: SAS lifetime asked for while filling a disk, seconds
WRITE_SAS_SECONDS = 3600


# ---------------------------------------------------------------------------------------
# the clients


@dataclass
class Azure:
    """The SDK clients a seed needs, built from ``azure.env`` values."""

    env: dict[str, str]
    resource: ResourceManagementClient
    compute: ComputeManagementClient
    network: NetworkManagementClient
    admin: AdminClient

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Azure:
        credential, verify = env_credential(env)
        sub = env["AZURE_SUBSCRIPTION_ID"]
        kw = {"base_url": env["DISKFERRY_ARM_ENDPOINT"], "credential_scopes": [ARM_SCOPE], **verify}
        return cls(
            env=env,
            resource=ResourceManagementClient(credential, sub, **kw),
            compute=ComputeManagementClient(credential, sub, **kw),
            network=NetworkManagementClient(credential, sub, **kw),
            admin=AdminClient.from_env(env),
        )

    def blob(self, sas_url: str) -> BlobClient:
        ca = self.env.get("REQUESTS_CA_BUNDLE")
        return BlobClient.from_blob_url(sas_url, connection_verify=ca or True)

    def close(self) -> None:
        self.resource.close()
        self.compute.close()
        self.network.close()
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
    #: an OS disk's security type (``TrustedLaunch``), None for a Standard one
    security_type: str | None = None


class Seeder:
    def __init__(self, azure: Azure, spec: SeedSpec, log: Callable[[str], None] = lambda _: None) -> None:
        self.azure = azure
        self.spec = spec
        self.log = log
        self._networks: dict[str, RegionNetwork] = {}

    def run(self) -> SeedResult:
        result = SeedResult()
        compute = self.azure.compute
        for group in self.spec.resource_groups:
            self.azure.resource.resource_groups.create_or_update(group.name, {"location": group.location})
            # VMs are independent: many at once, or a bulk benchmark's 1,000 VMs take minutes of
            # LRO round trips one after another (each VM's disks are filled in parallel too)
            result.items += self._parallel(partial(self._ensure_vm, group), list(group.vms), PARALLEL_VMS)
            for image in group.images:
                made = self._ensure(
                    "image", group, image.name, compute.images.get, partial(self._create_image, group, image)
                )
                result.items.append(made)
        return result

    def _ensure_vm(self, group: GroupSpec, vm: VmSpec) -> Seeded:
        return self._ensure("vm", group, vm.name, self.azure.compute.virtual_machines.get,
                            partial(self._create_vm, group, vm))

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

    def _region_network(self, location: str) -> RegionNetwork:
        """The seeded VNet of a region (``net-{region}``), made on first use."""
        where = location.replace(" ", "").lower()
        if where not in self._networks:
            self._networks[where] = seed_region(self.azure.resource, self.azure.network, where)
        return self._networks[where]

    def _create_vm(self, group: GroupSpec, vm: VmSpec) -> Any:
        disks = self._disks(group, vm, prefix=vm.name)
        self.log(f"vm {group.name}/{vm.name}: creating with {len(disks)} disks")
        # a VM needs a NIC (Azure's rule, which the local Azure enforces): one in the region's seeded subnet
        nic_id = ensure_nic(self.azure.network, group.name, f"{vm.name}-nic", self._region_network(group.location),
                            self.spec.tags)
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
                        encryption_settings=m.DiskEncryptionSettings(
                            enabled=True, disk_encryption_key=_ade_key(self.azure.env["AZURE_SUBSCRIPTION_ID"], group),
                        ) if vm.ade_on_vm else None,
                    ),
                    data_disks=[
                        m.DataDisk(lun=lun, create_option="Attach", managed_disk=m.ManagedDiskParameters(id=d.id))
                        for lun, d in zip(_luns(vm), disks[1:], strict=True)
                    ],
                ),
                network_profile=m.NetworkProfile(network_interfaces=[m.NetworkInterfaceReference(id=nic_id)]),
                security_profile=m.SecurityProfile(
                    security_type=vm.security_type,
                    uefi_settings=m.UefiSettings(secure_boot_enabled=True, v_tpm_enabled=True),
                ) if vm.security_type else None,
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
        wanted = [_Disk(group, f"{prefix}-osdisk", None, owner.os_disk, owner.os_type, owner.hyper_v_generation,
                        getattr(owner, "security_type", None))]
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
            des = self._encryption_set(want.group, want.spec.encryption_set) if want.spec.encryption_set else None
            body = m.Disk(
                location=want.group.location,
                tags=self.spec.tags,
                sku=m.DiskSku(name=want.spec.sku),
                properties=m.DiskProperties(
                    os_type=want.os_type,
                    hyper_v_generation=want.hyper_v_generation,
                    encryption=m.Encryption(type="EncryptionAtRestWithCustomerKey", disk_encryption_set_id=des)
                    if des else None,
                    encryption_settings_collection=_guest_encryption(
                        self.azure.env["AZURE_SUBSCRIPTION_ID"], want.group) if want.spec.guest_encrypted else None,
                    # Upload takes the VHD's length: the content plus its 512-byte footer; a Trusted
                    # Launch disk is uploaded with UploadPreparedSecure (Azure refuses its type with Upload)
                    creation_data=m.CreationData(create_option="UploadPreparedSecure" if want.security_type
                                                 else "Upload", upload_size_bytes=size + PAGE),
                    security_profile=m.DiskSecurityProfile(security_type=want.security_type)
                    if want.security_type else None,
                ),
            )
            disk = disks.begin_create_or_update(rg, want.name, body).result()
        if disk.properties and disk.properties.disk_state in ("ReadyToUpload", "ActiveUpload"):
            self.log(f"disk {rg}/{want.name}: filling {want.spec.size_gb} GiB nominal")
            self._fill(want, size)
            disk = disks.get(rg, want.name)
        return disk

    def _encryption_set(self, group: GroupSpec, name: str) -> str:
        """The id of the group's disk encryption set ``name``, made (with a key URL that names it)
        when absent."""
        sets = self.azure.compute.disk_encryption_sets
        try:
            return str(sets.get(group.name, name).id)
        except ResourceNotFoundError:
            body = m.DiskEncryptionSet(
                location=group.location, tags=self.spec.tags, identity=m.EncryptionSetIdentity(type="SystemAssigned"),
                properties=m.EncryptionSetProperties(
                    encryption_type="EncryptionAtRestWithCustomerKey",
                    active_key=m.KeyForDiskEncryptionSet(key_url=f"https://{group.name[:24]}.vault.azure.net/keys/{name}"),
                ),
            )
            return str(sets.begin_create_or_update(group.name, name, body).result().id)

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
    def _parallel(self, fn: Callable[[Any], Any], items: list[Any], width: int = PARALLEL_DISKS) -> list[Any]:
        _warm_models()
        with ThreadPoolExecutor(max_workers=min(width, max(1, len(items)))) as pool:
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


def _guest_encryption(sub: str, group: GroupSpec) -> Any:
    """What Azure Disk Encryption's extension records on a disk: the secret and key vault of its key."""
    return m.EncryptionSettingsCollection(enabled=True, encryption_settings_version="1.1", encryption_settings=[
        m.EncryptionSettingsElement(disk_encryption_key=m.KeyVaultAndSecretReference(
            source_vault=m.SourceVault(id=_ade_vault(sub, group)), secret_url=ADE_SECRET_URL))])


def _ade_key(sub: str, group: GroupSpec) -> Any:
    """What Azure Disk Encryption's first version records on a VM's OS disk entry: the same reference."""
    return m.KeyVaultSecretReference(source_vault=m.SubResource(id=_ade_vault(sub, group)), secret_url=ADE_SECRET_URL)


#: the secret that holds the seeded disks' volume key (a URL, not a secret)
ADE_SECRET_URL = "https://ade.vault.azure.net/secrets/disk/1"  # noqa: S105 - a URL, not a secret


def _ade_vault(sub: str, group: GroupSpec) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group.name}/providers/Microsoft.KeyVault/vaults/ade"


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


@cache
def _warm_models() -> None:
    """Build every compute model class's field map once, in one thread. azure-mgmt-compute builds
    it on a class's first instantiation (``model_base.Model.__new__``) while iterating the class's
    ``__dict__``, which that very build then changes: two threads making a class's first model at
    once fail with "dictionary changed size during iteration" (seen seeding 1,000 VMs)."""
    for name in dir(m):
        cls = getattr(m, name)
        if isinstance(cls, type) and hasattr(cls, "_calculated"):
            cls()
