"""Resolve a job file against Azure into a plan: the resolved job and every step it will take.

Planning only reads (VMs, images, disks, resource groups, storage accounts); it creates
nothing. ``plan`` shows the steps; ``submit`` stores the resolved job and enqueues it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from diskferry import naming
from diskferry.cloud import ResourceId
from diskferry.config.settings import Settings
from diskferry.errors import DiskferryError, JobFailed, NotFound
from diskferry.model import (
    Consistency,
    Disk,
    ExportKind,
    Job,
    Options,
    Source,
    SourceKind,
    StagingAccount,
    Target,
    normalize_region,
    same_region,
)
from diskferry.pipeline import layout
from diskferry.producer.jobfile import JobFile, SourceSpec

if TYPE_CHECKING:
    from diskferry.cloud import Cloud

#: the planner's refusals: the job file asks for what cannot be done (bad input, unlike Azure
#: being unreachable or refusing diskferry's credentials)
REFUSALS = frozenset({
    "NoSubscription", "DuplicateSource", "DuplicateDestination", "UnsupportedImageSource", "UnmanagedDisk",
    "ImageSourceNotFound", "StagingAccountNotFound", "StagingAccountRegion",
})


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
    sources: list[Source] = []
    for i, source_spec in enumerate(spec.all_sources):
        where = "source" if spec.source is not None else f"sources[{i}]"
        sub = source_spec.subscription_id or settings.subscription_id
        if not sub:
            raise JobFailed("NoSubscription", f"{where}.subscription_id: not given and AZURE_SUBSCRIPTION_ID is unset")
        for source in _resolve_sources(cloud, source_spec, sub, where):
            _check_unique(sources, source, where)
            sources.append(source)
    targets = _resolve_targets(cloud, spec, sources, job_id)
    job = Job(id=job_id, created=time.time(), sources=sources, targets=targets, options=options)
    plan = Plan(job)
    _steps(plan, cloud)
    return plan


def _resolve_sources(cloud: Cloud, spec: SourceSpec, sub: str, where: str) -> list[Source]:
    out: list[Source] = []
    for i, name in enumerate(spec.vms):
        try:
            out.append(_vm(cloud, sub, spec.resource_group, name))
        except DiskferryError as exc:
            raise JobFailed(exc.code, f"{where}.vms[{i}] {name}: {exc.message}") from None
    for i, name in enumerate(spec.images):
        try:
            out.append(_image(cloud, sub, spec.resource_group, name))
        except DiskferryError as exc:
            raise JobFailed(exc.code, f"{where}.images[{i}] {name}: {exc.message}") from None
    return out


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


def _vm(cloud: Cloud, sub: str, rg: str, name: str) -> Source:
    vm = cloud.compute.get_vm(sub, rg, name)
    disks = []
    for vm_disk in vm.disks:
        info = cloud.compute.get_disk(vm_disk.disk_id)
        disks.append(
            Disk(
                key=naming.disk_key(vm_disk.lun), name=info.name, resource_id=info.id, kind=ExportKind.disk,
                size_bytes=info.size_bytes, sku=info.sku, lun=vm_disk.lun, os_type=info.os_type,
                hyper_v_generation=info.hyper_v_generation, caching=vm_disk.caching,
            )
        )
    os_gen = next((d.hyper_v_generation for d in disks if d.lun is None), None)
    return Source(
        key=naming.source_key(SourceKind.vm, rg, vm.name), kind=SourceKind.vm, subscription_id=sub,
        resource_group=rg, name=vm.name, location=normalize_region(vm.location), resource_id=vm.id, disks=disks,
        hyper_v_generation=os_gen,
    )


def _image(cloud: Cloud, sub: str, rg: str, name: str) -> Source:
    image = cloud.compute.get_image(sub, rg, name)
    disks = []
    for image_disk in image.disks:
        if image_disk.source_id is None:
            raise JobFailed("UnsupportedImageSource",
                            f"the disk at {'OS' if image_disk.lun is None else f'LUN {image_disk.lun}'} "
                            "is a blob URI; only managed disks and snapshots can be replicated")
        try:
            info = cloud.compute.get_disk(image_disk.source_id)
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
                hyper_v_generation=image.hyper_v_generation, caching=image_disk.caching,
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
                   subscription_id=sub, sku=t.sku, zone=t.zone, staging=staging)
        )
    return targets


def _steps(plan: Plan, cloud: Cloud) -> None:
    job = plan.job
    add = plan.steps.append
    #: destination disk and image ids (lower case) -> what makes them: one of each per id
    made_by: dict[str, str] = {}
    accounts_made: set[str] = set()
    groups_seen: set[str] = set()
    for source in job.sources:
        needs_sas = any(job.staged(source, t) for t in job.targets)
        if source.kind is SourceKind.vm and job.options.consistency is Consistency.deallocate:
            add(Step("deallocate", source.name, source.location, source=source.key, detail="started again at the end"))
        for disk in source.disks:
            snap = _snapshot_taken(job, source, disk)
            if snap:
                add(Step("snapshot", snap, source.location, disk.size_bytes, source.key, detail=f"of {disk.name}"))
            if needs_sas:
                add(Step("grant", snap or disk.name, source.location, disk.size_bytes, source.key,
                         detail="one read SAS, shared by every target"))
        for target in job.targets:
            if target.key not in groups_seen:
                groups_seen.add(target.key)
                rg_there = cloud.storage.resource_group_location(target.subscription_id, target.resource_group)
                if rg_there is None:
                    add(Step("resource-group", target.resource_group, target.region, target=target.key,
                             detail="created when absent (kept)"))
                elif not same_region(rg_there, target.region):
                    plan.warnings.append(f"resource group {target.resource_group} is in {rg_there}; "
                                         f"its disks go to {target.region} all the same")
            staged = job.staged(source, target)
            staging = target.staging
            if staged and staging is not None and staging.created_by_job and staging.name not in accounts_made:
                accounts_made.add(staging.name)
                add(Step("staging-account", staging.name, target.region, target=target.key,
                         detail="created by the job, deleted at the end"))
            for disk in source.disks:
                dest = layout.destination(job, source, target, disk)
                _claim(made_by, dest.id, f"{_what(source)} disk {disk.key}", "options.name")
                if cloud.compute.find_disk(dest.id) is not None:
                    plan.warnings.append(f"disk {dest.name} already exists in {target.resource_group}")
                if staged:
                    blob = layout.staged_blob(job, source, target, disk)
                    add(Step("copy", blob, target.region, disk.size_bytes + 512, source.key, target.key,
                             detail=f"{disk.name} into {staging.name if staging else '?'}"))
                    add(Step("import", dest.name, target.region, disk.size_bytes, source.key, target.key,
                             detail=f"sku {target.sku or disk.sku}" + (f", zone {target.zone}" if target.zone else "")))
                else:
                    add(Step("clone", dest.name, target.region, disk.size_bytes, source.key, target.key,
                             detail=f"disk Copy in-region, sku {target.sku or disk.sku}"
                             + (f", zone {target.zone}" if target.zone else "")))
            if job.builds_image(source):
                image_id = layout.image_id(job, source, target)
                _claim(made_by, image_id, _what(source), "options.image_name")
                image = image_id.rsplit("/", 1)[1]
                if cloud.compute.find_image(image_id) is not None:
                    plan.warnings.append(f"image {image} already exists in {target.resource_group}")
                add(Step("image", image, target.region, source=source.key, target=target.key,
                         detail=f"{len(source.disks)} disks, OS {_os(source)}"))
                if not job.options.keep_image_disks:
                    for disk in source.disks:
                        add(Step("delete-disk", layout.destination(job, source, target, disk).name, target.region,
                                 source=source.key, target=target.key, detail="the image holds the data"))
            if staged:
                for disk in source.disks:
                    add(Step("delete-staged", layout.staged_blob(job, source, target, disk), target.region,
                             source=source.key, target=target.key))
        for disk in source.disks:
            snap = _snapshot_taken(job, source, disk)
            if needs_sas:
                add(Step("revoke", snap or disk.name, source.location, source=source.key))
            if snap:
                add(Step("delete-snapshot", snap, source.location, source=source.key))
        if source.kind is SourceKind.vm and job.options.consistency is Consistency.deallocate:
            add(Step("start-vm", source.name, source.location, source=source.key, detail="if the job deallocated it"))
    for name in sorted(accounts_made):
        account = next(t.staging for t in job.targets if t.staging and t.staging.name == name)
        assert account is not None
        add(Step("delete-account", name, account.region))


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


def _snapshot_taken(job: Job, source: Source, disk: Disk) -> str | None:
    """The name of the temporary snapshot the job takes of a disk, if it takes one."""
    if source.kind is SourceKind.image and disk.kind is ExportKind.snapshot:
        return None
    if source.kind is SourceKind.vm and job.options.consistency is not Consistency.snapshot:
        return None
    return ResourceId.parse(layout.snapshot_id(job, source, disk)).name


def _os(source: Source) -> str:
    return next((d.os_type or "?" for d in source.disks if d.lun is None), "?")
