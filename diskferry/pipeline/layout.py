"""What a job does with each disk, and where each step puts what it makes.

The one place that decides what is read for each disk (the disk, a snapshot the job takes,
an image's own snapshot), whether a source needs a read SAS, and the ids of snapshots,
destination disks, images and staged blobs. All are pure functions of the job (ids, names,
options), so that the planner, a step, a step run again and a cleanup after a crash agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from diskferry import naming
from diskferry.cloud.types import ResourceId
from diskferry.model import Consistency, Disk, ExportKind, Header, Role, Source, SourceKind, Target, tags_for

COMPUTE = "Microsoft.Compute"
NETWORK = "Microsoft.Network"


@dataclass(frozen=True)
class Destination:
    """The disk a (source, target, disk) becomes at the target."""

    id: str
    name: str
    role: Role


@dataclass(frozen=True)
class ReadFrom:
    """What a source disk's data is read from."""

    id: str
    kind: ExportKind
    #: a snapshot the job takes for this (and deletes at the end)
    temporary: bool

    @property
    def name(self) -> str:
        return ResourceId.parse(self.id).name


def read_from(job: Header, source: Source, disk: Disk) -> ReadFrom:
    """An image's snapshot as it is; an image's disk, or a VM's disk under ``consistency:
    snapshot``, through a snapshot the job takes; a VM's disk as it is otherwise (deallocated,
    or ``consistency: none``)."""
    if source.kind is SourceKind.image:
        if disk.kind is ExportKind.snapshot:
            return ReadFrom(disk.resource_id, ExportKind.snapshot, temporary=False)
        return ReadFrom(snapshot_id(job, source, disk), ExportKind.snapshot, temporary=True)
    if job.options.consistency is Consistency.snapshot:
        return ReadFrom(snapshot_id(job, source, disk), ExportKind.snapshot, temporary=True)
    return ReadFrom(disk.resource_id, ExportKind.disk, temporary=False)


#: disk SKUs Azure takes only incremental snapshots of, and copies those in the background
#: before they can be exported or copied (Microsoft's "incremental snapshots" of Premium SSD v2
#: and Ultra disks: ``snapshotAccessState`` is ``Pending`` until then)
INCREMENTAL_ONLY_SKUS = frozenset({"PremiumV2_LRS", "UltraSSD_LRS"})


def incremental_only(disk: Disk) -> bool:
    """Whether the job's snapshot of ``disk`` is incremental, and copied in the background before
    it can be read (a full snapshot is what a disk of any other SKU gets)."""
    return disk.sku in INCREMENTAL_ONLY_SKUS


def needs_sas(job: Header, source: Source) -> bool:
    """Whether a source's disks are read over a SAS: when any target copies through a staging
    account (a same-region clone reads the snapshot or disk directly)."""
    return any(job.staged(source, t) for t in job.targets)


def deallocates(job: Header, source: Source) -> bool:
    """Whether the job deallocates the source VM to read its disks (and starts it again)."""
    return source.kind is SourceKind.vm and job.options.consistency is Consistency.deallocate


def snapshot_id(job: Header, source: Source, disk: Disk) -> str:
    """The temporary snapshot of a source disk: beside it, in the source's resource group."""
    rid = ResourceId.parse(disk.resource_id)
    name = naming.snapshot(job.id, source.key, disk.key)
    return str(ResourceId(rid.subscription_id, rid.resource_group, COMPUTE, "snapshots", name))


def destination(job: Header, source: Source, target: Target, disk: Disk) -> Destination:
    """A result disk named from the template, or a temporary one when it only feeds an image."""
    if job.builds_image(source) and not job.options.keep_image_disks:
        name = naming.temporary_disk(job.id, source.key, target.key, disk.key)
        role = Role.temporary
    else:
        name = naming.result_disk(
            job.options.name, source=source.name, source_rg=source.resource_group, disk=disk.name, key=disk.key,
            region=target.region, job_id=job.id, rg=target.resource_group,
        )
        role = Role.result
    rid = ResourceId(target.subscription_id, target.resource_group, COMPUTE, "disks", name)
    return Destination(str(rid), name, role)


def image_id(job: Header, source: Source, target: Target) -> str:
    name = naming.result_image(
        job.options.image_name, source=source.name, source_rg=source.resource_group, region=target.region,
        job_id=job.id, rg=target.resource_group,
    )
    return str(ResourceId(target.subscription_id, target.resource_group, COMPUTE, "images", name))


@dataclass(frozen=True)
class RebuiltVm:
    """The VM a pair rebuilds at its target, its NIC and (when asked) its public IP."""

    id: str
    name: str
    nic_id: str
    public_ip_id: str | None


def rebuilt_vm(job: Header, source: Source, target: Target) -> RebuiltVm:
    assert target.vm is not None
    name = naming.result_vm(target.vm.name, source=source.name, source_rg=source.resource_group,
                            region=target.region, job_id=job.id, rg=target.resource_group)
    sub, rg = target.subscription_id, target.resource_group
    nic = ResourceId(sub, rg, NETWORK, "networkInterfaces", naming.vm_nic(name))
    ip = ResourceId(sub, rg, NETWORK, "publicIPAddresses", naming.vm_public_ip(name)) if target.vm.public_ip else None
    return RebuiltVm(str(ResourceId(sub, rg, COMPUTE, "virtualMachines", name)), name, str(nic),
                     str(ip) if ip else None)


def tags(job: Header, role: Role) -> dict[str, str]:
    return tags_for(job.id, role, job.options.tags)


def staged_blob(job: Header, source: Source, target: Target, disk: Disk) -> str:
    return naming.staged_blob(job.id, source.key, target.key, disk.key)
