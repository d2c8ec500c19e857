"""The method's second half: a VM made at the target from the pair's copied disks.

After finalize has the pair's disks (imported or cloned), :func:`rebuild` makes, each step
started and then checked (:func:`~diskferry.pipeline.waits.awaited`, no task waits for Azure):

1. the public IP, when ``vm.public_ip`` asks for one (``<vm>-ip``);
2. the NIC in the chosen subnet (``<vm>-nic``);
3. the VM: the OS disk attached with the source's OS type (the disks carry its Hyper-V
   generation), the data disks at the source's LUNs with its caching, the size, the zone
   (its disks were made there) or the availability set, the job's tags;
4. the power state asked for (default: the source's at plan time): a new VM runs, so a
   ``stopped`` or ``deallocated`` one is powered off or deallocated after.

Everything is a result tagged with the job, found by name on a re-run (a crash between
starting and recording starts a PUT of the same body again, which Azure treats as the same
resource). A VM Azure refuses (a size not offered in the zone, a quota) fails the pair with
Azure's code and message: its disks stay results, and the NIC and public IP made for it are
deleted (``vm_refused`` in the pair's record keeps a re-run from trying the VM again).
"""

from __future__ import annotations

from collections.abc import Callable

from diskferry.cloud import ResourceId
from diskferry.cloud.operations import Operation
from diskferry.cloud.types import VmDisk, VmSecurity
from diskferry.errors import DiskferryError, RetryLater, Waiting
from diskferry.model import TAG_JOB, Error, Header, Phase, Power, Role, Source, Target
from diskferry.pipeline import layout
from diskferry.pipeline.layout import RebuiltVm
from diskferry.pipeline.outcome import error_of
from diskferry.pipeline.runtime import Runtime
from diskferry.pipeline.waits import awaited, still_running


def rebuild(rt: Runtime, job: Header, source: Source, target: Target, disks: dict[str, str]) -> Error | None:
    """Make the pair's VM from ``disks`` (disk key -> destination disk id); raises Waiting
    while Azure works. Returns Azure's refusal of the VM (the pair fails) or None."""
    vm = layout.rebuilt_vm(job, source, target)
    state = rt.store.target_state(job.id, source.key, target.key)
    if state.get("vm_refused"):
        _undo(rt, job, source, target, vm)
        return Error(**state["vm_refused"])
    rt.store.update_target(job.id, source.key, target.key, phase=Phase.rebuilding, vm_name=vm.name)
    try:
        if not _vm_ready(rt, job, source, target, vm):
            public_ip = _public_ip(rt, job, source, target, vm)
            _nic(rt, job, source, target, vm, public_ip)
            _vm(rt, job, source, target, vm, disks)
    except RetryLater:
        raise
    except DiskferryError as exc:
        refused = error_of(exc)
        rt.store.update_target(job.id, source.key, target.key, vm_refused=refused)
        _undo(rt, job, source, target, vm)
        return refused
    # recorded before its power state is set: a VM Azure will not power off is still a result
    rt.store.update_target(job.id, source.key, target.key, vm_id=vm.id, nic_id=vm.nic_id)
    power = _power(rt, job, source, target, vm)
    rt.store.update_target(job.id, source.key, target.key, vm_power=power.value)
    return None


def wanted_power(source: Source, target: Target) -> Power:
    """What the job file asked for, else the source's power state at plan time."""
    assert target.vm is not None
    if target.vm.power is not None:
        return target.vm.power
    state = (source.power_state or "running").lower()
    if state.startswith("dealloc"):
        return Power.deallocated
    if state.startswith("stop"):
        return Power.stopped
    return Power.running


def _op(kind: str, source: Source, target: Target) -> str:
    return f"{kind}|{source.key}|{target.key}"


def _vm_ready(rt: Runtime, job: Header, source: Source, target: Target, vm: RebuiltVm) -> bool:
    """Whether an earlier run made the VM (a VM of that name that is not the job's is refused)."""
    if rt.store.operation(job.id, _op("vm", source, target)) is not None:
        return False
    found = rt.cloud.compute.find_vm(vm.id)
    if found is None:
        return False
    if found.tags.get(TAG_JOB) != job.id:
        raise VmRefused("VmAlreadyExists", f"VM {vm.name} exists in {target.resource_group} and is not this job's")
    state = found.provisioning_state or "Succeeded"
    if state == "Failed":
        # a create that failed after an earlier run lost its record: Azure's refusal, seen late
        raise VmRefused("VmProvisioningFailed", f"VM {vm.name} exists in state Failed")
    if state != "Succeeded":
        # a run that crashed after starting the create and before recording it: Azure is at it
        raise Waiting("OperationInProgress", f"VM {vm.name} is {state}", retry_after=2.0)
    return True


class VmRefused(DiskferryError):
    """The VM cannot be made where the job file put it (a name taken meanwhile)."""


def _own(tags: dict[str, str] | None, job: Header, what: str) -> bool:
    """Whether a resource found by name is the job's (True) or absent (False); another's is refused."""
    if tags is None:
        return False
    if tags.get(TAG_JOB) != job.id:
        raise VmRefused("NameTaken", f"{what} exists and is not this job's")
    return True


