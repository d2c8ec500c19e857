"""Freeze and export a source once, ready each target (the first step of every canvas).

The source part is shared by all targets of the source: whichever ``prepare`` comes first
takes a Redis lock, snapshots the disks (or deallocates the VM), grants one read SAS per
disk, puts each SAS in the vault (its first generation: see :mod:`.grants` for the
grants that may follow) and records what it made; the others find that record.
A disk that cannot be exported is recorded with its error, so that only its copies fail.
"""

from __future__ import annotations

from typing import Any

from diskferry.errors import Busy, DiskFailed, DiskferryError, JobFailed, NotFound
from diskferry.model import TAG_JOB, Consistency, Disk, ExportKind, Job, Phase, Role, Source, SourceKind, Target
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import cancel, layout
from diskferry.pipeline.grants import grant
from diskferry.pipeline.outcome import PairOutcome, error_of
from diskferry.pipeline.runtime import PREPARE_LOCK_SECONDS, Runtime
from diskferry.pipeline.runtime import export_field as export_field  # where cleanup and older code look

Fields = dict[str, Any]


def prepare(rt: Runtime, job_id: str, source_key: str, target_key: str) -> PairOutcome:
    job = rt.store.job(job_id)
    source, target = job.source(source_key), job.target(target_key)
    if cancel.requested(rt, job_id):  # diskferry cancel: freeze and grant nothing more
        return cancel.stop_pair(rt, job, source, target)
    done = rt.store.target_state(job_id, source.key, target.key)
    if Phase(done.get("phase", "pending")).terminal:
        # a run after the pair finished (a redelivered message): its cleanup already ran,
        # and what it deleted (the staging account, the snapshots) must not come back
        err = done.get("error") or {}
        return PairOutcome(source.key, target.key, not err, err.get("code"), err.get("message"))
    rt.store.update_target(job_id, source.key, target.key, phase=Phase.preparing)
    state = prepare_source(rt, job, source)
    if state.get("error"):
        err = state["error"]
        rt.store.update_target(job_id, source.key, target.key, phase=Phase.preparing, error=err)
        return PairOutcome(source.key, target.key, False, err.get("code"), err.get("message"))
    try:
        prepare_target(rt, job, source, target)
    except (DiskFailed, JobFailed, NotFound) as exc:
        rt.store.update_target(job_id, source.key, target.key, error=error_of(exc))
        return PairOutcome(source.key, target.key, False, exc.code, exc.message)
    rt.store.update_target(job_id, source.key, target.key, phase=Phase.copying)
    return PairOutcome(source.key, target.key, True)


def prepare_source(rt: Runtime, job: Job, source: Source) -> Fields:
    """The source's record once it is exported (or failed); raises RetryLater while another
    worker is at it."""
    state = rt.store.source_state(job.id, source.key)
    if state.get("prepared") or state.get("error"):
        return state
    with rt.store.lock(job.id, f"prepare|{source.key}", PREPARE_LOCK_SECONDS) as taken:
        if not taken:
            raise Busy("SourceBeingPrepared", f"another worker prepares {source.name}", retry_after=2)
        state = rt.store.source_state(job.id, source.key)
        if state.get("prepared") or state.get("error"):
            return state
        rt.store.update_source(job.id, source.key, phase=Phase.preparing)
        try:
            _freeze(rt, job, source)
            needs_sas = any(job.staged(source, t) for t in job.targets)
            for disk in source.disks:
                _export(rt, job, source, disk, needs_sas)
        except (JobFailed, NotFound) as exc:
            rt.store.update_source(job.id, source.key, phase=Phase.failed, error=error_of(exc))
            return rt.store.source_state(job.id, source.key)
        rt.store.update_source(job.id, source.key, phase=Phase.copying, prepared=True)
    return rt.store.source_state(job.id, source.key)


def _freeze(rt: Runtime, job: Job, source: Source) -> None:
    """Deallocate the VM when the job asks for it; start it again at the end only if it was
    running (a VM stopped but still allocated ends deallocated: its disks cannot be read
    while it holds them, and nothing was running to bring back)."""
    if source.kind is not SourceKind.vm or job.options.consistency is not Consistency.deallocate:
        return
    power = rt.cloud.compute.vm_power_state(source.resource_id)
    if power == "deallocated":
        return
    if power in ("running", "starting"):
        # recorded before acting: a crash right after deallocating must still restart the VM
        rt.store.update_source(job.id, source.key, deallocated=True)
    rt.cloud.compute.deallocate_vm(source.resource_id)


def _read_from(job: Job, source: Source, disk: Disk) -> tuple[str, ExportKind, bool]:
    """(resource id, kind, temporary) of what a disk's data is read from."""
    if source.kind is SourceKind.image:
        if disk.kind is ExportKind.snapshot:
            return disk.resource_id, ExportKind.snapshot, False
        return layout.snapshot_id(job, source, disk), ExportKind.snapshot, True
    if job.options.consistency is Consistency.snapshot:
        return layout.snapshot_id(job, source, disk), ExportKind.snapshot, True
    return disk.resource_id, ExportKind.disk, False


def _export(rt: Runtime, job: Job, source: Source, disk: Disk, needs_sas: bool) -> None:
    field = export_field(disk.key)
    export_id, kind, temporary = _read_from(job, source, disk)
    entry: Fields = {"id": export_id, "kind": kind.value, "temporary": temporary, "granted": False}
    try:
        if temporary:
            _ensure_snapshot(rt, job, source, disk, export_id)
        if needs_sas:
            # the intent is recorded first, so that cleanup revokes a grant even after a crash
            rt.store.update_source(job.id, source.key, **{field: entry | {"granted": True}})
            sas = grant(rt, job, source, disk, export_id)
            entry |= {"granted": True, "sas_expires": sas.expires_at, "sas_generation": sas.generation}
    except (DiskFailed, NotFound) as exc:
        entry["error"] = error_of(exc).as_dict()
    rt.store.update_source(job.id, source.key, **{field: entry})


def _ensure_snapshot(rt: Runtime, job: Job, source: Source, disk: Disk, snapshot_id: str) -> None:
    found = rt.cloud.compute.find_disk(snapshot_id)
    if found is not None:
        if found.tags.get(TAG_JOB) != job.id:
            raise DiskFailed("SnapshotNameTaken", f"snapshot {found.name} exists and is not this job's")
        return
    rt.cloud.compute.create_snapshot(
        snapshot_id, source_id=disk.resource_id, location=source.location, tags=layout.tags(job, Role.temporary)
    )


def prepare_target(rt: Runtime, job: Job, source: Source, target: Target) -> None:
    """The target resource group; for a staged pair, the staging account and container."""
    storage = rt.cloud.storage
    storage.ensure_resource_group(
        target.subscription_id, target.resource_group, target.region, layout.tags(job, Role.result)
    )
    if not job.staged(source, target):
        return
    staging = target.staging
    if staging is None:
        raise DiskFailed("NoStagingAccount", f"target {target.key} has no staging account")
    account = rt.staging_account(target, required=not staging.created_by_job)
    if account is None:
        storage.ensure_resource_group(
            target.subscription_id, staging.resource_group, staging.region, layout.tags(job, Role.result)
        )
        try:
            account = storage.create_account(
                target.subscription_id, staging.resource_group, staging.name, staging.region,
                layout.tags(job, Role.temporary),
            )
        except DiskferryError:
            # another pair of this job may have created it at the same moment
            account = rt.staging_account(target, required=False)
            if account is None:
                raise
    storage.ensure_container(account, STAGING_CONTAINER)
