"""Freeze and export a source once, ready each target (the first step of every canvas).

The source part is shared by all targets of the source: whichever ``prepare`` comes first
takes a Redis lock, snapshots the disks (or deallocates the VM), grants one read SAS per
disk, puts each SAS in the vault (its first generation: see :mod:`.grants` for the
grants that may follow) and records what it made; the others find that record.
A disk that cannot be exported is recorded with its error, so that only its copies fail.
While the source is exported (its operations running, or another pair at it), the pair's
target is readied too, so that a staging account is created alongside the snapshots.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from diskferry.cloud.types import ResourceId
from diskferry.errors import Busy, DiskFailed, DiskferryError, JobFailed, NotFound, RetryLater, Throttled
from diskferry.model import TAG_JOB, Disk, Header, Phase, Role, Source, Target
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import cancel, layout
from diskferry.pipeline.grants import grant, grant_op
from diskferry.pipeline.outcome import PairOutcome, error_of
from diskferry.pipeline.runtime import PREPARE_LOCK_SECONDS, Runtime
from diskferry.pipeline.runtime import export_field as export_field  # where cleanup and older code look
from diskferry.pipeline.waits import awaited, progressed, still_running
from diskferry.state import background_field

Fields = dict[str, Any]
log = logging.getLogger(__name__)
#: the coordination set of the targets whose resource group (and staging account) are ready
TARGETS_READY = "targets_ready"


def prepare(rt: Runtime, job_id: str, source_key: str, target_key: str, owner: str | None = None) -> PairOutcome:
    """``owner`` (the task's id) holds the source lock, so that a redelivery of the same task
    takes back the lock its dead first run held instead of waiting for the lock to expire."""
    job, source, target = rt.store.pair(job_id, source_key, target_key)
    if cancel.requested(rt, job_id):  # diskferry cancel: freeze and grant nothing more
        return cancel.stop_pair(rt, job, source, target)
    done = rt.store.target_state(job_id, source.key, target.key)
    if Phase(done.get("phase", "pending")).terminal:
        # a run after the pair finished (a redelivered message): its cleanup already ran,
        # and what it deleted (the staging account, the snapshots) must not come back
        err = done.get("error") or {}
        return PairOutcome(source.key, target.key, not err, err.get("code"), err.get("message"))
    rt.store.update_target(job_id, source.key, target.key, phase=Phase.preparing)
    try:
        state = prepare_source(rt, job, source, owner)
    except RetryLater as exc:
        # not when throttled: the target's calls would spend (or queue for) the budget the
        # source's export waits for
        if not isinstance(exc, Throttled):
            _target_meanwhile(rt, job, source, target, owner)
        raise
    if state.get("error"):
        err = state["error"]
        rt.store.update_target(job_id, source.key, target.key, phase=Phase.preparing, error=err, held=None)
        return PairOutcome(source.key, target.key, False, err.get("code"), err.get("message"))
    try:
        prepare_target(rt, job, source, target, owner)
    except (DiskFailed, JobFailed, NotFound) as exc:
        rt.store.update_target(job_id, source.key, target.key, error=error_of(exc), held=None)
        return PairOutcome(source.key, target.key, False, exc.code, exc.message)
    # the step got through: what held it up (``held``, see ``diskferry.model.Held``) is gone too
    rt.store.update_target(job_id, source.key, target.key, phase=Phase.copying, held=None)
    return PairOutcome(source.key, target.key, True)


def _target_meanwhile(rt: Runtime, job: Header, source: Source, target: Target, owner: str | None) -> None:
    """While the source is exported, the target is readied too: a staging account takes as long
    as a snapshot or a grant (30 s each, say), and one after the other they made the first
    copies of a region start a whole operation later. Whatever readying the target meets (an
    operation running, a lock, the budget, an error) is left for the run that needs it, once
    the source is exported: that one records an error, as before."""
    try:
        prepare_target(rt, job, source, target, owner)
    except DiskferryError as exc:
        log.debug("target %s of job %s, readied early: %s", target.key, job.id, exc)


def prepare_source(rt: Runtime, job: Header, source: Source, owner: str | None = None) -> Fields:
    """The source's record once it is exported (or failed); raises RetryLater while another
    worker is at it."""
    state = rt.store.source_state(job.id, source.key)
    if state.get("prepared") or state.get("error"):
        return state
    with rt.store.lock(job.id, f"prepare|{source.key}", PREPARE_LOCK_SECONDS, owner) as taken:
        if not taken:
            raise Busy("SourceBeingPrepared", f"another worker prepares {source.name}", retry_after=2)
        since = time.time()
        state = rt.store.source_state(job.id, source.key)
        if state.get("prepared") or state.get("error"):
            return state
        rt.store.update_source(job.id, source.key, phase=Phase.preparing)
        try:
            # every disk goes as far as it can in this run; the task comes back for the rest
            waiting = [] if _freeze(rt, job, source) else [_deallocation(source)]
            if not waiting:
                needs_sas = layout.needs_sas(job, source)
                # a disk exported by an earlier run is not looked at again (its snapshot re-read,
                # its SAS re-fetched) while the others' operations run
                waiting = [name for disk in source.disks if not _exported(state, disk, needs_sas)
                           for name in _export(rt, job, source, disk, needs_sas, state)]
            if waiting:
                raise still_running(rt, job.id, waiting, f"prepare {source.name}", since=since)
        except (JobFailed, NotFound) as exc:
            rt.store.update_source(job.id, source.key, phase=Phase.failed, error=error_of(exc))
            return rt.store.source_state(job.id, source.key)
        rt.store.update_source(job.id, source.key, phase=Phase.copying, prepared=True)
    return rt.store.source_state(job.id, source.key)


def _deallocation(source: Source) -> str:
    return f"deallocate|{source.key}"


def _freeze(rt: Runtime, job: Header, source: Source) -> bool:
    """Deallocate the VM when the job asks for it (whether it is done); start it again at the
    end only if it was running (a VM stopped but still allocated ends deallocated: its disks
    cannot be read while it holds them, and nothing was running to bring back)."""
    if not layout.deallocates(job, source):
        return True
    compute = rt.cloud.compute
    name = _deallocation(source)
    if rt.store.operation(job.id, name) is None:
        power = compute.vm_power_state(source.resource_id)
        if power == "deallocated":
            return True
        if power in ("running", "starting"):
            # recorded before acting: a crash right after deallocating must still restart the VM
            rt.store.update_source(job.id, source.key, deallocated=True)
    return awaited(rt, job.id, name, lambda: compute.deallocate_vm(source.resource_id)).done


def _export(rt: Runtime, job: Header, source: Source, disk: Disk, needs_sas: bool, state: Fields) -> list[str]:
    """Take the disk's snapshot, then grant read access to what is read (each once); the
    operations still running (none once the disk's export is recorded, or failed).

    A grant's intent is recorded once the snapshot is there: a run that finds it (the grant
    still running, or refused by the ARM budget) does not read the snapshot again."""
    field = export_field(disk.key)
    read = layout.read_from(job, source, disk)
    entry: Fields = {"id": read.id, "kind": read.kind.value, "temporary": read.temporary, "granted": False}
    snapshot_known = bool((state.get(field) or {}).get("granted"))
    try:
        if read.temporary and not snapshot_known:
            if not _snapshot_taken(rt, job, source, disk, read.id, state):
                return [_snapshot_op(source, disk)]
            if layout.incremental_only(disk) and not _snapshot_usable(rt, job, source, disk, read.id):
                return [_background_copy_op(source, disk)]
        if needs_sas:
            # the intent is recorded first, so that cleanup revokes a grant even after a crash
            rt.store.update_source(job.id, source.key, **{field: entry | {"granted": True}})
            sas = grant(rt, job, source, disk, read.id, ours=read.temporary)
            if sas is None:
                return [grant_op(source, disk)]
            entry |= {"granted": True, "sas_expires": sas.expires_at, "sas_generation": sas.generation}
    except (DiskFailed, NotFound) as exc:
        entry["error"] = error_of(exc).as_dict()
    # exported: no run looks at its snapshot again, so what said it was begun (or how far its
    # background copy was) goes (the record that outlives the job stays within 1 KiB per disk)
    rt.store.update_source(job.id, source.key, **{field: entry, _snapshot_begun(disk): None,
                                                  background_field(disk.key): None})
    return []


def _exported(state: Fields, disk: Disk, needs_sas: bool) -> bool:
    """Whether the source's record says ``disk`` is exported (or failed to be): the last write of
    :func:`_export`, not the intent it records before granting."""
    entry = state.get(export_field(disk.key)) or {}
    return bool(entry) and ("error" in entry or "sas_generation" in entry or not needs_sas)


#: what the source record says of a snapshot made, whose background copy is waited for
MADE = "made"


def _snapshot_op(source: Source, disk: Disk) -> str:
    return f"snapshot|{source.key}|{disk.key}"


def _background_copy_op(source: Source, disk: Disk) -> str:
    return f"background|{source.key}|{disk.key}"


def _snapshot_begun(disk: Disk) -> str:
    """The source record's field that says a run began taking ``disk``'s snapshot."""
    return f"snapshot_begun|{disk.key}"


def _snapshot_taken(rt: Runtime, job: Header, source: Source, disk: Disk, snapshot_id: str, state: Fields) -> bool:
    """Whether the job's snapshot of ``disk`` exists and is complete (started once).

    Azure is asked whether it exists only by a run after one that began taking it and did not
    record its operation (it died in between): the first run records that it begins, then
    takes it. The name holds the job's id, so nothing else can have made it: one of the six ARM
    calls of a source disk's export saved, where a bulk job's ramp is spent."""
    name = _snapshot_op(source, disk)
    if state.get(_snapshot_begun(disk)) == MADE:
        return True  # its background copy is what is waited for now
    if rt.store.operation(job.id, name) is None:
        if not state.get(_snapshot_begun(disk)):
            rt.store.update_source(job.id, source.key, **{_snapshot_begun(disk): True})
        elif (found := rt.cloud.compute.find_disk(snapshot_id)) is not None:
            if found.tags.get(TAG_JOB) != job.id:
                raise DiskFailed("SnapshotNameTaken", f"snapshot {found.name} exists and is not this job's")
            if found.provisioning_state in (None, "Succeeded"):
                return True
            # made by a run that died before recording its operation: taken again, by name
    compute = rt.cloud.compute
    incremental = layout.incremental_only(disk)
    done = awaited(rt, job.id, name, lambda: compute.create_snapshot(
        snapshot_id, source_id=disk.resource_id, location=source.location, tags=layout.tags(job, Role.temporary),
        incremental=incremental,
    )).done
    if done and incremental:
        # runs that come back for its background copy do not look for the snapshot again
        rt.store.update_source(job.id, source.key, **{_snapshot_begun(disk): MADE})
    return done


def _snapshot_usable(rt: Runtime, job: Header, source: Source, disk: Disk, snapshot_id: str) -> bool:
    """Whether the snapshot of a Premium SSD v2 or Ultra disk can be exported: Azure copies such a
    snapshot in the background once it is made, and refuses to export or copy it until then. The
    snapshot is read when its background copy may have ended (``waits.progressed``); the task
    comes back in between, holding no worker slot."""
    def read() -> float | None:
        found = rt.cloud.compute.find_disk(snapshot_id)
        if found is None:
            raise NotFound("SnapshotGone", f"snapshot {ResourceId.parse(snapshot_id).name} was deleted while "
                           "Azure copied it in the background")
        if found.usable:
            return None
        percent = found.completion_percent or 0.0
        # for ``status``: a background copy of a large disk takes hours, in the prepare phase
        rt.store.update_source(job.id, source.key, **{background_field(disk.key): round(percent, 1)})
        return percent

    return progressed(rt, job.id, _background_copy_op(source, disk),
                      f"background copy of the snapshot of {disk.name}", source.subscription_id, read)


def prepare_target(rt: Runtime, job: Header, source: Source, target: Target, owner: str | None = None) -> None:
    """The target resource group; for a staged pair, the staging account and container. Once
    per target and job: the first pair to ready them says so, and the target's other pairs
    (one per source: hundreds in a bulk job) skip the ARM and blob calls that would find them.

    Under a lock, so that the pairs arriving while the first readies the target wait for it
    instead of each reading the same resource group and operation: at the start of a bulk job
    hundreds of prepares arrive together, and throttled, those reads (2.1 resource group reads
    per disk) spent the ARM read budget the snapshots and grants needed, whose refused runs read
    again. What is ready (each resource group) is recorded as it is, so that a run that meets a
    running operation or the budget does not read it again."""
    ready = f"{target.key}|{'staged' if job.staged(source, target) else 'direct'}"
    if rt.store.is_member(job.id, TARGETS_READY, ready):
        return
    with rt.store.lock(job.id, f"target|{ready}", PREPARE_LOCK_SECONDS, owner) as taken:
        if not taken:
            raise Busy("TargetBeingPrepared", f"another worker readies target {target.key}", retry_after=2)
        if rt.store.is_member(job.id, TARGETS_READY, ready):
            return
        _ready_target(rt, job, source, target, since=time.time())
        rt.store.count_member(job.id, TARGETS_READY, ready)


def _ensure_group(rt: Runtime, job: Header, subscription_id: str, group: str, region: str) -> None:
    """The resource group exists (made with the job's tags if it did not), once per job."""
    member = f"group|{subscription_id}|{group}".lower()
    if rt.store.is_member(job.id, TARGETS_READY, member):
        return
    rt.cloud.storage.ensure_resource_group(subscription_id, group, region, layout.tags(job, Role.result))
    rt.store.count_member(job.id, TARGETS_READY, member)


def _ready_target(rt: Runtime, job: Header, source: Source, target: Target, since: float) -> None:
    storage = rt.cloud.storage
    _ensure_group(rt, job, target.subscription_id, target.resource_group, target.region)
    if not job.staged(source, target):
        return
    staging = target.staging
    if staging is None:
        raise DiskFailed("NoStagingAccount", f"target {target.key} has no staging account")
    name = f"account|{staging.name}"
    account = None
    if rt.store.operation(job.id, name) is None:
        account = rt.staging_account(target, required=not staging.created_by_job)
    if account is None:
        # one operation for the job: every pair that uses the account checks the same one
        _ensure_group(rt, job, target.subscription_id, staging.resource_group, staging.region)
        made = awaited(rt, job.id, name, lambda: storage.create_account(
            target.subscription_id, staging.resource_group, staging.name, staging.region,
            layout.tags(job, Role.temporary),
        ))
        if not made.done:
            raise still_running(rt, job.id, [name], f"create staging account {staging.name}", since=since)
        account = rt.staging_account(target, fresh=True)
        assert account is not None
    with rt.staging_calls(target):  # deleted under the job: its pairs fail (StagingAccountGone)
        storage.ensure_container(account, STAGING_CONTAINER)
