"""Where each step puts what it makes: ids of snapshots, destination disks and images.

All of them are pure functions of the job (ids, names, options), so that a step run
again, a cleanup after a crash and the planner agree on every name.
"""

from __future__ import annotations

from dataclasses import dataclass

from diskferry import naming
from diskferry.cloud.types import ResourceId
from diskferry.model import Disk, Job, Role, Source, Target, tags_for

COMPUTE = "Microsoft.Compute"


@dataclass(frozen=True)
class Destination:
    """The disk a (source, target, disk) becomes at the target."""

    id: str
    name: str
    role: Role


def snapshot_id(job: Job, source: Source, disk: Disk) -> str:
    """The temporary snapshot of a source disk: beside it, in the source's resource group."""
    rid = ResourceId.parse(disk.resource_id)
    name = naming.snapshot(job.id, source.key, disk.key)
    return str(ResourceId(rid.subscription_id, rid.resource_group, COMPUTE, "snapshots", name))


def destination(job: Job, source: Source, target: Target, disk: Disk) -> Destination:
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


def image_id(job: Job, source: Source, target: Target) -> str:
    name = naming.result_image(
        job.options.image_name, source=source.name, source_rg=source.resource_group, region=target.region,
        job_id=job.id, rg=target.resource_group,
    )
    return str(ResourceId(target.subscription_id, target.resource_group, COMPUTE, "images", name))


def tags(job: Job, role: Role) -> dict[str, str]:
    return tags_for(job.id, role, job.options.tags)


def staged_blob(job: Job, source: Source, target: Target, disk: Disk) -> str:
    return naming.staged_blob(job.id, source.key, target.key, disk.key)
