"""The plan-time checks of a target's ``vm:``: what Azure would refuse only after the disks
were copied, refused before anything is made, naming the field.

* the subnet exists and lies in the target's region (a NIC must be in its VM's region);
* the availability set exists there (a zone together with one is refused by the job file);
* the size (given, or the source VM's) is offered in the region (``resourceSkus``): a size
  offered in the region but not in the zone is Azure's to refuse when the VM is made;
* the VM's name (and its NIC's) follows Azure's rule and is not taken by something that is
  not this job's;
* a job with ``vm:`` has a VM source to rebuild, and does not make images of it instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from diskferry import rules
from diskferry.cloud import ResourceId
from diskferry.model import TAG_JOB, ImageMode, Job, Source, SourceKind, Target, same_region
from diskferry.pipeline import layout
from diskferry.producer.jobfile import JobFile

if TYPE_CHECKING:
    from diskferry.cloud import Cloud

Problem = tuple[str, str]


def check(spec: JobFile, job: Job, cloud: Cloud) -> list[Problem]:
    out: list[Problem] = []
    vm_sources = [s for s in job.sources if s.kind is SourceKind.vm]
    for i, target in enumerate(job.targets):
        if target.vm is None:
            continue
        field = f"targets[{i}].vm"
        if not vm_sources:
            out.append((field, "the job has no VM source: a VM is rebuilt from a VM's disks (images give images)"))
            continue
        if job.options.image is ImageMode.always:
            out.append((field, "options.image: true makes an image of each VM instead of its disks; "
                               "a VM is rebuilt from the disks"))
            continue
        written = spec.targets[i].vm
        out += _network(cloud, target, field, written.subnet if written else target.vm.subnet_id)
        out += _sizes(cloud, target, vm_sources, field)
        for source in vm_sources:
            out += _names(cloud, job, source, target, field)
    return list(dict.fromkeys(out))


def _network(cloud: Cloud, target: Target, field: str, written: str) -> list[Problem]:
    assert target.vm is not None
    out: list[Problem] = []
    try:
        subnet = cloud.network.find_subnet(target.vm.subnet_id)
    except ValueError:
        return [(f"{field}.subnet", f"{written!r} is not a subnet: give its id, vnet/subnet or group/vnet/subnet")]
    if subnet is None:
        out.append((f"{field}.subnet", f"{written!r} does not exist ({target.vm.subnet_id})"))
    elif not same_region(subnet.location, target.region):
        out.append((f"{field}.subnet", f"{written!r} is in {subnet.location}, not {target.region}: a NIC and its "
                                       "VM must be in the subnet's region"))
    aset = target.vm.availability_set_id
    if aset:
        found = cloud.compute.find_availability_set(aset) if _is_id(aset) else None
        if found is None:
            out.append((f"{field}.availability_set", f"availability set {aset} does not exist"))
        elif not same_region(found[1], target.region):
            out.append((f"{field}.availability_set", f"availability set {ResourceId.parse(aset).name} is in "
                                                     f"{found[1]}, not {target.region}"))
    return out


def _is_id(text: str) -> bool:
    try:
        ResourceId.parse(text)
    except ValueError:
        return False
    return True


def _sizes(cloud: Cloud, target: Target, sources: list[Source], field: str) -> list[Problem]:
    assert target.vm is not None
    offered = {s.name.lower() for s in cloud.compute.list_sizes(target.subscription_id, target.region)}
    out: list[Problem] = []
    for source in sources:
        size = target.vm.size or source.vm_size
        if size is None:
            out.append((f"{field}.size", f"VM {source.name} has no size to copy; give vm.size"))
        elif size.lower() not in offered:
            whose = "" if target.vm.size else f" (the size of VM {source.name}; give vm.size)"
            out.append((f"{field}.size", f"{size} is not offered in {target.region}{whose}; offered: "
                                         f"{', '.join(sorted(offered)) or 'none'}"))
    return out


def _names(cloud: Cloud, job: Job, source: Source, target: Target, field: str) -> list[Problem]:
    vm = layout.rebuilt_vm(job, source, target)
    assert target.vm is not None
    os_type = next((d.os_type for d in source.disks if d.lun is None), None)
    problem = rules.vm_name_problem(vm.name, os_type)
    if problem is not None:
        return [(f"{field}.name", f"{problem}; the template {target.vm.name!r} makes it for VM {source.name}")]
    found = cloud.compute.find_vm(vm.id)
    if found is not None and found.tags.get(TAG_JOB) != job.id:
        return [(f"{field}.name", f"VM {target.resource_group}/{vm.name} already exists and is not this job's "
                                  f"(made for VM {source.name} by the template {target.vm.name!r})")]
    nic = cloud.network.find_nic(vm.nic_id)
    if nic is not None and nic.tags.get(TAG_JOB) != job.id:
        return [(f"{field}.name", f"network interface {target.resource_group}/{ResourceId.parse(vm.nic_id).name} "
                                  f"already exists and is not this job's (the NIC of VM {vm.name})")]
    return []