def _made(rt: Runtime, job: Header, name: str, exists: Callable[[], bool], start: Callable[[], Operation | None],
          what: str) -> None:
    """Find-or-start one resource; raises Waiting while Azure makes it."""
    if rt.store.operation(job.id, name) is None and exists():
        return
    if not awaited(rt, job.id, name, start).done:
        raise still_running(rt, job.id, [name], what)


def _public_ip(rt: Runtime, job: Header, source: Source, target: Target, vm: RebuiltVm) -> str | None:
    ip_id = vm.public_ip_id
    if ip_id is None:
        return None
    network = rt.cloud.network
    ip_name = ResourceId.parse(ip_id).name
    _made(rt, job, _op("ip", source, target),
          lambda: _own(network.find_public_ip(ip_id), job, f"public IP {ip_name}"),
          lambda: network.create_public_ip(ip_id, location=target.region, tags=layout.tags(job, Role.result),
                                           zone=target.zone),
          f"create public IP {ip_name}")
    return ip_id


def _nic(rt: Runtime, job: Header, source: Source, target: Target, vm: RebuiltVm, public_ip: str | None) -> None:
    assert target.vm is not None
    network = rt.cloud.network
    subnet = target.vm.subnet_id

    def exists() -> bool:
        nic = network.find_nic(vm.nic_id)
        return _own(nic.tags if nic else None, job, f"network interface {ResourceId.parse(vm.nic_id).name}")

    _made(rt, job, _op("nic", source, target), exists,
          lambda: network.create_nic(vm.nic_id, location=target.region, subnet_id=subnet,
                                     tags=layout.tags(job, Role.result), public_ip_id=public_ip),
          f"create the NIC of VM {vm.name}")


def _vm(rt: Runtime, job: Header, source: Source, target: Target, vm: RebuiltVm, disks: dict[str, str]) -> None:
    assert target.vm is not None
    request = target.vm
    os_disk = next(d for d in source.disks if d.lun is None)
    data = [VmDisk(d.lun, disks[d.key], d.caching) for d in source.disks if d.lun is not None]
    compute = rt.cloud.compute
    name = _op("vm", source, target)
    made = awaited(rt, job.id, name, lambda: compute.create_vm(
        vm.id, location=target.region, size=request.size or source.vm_size or "", os_type=os_disk.os_type or "Linux",
        os_disk=VmDisk(None, disks[os_disk.key], os_disk.caching), data_disks=sorted(data, key=lambda d: d.lun or 0),
        nic_ids=[vm.nic_id], tags=layout.tags(job, Role.result), zone=target.zone,
        availability_set_id=request.availability_set_id,
        # its OS disk is of the source's security type (an import says so, a Copy keeps it)
        security=VmSecurity(source.security_type, source.secure_boot, source.vtpm) if source.security_type else None,
    ))
    if not made.done:
        raise still_running(rt, job.id, [name], f"create VM {vm.name}")


def _power(rt: Runtime, job: Header, source: Source, target: Target, vm: RebuiltVm) -> Power:
    want = wanted_power(source, target)
    if want is Power.running:
        return want  # a VM Azure has just made runs
    compute = rt.cloud.compute
    name = _op("power", source, target)
    if rt.store.operation(job.id, name) is None and (compute.vm_power_state(vm.id) or "") == want.value:
        return want
    action = compute.deallocate_vm if want is Power.deallocated else compute.power_off_vm
    if not awaited(rt, job.id, name, lambda: action(vm.id)).done:
        raise still_running(rt, job.id, [name], f"leave VM {vm.name} {want.value}")
    return want


def _undo(rt: Runtime, job: Header, source: Source, target: Target, vm: RebuiltVm) -> None:
    """Delete what was made for a VM Azure refused: a failed VM of the job's (it may hold the
    NIC), then the NIC, then the public IP. Raises Waiting while Azure deletes them."""
    discard_vm(rt, job, source, target, vm, prefix="undo")


def discard_vm(rt: Runtime, job: Header, source: Source, target: Target, vm: RebuiltVm | None = None,
               prefix: str = "discard") -> bool:
    """Delete the pair's VM, NIC and public IP when they are the job's (``cancel --discard``,
    a refused VM), in that order (Azure refuses to delete a NIC a VM holds). Raises Waiting
    while Azure deletes them; whether anything was there."""
    vm = vm or layout.rebuilt_vm(job, source, target)
    compute, network = rt.cloud.compute, rt.cloud.network
    found_vm = compute.find_vm(vm.id)
    found_nic = network.find_nic(vm.nic_id)
    steps: list[tuple[str, dict[str, str] | None, Callable[[], Operation | None]]] = [
        ("vm", found_vm.tags if found_vm else None, lambda: compute.delete(vm.id)),
        ("nic", found_nic.tags if found_nic else None, lambda: network.start_delete(vm.nic_id)),
    ]
    ip_id = vm.public_ip_id
    if ip_id is not None:
        steps.append(("ip", network.find_public_ip(ip_id), lambda: network.start_delete(ip_id)))
    found_any = False
    for kind, tags, delete in steps:
        name = _op(f"{prefix}-{kind}", source, target)
        if rt.store.operation(job.id, name) is None and not _ours(tags, job):
            continue
        found_any = True
        if not awaited(rt, job.id, name, delete).done:
            raise still_running(rt, job.id, [name], f"delete the {kind} of VM {vm.name}")
    return found_any


def _ours(tags: dict[str, str] | None, job: Header) -> bool:
    return tags is not None and tags.get(TAG_JOB) == job.id
