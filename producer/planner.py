"""Resolve a job file against Azure into a plan: the resolved job and every step it will take.

Planning only reads (VMs, images, disks, resource groups, storage accounts); it creates
nothing. ``plan`` shows the steps; ``submit`` stores the resolved job and enqueues it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from diskferry import naming
from diskferry.cloud import DiskInfo, ImageInfo, ResourceId, VmInfo, VmSize
from diskferry.cloud.index import ResourceIndex
from diskferry.config.settings import Settings
from diskferry.errors import DiskferryError, JobFailed, JobFileError, NotFound
from diskferry.model import (
    Disk,
    Encryption,
    ExportKind,
    Job,
    Options,
    Power,
    Source,
    SourceKind,
    StagingAccount,
    Target,
    VmRequest,
    normalize_region,
    same_region,
)
from diskferry.pipeline import layout
from diskferry.producer import validate
from diskferry.producer.jobfile import JobFile, SourceSpec, VmSpec

if TYPE_CHECKING:
    from diskferry.cloud import Cloud

T = TypeVar("T")

#: the planner's refusals: the job file asks for what cannot be done (bad input, unlike Azure
#: being unreachable or refusing diskferry's credentials)
REFUSALS = frozenset({
    "NoSubscription", "DuplicateSource", "DuplicateDestination", "UnsupportedImageSource", "UnmanagedDisk",
    "ImageSourceNotFound", "StagingAccountNotFound", "StagingAccountRegion",
    "SourceInUse",  # diskferry.claims: another running job holds the source
    "GuestEncrypted", "ConfidentialVm",
})
#: Azure's encryption types of a disk: platform-managed keys, and those under a disk encryption set
PLATFORM_KEY = "EncryptionAtRestWithPlatformKey"
CUSTOMER_KEYS = ("EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys")


@dataclass(frozen=True)
class Step:
    """One thing the job will do, in the order it happens for its pair."""

    #: deallocate, snapshot, grant, resource-group, staging-account, copy, clone, import,
    #: image, delete-disk, delete-staged, revoke, delete-snapshot, start-vm, delete-account
    action: str
    #: what it acts on or makes (a name)
    name: str
    region: str
    size_bytes: int | None = None
    source: str | None = None
    target: str | None = None
    detail: str = ""


@dataclass
class Plan:
    job: Job
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the VM sizes each target's region offers (looked up once per target)
    sizes: dict[str, dict[str, VmSize]] = field(default_factory=dict, repr=False)

    @property
    def total_bytes(self) -> int:
        return sum(s.size_bytes or 0 for s in self.steps if s.action in ("copy", "clone"))

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job.to_json(),
            "steps": [asdict(s) for s in self.steps],
            "warnings": list(self.warnings),
            "total_bytes": self.total_bytes,
        }


def make_plan(spec: JobFile, cloud: Cloud, settings: Settings, job_id: str | None = None) -> Plan:
    """Resolve ``spec``; raises JobFailed naming the source or target that cannot be resolved."""
    job_id = job_id or naming.new_job_id()
    options = Options(
        consistency=spec.options.consistency,
        name=spec.options.name,
        image_name=spec.options.image_name,
        image=spec.options.image_mode,
        keep_image_disks=spec.options.keep_image_disks,
        tags=dict(spec.options.tags),
    )
    #: this pass's reads, a resource group at a time; never kept for another job
    index = ResourceIndex(cloud.compute)
    #: a listed VM has no power state (Azure's list has no instance view): only a rebuilt VM
    #: that copies its source's state needs it, and then each VM is read alone
    powers = any(t.vm is not None and not t.vm.power for t in spec.targets)
    sources: list[Source] = []
    for i, source_spec in enumerate(spec.all_sources):
        where = "source" if spec.source is not None else f"sources[{i}]"
        sub = source_spec.subscription_id or settings.azure.subscription_id
        if not sub:
            raise JobFailed("NoSubscription", f"{where}.subscription_id: not given and AZURE_SUBSCRIPTION_ID is unset")
        for source in _resolve_sources(index, source_spec, sub, where, powers):
            _check_unique(sources, source, where)
            sources.append(source)
    targets = _resolve_targets(cloud, spec, sources, job_id)
    job = Job(id=job_id, created=time.time(), sources=sources, targets=targets, options=options)
    validate.check(spec, job, cloud)
    plan = Plan(job)
    index.expect(_destinations(job))
    _steps(plan, cloud, index)
    return plan


def _resolve_sources(index: ResourceIndex, spec: SourceSpec, sub: str, where: str, powers: bool) -> list[Source]:
    """Read every VM and image first (their disks' ids tell which groups to list), then their
    disks; a failure is raised for the first source in the file's order, as one by one would."""
    rg = spec.resource_group
    if not powers:
        index.expect(str(ResourceId(sub, rg, "Microsoft.Compute", "virtualMachines", n)) for n in spec.vms)
    index.expect(str(ResourceId(sub, rg, "Microsoft.Compute", "images", n)) for n in spec.images)
    vms = [_read(partial(index.get_vm, sub, rg, name)) for name in spec.vms]
    images = [_read(partial(index.get_image, sub, rg, name)) for name in spec.images]
    index.expect(d.disk_id for vm in vms if not isinstance(vm, DiskferryError) for d in vm.disks)
    index.expect(d.source_id for image in images if not isinstance(image, DiskferryError)
                 for d in image.disks if d.source_id is not None)
    out: list[Source] = []
    for i, (name, vm) in enumerate(zip(spec.vms, vms, strict=True)):
        try:
            out.append(_vm(index, sub, rg, _got(vm)))
        except DiskferryError as exc:
            raise JobFailed(exc.code, f"{where}.vms[{i}] {name}: {exc.message}") from None
    for i, (name, image) in enumerate(zip(spec.images, images, strict=True)):
        try:
            out.append(_image(index, sub, rg, _got(image)))
        except DiskferryError as exc:
            raise JobFailed(exc.code, f"{where}.images[{i}] {name}: {exc.message}") from None
    return out


def _read(read: Callable[[], T]) -> T | DiskferryError:
    """A read's answer, or its refusal kept for the source's turn."""
    try:
        return read()
    except DiskferryError as exc:
        return exc


def _got(answer: T | DiskferryError) -> T:
    if isinstance(answer, DiskferryError):
        raise answer
    return answer


def _check_unique(sources: list[Source], source: Source, where: str) -> None:
    """A source's key names its task arguments, records and temporary resources: two sources
    with one key would run as one (the second never replicated, the first twice)."""
    first = next((s for s in sources if s.key == source.key), None)
    if first is None:
        return
    what = f"{source.kind.value} {source.resource_group}/{source.name}"
    if first.resource_id.lower() == source.resource_id.lower():
        raise JobFailed("DuplicateSource", f"{where}: {what} is listed twice")
    raise JobFailed("DuplicateSource", f"{where}: {what} has the resource group and name of a {first.kind.value} "
                    f"in subscription {first.subscription_id}; replicate the two in separate jobs")


def _vm(index: ResourceIndex, sub: str, rg: str, vm: VmInfo) -> Source:
    if vm.guest_encrypted:
        raise JobFailed("GuestEncrypted", f"VM {vm.name} is encrypted with Azure Disk Encryption (its first "
                        f"version, set on the VM; {GUEST_ENCRYPTED_WHY}")
    disks = []
    for vm_disk in vm.disks:
        info = index.get_disk(vm_disk.disk_id)
        disks.append(
            Disk(
                key=naming.disk_key(vm_disk.lun), name=info.name, resource_id=info.id, kind=ExportKind.disk,
                size_bytes=info.size_bytes, sku=info.sku, lun=vm_disk.lun, os_type=info.os_type,
                hyper_v_generation=info.hyper_v_generation, caching=vm_disk.caching, **_encryption(info),
                security_type=info.security_type if vm_disk.lun is None else None,
            )
        )
    os_gen = next((d.hyper_v_generation for d in disks if d.lun is None), None)
    return Source(
        key=naming.source_key(SourceKind.vm, rg, vm.name), kind=SourceKind.vm, subscription_id=sub,
        resource_group=rg, name=vm.name, location=normalize_region(vm.location), resource_id=vm.id, disks=disks,
        hyper_v_generation=os_gen, vm_size=vm.size, power_state=vm.power_state,
        security_type=_security(vm), secure_boot=vm.secure_boot, vtpm=vm.vtpm,
    )


def _security(vm: VmInfo) -> str | None:
    """A VM's security type; a confidential VM refused: its OS disk's keys are bound to its vTPM,
    whose state (the VM guest state) diskferry does not copy, so its copy could not be booted."""
    kind = vm.security_type
    if kind and kind.lower().startswith("confidentialvm"):
        raise JobFailed("ConfidentialVm", f"VM {vm.name} is a confidential VM: its OS disk is bound to its vTPM, "
                        "whose state diskferry does not copy, so its copy could not boot elsewhere")
    return kind if kind and kind.lower() != "standard" else None


#: why a disk under Azure Disk Encryption is refused, and what to do
GUEST_ENCRYPTED_WHY = ("BitLocker or DM-Crypt, its keys in a key vault of the source's region): its copy could not "
                       "be read elsewhere; disable Azure Disk Encryption on the VM first, or use server-side "
                       "encryption with a customer-managed key")


def _encryption(info: DiskInfo) -> dict[str, Any]:
    """The customer-managed key a source disk is under (none under platform-managed keys), and
    Azure Disk Encryption refused: its VHD holds BitLocker or DM-Crypt volumes whose keys live
    in a key vault of the source's region, which a copy elsewhere could not open."""
    if info.guest_encrypted:
        raise JobFailed("GuestEncrypted", f"disk {info.name} is encrypted with Azure Disk Encryption ("
                        f"{GUEST_ENCRYPTED_WHY}")
    if info.encryption_set and info.encryption_type and info.encryption_type != PLATFORM_KEY:
        return {"encryption_set": info.encryption_set, "encryption_type": info.encryption_type}
    return {}


def _image(index: ResourceIndex, sub: str, rg: str, image: ImageInfo) -> Source:
    disks = []
    for image_disk in image.disks:
        if image_disk.source_id is None:
            raise JobFailed("UnsupportedImageSource",
                            f"the disk at {'OS' if image_disk.lun is None else f'LUN {image_disk.lun}'} "
                            "is a blob URI; only managed disks and snapshots can be replicated")
        try:
            info = index.get_disk(image_disk.source_id)
        except NotFound:
            # Azure cannot make a disk from a managed image: like `az image copy`, diskferry
            # reads the disks or snapshots the image was built from, so they must still exist
            raise JobFailed("ImageSourceNotFound",
                            f"{ResourceId.parse(image_disk.source_id).name}, which the image was built from, "
                            "no longer exists; an image is replicated from its source disks or snapshots") from None
        kind = ExportKind.snapshot if ResourceId.parse(info.id).is_snapshot else ExportKind.disk
        disks.append(
            Disk(
                key=naming.disk_key(image_disk.lun), name=info.name, resource_id=info.id, kind=kind,
                size_bytes=info.size_bytes, sku=image_disk.storage_account_type or info.sku, lun=image_disk.lun,
                os_type=image.os_type if image_disk.lun is None else None,
                hyper_v_generation=image.hyper_v_generation, caching=image_disk.caching, **_encryption(info),
            )
        )
    return Source(
        key=naming.source_key(SourceKind.image, rg, image.name), kind=SourceKind.image, subscription_id=sub,
        resource_group=rg, name=image.name, location=normalize_region(image.location), resource_id=image.id,
        disks=disks, os_state=image.os_state, hyper_v_generation=image.hyper_v_generation,
    )


def _resolve_targets(cloud: Cloud, spec: JobFile, sources: list[Source], job_id: str) -> list[Target]:
    targets: list[Target] = []
    #: the job-created staging account of each (subscription, region) lives in the first target
    #: RG of that region in that subscription
    job_accounts: dict[tuple[str, str], StagingAccount] = {}
    default_sub = sources[0].subscription_id
    for i, t in enumerate(spec.targets):
        region = normalize_region(t.region)
        sub = t.subscription_id or default_sub
        staging: StagingAccount | None = None
        if any(not same_region(s.location, region) for s in sources):
            if t.staging_account:
                found = cloud.storage.find_account(sub, t.staging_account)
                if found is None:
                    raise JobFailed("StagingAccountNotFound",
                                    f"targets[{i}].staging_account: {t.staging_account} does not exist")
                if not same_region(found.location, region):
                    raise JobFailed("StagingAccountRegion",
                                    f"targets[{i}].staging_account: {found.name} is in {found.location}, "
                                    f"not {region} (Import needs the VHD in the disk's region)")
                staging = StagingAccount(found.name, found.resource_group, region, created_by_job=False)
            else:
                staging = job_accounts.setdefault(
                    (sub.lower(), region),
                    StagingAccount(naming.staging_account(job_id, sub, region), t.resource_group, region, True),
                )
        targets.append(
            Target(key=naming.target_key(region, t.resource_group), region=region, resource_group=t.resource_group,
                   subscription_id=sub, sku=t.sku, zone=t.disk_zone, staging=staging,
                   vm=_vm_request(t.vm, sub, t.resource_group),
                   encryption=_encryption_set(cloud, t.disk_encryption_set, sub, t.resource_group, region, i),
                   platform_keys=t.platform_keys)
        )
    return targets


def _encryption_set(cloud: Cloud, given: str | None, sub: str, rg: str, region: str, i: int) -> Encryption | None:
    """The target's disk encryption set, looked up once: it must exist, in the target's region
    (Azure keeps a set and the disks under it in one region and subscription), and encrypt
    disks at rest (not a confidential VM's set)."""
    if not given:
        return None
    field = f"targets[{i}].disk_encryption_set"
    if given.startswith("/"):
        set_id = given
    else:  # a name in the target's group, or group/name
        group, _, name = given.rpartition("/")
        set_id = str(ResourceId(sub, group or rg, "Microsoft.Compute", "diskEncryptionSets", name))
    try:
        found = cloud.compute.find_encryption_set(set_id)
    except ValueError:
        raise JobFileError(field, f"{given!r} is neither a disk encryption set's id nor its name") from None
    if found is None:
        rid = ResourceId.parse(set_id)
        raise JobFileError(field, f"disk encryption set {rid.resource_group}/{rid.name} does not exist")
    if not same_region(found.location, region):
        raise JobFileError(field, f"disk encryption set {found.name} is in {found.location}, not {region}: a set "
                           "encrypts disks of its own region only; make one there with the key you use there")
    if found.encryption_type not in CUSTOMER_KEYS:
        raise JobFileError(field, f"disk encryption set {found.name} is of type {found.encryption_type}; disks are "
                           f"encrypted at rest by a set of type {' or '.join(CUSTOMER_KEYS)}")
    return Encryption(found.id, found.encryption_type)


def _vm_request(spec: VmSpec | None, sub: str, rg: str) -> VmRequest | None:
    """The target's ``vm:`` with its subnet and availability set as ARM ids (checked by
    ``validate``: they must exist in the target's region)."""
    if spec is None:
        return None
    aset = spec.availability_set
    if aset and not aset.startswith("/"):
        aset = str(ResourceId(sub, rg, "Microsoft.Compute", "availabilitySets", aset))
    return VmRequest(name=spec.name, subnet_id=subnet_id(spec.subnet, sub, rg), size=spec.size,
                     power=Power(spec.power) if spec.power else None, availability_set_id=aset,
                     public_ip=spec.public_ip)


def subnet_id(text: str, sub: str, rg: str) -> str:
    """A subnet id from an id, ``vnet/subnet`` (in ``rg``) or ``group/vnet/subnet``."""
    if text.startswith("/"):
        return text
    parts = text.split("/")
    if len(parts) == 2:
        parts = [rg, *parts]
    if len(parts) != 3 or not all(parts):
        return text  # validate names it: not a subnet
    group, vnet, subnet = parts
    return f"{ResourceId(sub, group, 'Microsoft.Network', 'virtualNetworks', vnet)}/subnets/{subnet}"


def _destinations(job: Job) -> list[str]:
    """Every disk and image the job will make: the planner looks each up (a warning when it exists)."""
    out = []
    for source in job.sources:
        for target in job.targets:
            out += [layout.destination(job, source, target, disk).id for disk in source.disks]
            if job.builds_image(source):
                out.append(layout.image_id(job, source, target))
    return out


def _steps(plan: Plan, cloud: Cloud, index: ResourceIndex) -> None:
    """Every step, in the order it happens: per source its export, per pair its copies and
    results, per source its release; the staging accounts the job made go last."""
    job = plan.job
    #: destination disk and image ids (lower case) -> what makes them: one of each per id
    made_by: dict[str, str] = {}
    accounts: dict[str, StagingAccount] = {}
    groups_seen: set[str] = set()
    for source in job.sources:
        if source.security_type:
            plan.warnings.append(f"{_what(source)} is a {source.security_type} VM: its OS disk's copies (and a VM "
                                 f"rebuilt from them) are {source.security_type} too, but its VM guest state is not "
                                 "copied: the vTPM starts afresh, and secrets sealed to it do not follow")
        plan.steps += _export_steps(job, source)
        for target in job.targets:
            if target.key not in groups_seen:
                groups_seen.add(target.key)
                plan.steps += _group_steps(plan, cloud, target)
            staging = target.staging
            if job.staged(source, target) and staging is not None and staging.created_by_job \
                    and staging.name not in accounts:
                accounts[staging.name] = staging
                plan.steps.append(Step("staging-account", staging.name, target.region, target=target.key,
                                       detail="created by the job, deleted at the end"))
            plan.steps += _pair_steps(plan, cloud, index, source, target, made_by)
        plan.steps += _release_steps(job, source)
    plan.steps += [Step("delete-account", name, accounts[name].region) for name in sorted(accounts)]


def _export_steps(job: Job, source: Source) -> list[Step]:
    """Freezing the source and reading each disk: once per source, shared by its targets."""
    steps = []
    if layout.deallocates(job, source):
        steps.append(Step("deallocate", source.name, source.location, source=source.key,
                          detail="started again at the end"))
    needs_sas = layout.needs_sas(job, source)
    for disk in source.disks:
        read = layout.read_from(job, source, disk)
        if read.temporary:
            detail = (f"incremental, of {disk.name} ({disk.sku}: read once Azure's background copy of it ends)"
                      if layout.incremental_only(disk) else f"of {disk.name}")
            steps.append(Step("snapshot", read.name, source.location, disk.size_bytes, source.key, detail=detail))
        if needs_sas:
            steps.append(Step("grant", read.name, source.location, disk.size_bytes, source.key,
                              detail="one read SAS, shared by every target"))
    return steps


def _group_steps(plan: Plan, cloud: Cloud, target: Target) -> list[Step]:
    """The target's resource group: made when absent; a warning when it lies elsewhere."""
    rg_there = cloud.storage.resource_group_location(target.subscription_id, target.resource_group)
    if rg_there is None:
        return [Step("resource-group", target.resource_group, target.region, target=target.key,
                     detail="created when absent (kept)")]
    if not same_region(rg_there, target.region):
        plan.warnings.append(f"resource group {target.resource_group} is in {rg_there}; "
                             f"its disks go to {target.region} all the same")
    return []


def _pair_steps(plan: Plan, cloud: Cloud, index: ResourceIndex, source: Source, target: Target,
                made_by: dict[str, str]) -> list[Step]:
    """One source to one target: each disk copied (or cloned in-region), the image, the
    temporary disks and staged VHDs removed."""
    job = plan.job
    staged = job.staged(source, target)
    sku_zone = (f", zone {target.zone}" if target.zone else "")
    steps = []
    for disk in source.disks:
        dest = layout.destination(job, source, target, disk)
        _claim(made_by, dest.id, f"{_what(source)} disk {disk.key}", "options.name")
        if index.find_disk(dest.id) is not None:
            plan.warnings.append(f"disk {dest.name} already exists in {target.resource_group}")
        if staged:
            into = target.staging.name if target.staging else "?"
            steps.append(Step("copy", layout.staged_blob(job, source, target, disk), target.region,
                              disk.size_bytes + 512, source.key, target.key, detail=f"{disk.name} into {into}"))
            steps.append(Step("import", dest.name, target.region, disk.size_bytes, source.key, target.key,
                              detail=f"sku {target.sku or disk.sku}{sku_zone}{_keys(plan, source, target, disk)}"))
        else:
            steps.append(Step("clone", dest.name, target.region, disk.size_bytes, source.key, target.key,
                              detail=f"disk Copy in-region, sku {target.sku or disk.sku}{sku_zone}"
                              f"{_keys(plan, source, target, disk)}"))
    if job.builds_image(source):
        image_id = layout.image_id(job, source, target)
        _claim(made_by, image_id, _what(source), "options.image_name")
        image = ResourceId.parse(image_id).name
        if index.find_image(image_id) is not None:
            plan.warnings.append(f"image {image} already exists in {target.resource_group}")
        steps.append(Step("image", image, target.region, source=source.key, target=target.key,
                          detail=f"{len(source.disks)} disks, OS {_os(source)}"))
        if not job.options.keep_image_disks:
            steps += [Step("delete-disk", layout.destination(job, source, target, disk).name, target.region,
                           source=source.key, target=target.key, detail="the image holds the data")
                      for disk in source.disks]
    if job.rebuilds_vm(source, target):
        steps += _vm_steps(plan, cloud, source, target, made_by)
    if staged:
        steps += [Step("delete-staged", layout.staged_blob(job, source, target, disk), target.region,
                       source=source.key, target=target.key) for disk in source.disks]
    return steps


def _keys(plan: Plan, source: Source, target: Target, disk: Disk) -> str:
    """The security type and key of a destination disk, as its step says them; a warning for a
    source's customer-managed key left behind because the operator asked for it (``platform_keys``)."""
    secure = f", {disk.security_type}" if disk.security_type else ""
    encryption = target.encryption_of(source, disk)
    if encryption is not None:
        return f"{secure}, encrypted with disk encryption set {encryption.set_name}"
    if disk.encryption_set:
        plan.warnings.append(f"{_what(source)} disk {disk.key} is under a customer-managed key; its copy in "
                             f"{target.region} gets platform-managed keys (platform_keys: true)")
        return f"{secure}, platform-managed keys"
    return secure


def _vm_steps(plan: Plan, cloud: Cloud, source: Source, target: Target, made_by: dict[str, str]) -> list[Step]:
    """The VM made from the pair's disks: its public IP, its NIC, the VM, its power state."""
    job, request = plan.job, target.vm
    assert request is not None
    vm = layout.rebuilt_vm(job, source, target)
    _claim(made_by, vm.id, _what(source), "vm.name")
    size = request.size or source.vm_size or "?"
    where = f"zone {target.zone}" if target.zone else (
        f"availability set {ResourceId.parse(request.availability_set_id).name}" if request.availability_set_id
        else "no zone")
    _warn_zone(plan, cloud, target, size)
    subnet = request.subnet_id.split("/virtualNetworks/", 1)[-1].replace("/subnets/", "/")
    steps = []
    if vm.public_ip_id:
        steps.append(Step("public-ip", ResourceId.parse(vm.public_ip_id).name, target.region, source=source.key,
                          target=target.key, detail="static, Standard"))
    steps.append(Step("nic", ResourceId.parse(vm.nic_id).name, target.region, source=source.key, target=target.key,
                      detail=f"in subnet {subnet}"))
    luns = ", ".join(f"LUN {d.lun}" for d in source.disks if d.lun is not None) or "no data disks"
    steps.append(Step("vm", vm.name, target.region, source=source.key, target=target.key,
                      detail=f"{size}, {where}, OS disk attached ({_os(source)}), {luns}"))
    power = (request.power or source.power_state or "running")
    if power != "running":
        steps.append(Step("power", vm.name, target.region, source=source.key, target=target.key,
                          detail=f"left {power}, as {'asked' if request.power else 'the source is'}"))
    return steps


def _warn_zone(plan: Plan, cloud: Cloud, target: Target, size: str) -> None:
    """A size the region offers but not in the target's zone: Azure refuses the VM
    (``SkuNotAvailable``) when it is made; its disks are kept."""
    if not target.zone:
        return
    if target.key not in plan.sizes:  # one listing per target, whatever its number of VMs
        plan.sizes[target.key] = {s.name.lower(): s for s in cloud.compute.list_sizes(target.subscription_id,
                                                                                       target.region)}
    found = plan.sizes[target.key].get(size.lower())
    if found is not None and target.zone not in found.zones:
        plan.warnings.append(f"size {size} is not offered in {target.region} zone {target.zone}: Azure will "
                             "refuse the VM (its disks are kept)")


def _release_steps(job: Job, source: Source) -> list[Step]:
    """What the source's last target undoes: grants, temporary snapshots, the deallocation."""
    steps = []
    needs_sas = layout.needs_sas(job, source)
    for disk in source.disks:
        read = layout.read_from(job, source, disk)
        if needs_sas:
            steps.append(Step("revoke", read.name, source.location, source=source.key))
        if read.temporary:
            steps.append(Step("delete-snapshot", read.name, source.location, source=source.key))
    if layout.deallocates(job, source):
        steps.append(Step("start-vm", source.name, source.location, source=source.key,
                          detail="if the job deallocated it"))
    return steps


def _claim(made_by: dict[str, str], resource_id: str, what: str, option: str) -> None:
    """Refuse a job in which two sources would make the same disk or image: the second
    would find the first's result, tagged with the same job, and take it for its own."""
    key = resource_id.lower()
    if key in made_by:
        rid = ResourceId.parse(resource_id)
        raise JobFailed("DuplicateDestination",
                        f"{option}: {rid.type.rstrip('s')} {rid.resource_group}/{rid.name} would be made twice, "
                        f"from {made_by[key]} and from {what}")
    made_by[key] = what


def _what(source: Source) -> str:
    return f"{source.kind.value} {source.resource_group}/{source.name}"


def _os(source: Source) -> str:
    return next((d.os_type or "?" for d in source.disks if d.lun is None), "?")
