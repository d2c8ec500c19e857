"""One disk to one target: start the copy, then report on it until it ends — never wait.

:func:`advance` is called again and again (the task re-enqueues itself on the poll queue)
and each call does one thing: start the copy when there is none, or read its progress.
Because the staged blob's name is a function of (job, source, target, disk), a call
after a crash finds the copy the first call started instead of starting another.

A target in the source's own region takes the short path: one disk ``Copy`` from the
snapshot (or disk), no SAS and no staging copy.
"""

from __future__ import annotations

import re
import time
from typing import Any

from diskferry.cloud import CopyState
from diskferry.errors import DiskFailed, JobFailed, NotFound
from diskferry.model import TAG_JOB, TAG_ROLE, Disk, Error, Job, Phase, Role, Source, Target
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import layout
from diskferry.pipeline.outcome import DiskOutcome, Pending, error_of, fail_disk
from diskferry.pipeline.prepare import export_field
from diskferry.pipeline.runtime import Runtime, sas_name

Fields = dict[str, Any]
_DESCRIPTION = re.compile(r"^\s*(\d{3})\s+([A-Za-z]+)")
#: phases after which a disk's copy has ended (successfully or not)
_ENDED = (Phase.copied, Phase.importing, Phase.imaging, Phase.succeeded, Phase.failed)


def advance(rt: Runtime, job_id: str, source_key: str, target_key: str, disk_key: str) -> DiskOutcome | Pending:
    job = rt.store.job(job_id)
    source, target = job.source(source_key), job.target(target_key)
    disk = source.disk(disk_key)
    state = rt.store.disk_state(job.id, source.key, target.key, disk.key)
    phase = Phase(state.get("phase", "pending"))
    if phase in _ENDED:
        return _recorded(disk.key, phase, state)
    blocked = _blocker(rt, job, source, target, disk)
    if blocked is not None:
        return fail_disk(rt.store, job.id, source.key, target.key, disk.key, blocked)
    try:
        if job.staged(source, target):
            return _staged(rt, job, source, target, disk, state)
        return _clone(rt, job, source, target, disk)
    except (DiskFailed, JobFailed, NotFound) as exc:
        outcome = fail_disk(rt.store, job.id, source.key, target.key, disk.key, error_of(exc))
        _copy_ended(rt, job, source, target, disk)
        return outcome


def _recorded(disk_key: str, phase: Phase, state: Fields) -> DiskOutcome:
    if phase is Phase.failed:
        err = state.get("error") or {}
        return DiskOutcome(disk_key, False, err.get("code"), err.get("message"))
    return DiskOutcome(disk_key, True)


def _blocker(rt: Runtime, job: Job, source: Source, target: Target, disk: Disk) -> Error | None:
    """Why this disk cannot be copied at all (prepare failed for it), if so."""
    for doc in (rt.store.source_state(job.id, source.key), rt.store.target_state(job.id, source.key, target.key)):
        err = doc.get("error")
        if err:
            return Error(err.get("code", "PrepareFailed"), err.get("message", ""))
    export = rt.store.source_state(job.id, source.key).get(export_field(disk.key))
    if not export:
        return Error("NotPrepared", f"disk {disk.key} of {source.name} was not exported")
    if export.get("error"):
        return Error(export["error"].get("code", "ExportFailed"), export["error"].get("message", ""))
    return None


def _clone(rt: Runtime, job: Job, source: Source, target: Target, disk: Disk) -> DiskOutcome:
    """Same region: a disk ``Copy`` of the snapshot (or disk), honouring sku, zone and names."""
    export = rt.store.source_state(job.id, source.key)[export_field(disk.key)]
    dest = layout.destination(job, source, target, disk)
    rt.store.update_disk(job.id, source.key, target.key, disk.key, phase=Phase.copying, result_name=dest.name)
    found = rt.cloud.compute.find_disk(dest.id)
    if found is not None and found.tags.get(TAG_JOB) != job.id:
        raise DiskFailed("DiskAlreadyExists", f"disk {dest.name} exists and is not this job's")
    if found is None:
        found = rt.cloud.compute.copy_disk(
            dest.id, location=target.region, source_id=export["id"], sku=target.sku or disk.sku, zone=target.zone,
            os_type=disk.os_type, hyper_v_generation=disk.hyper_v_generation or source.hyper_v_generation,
            tags=layout.tags(job, dest.role),
        )
    total = disk.size_bytes
    rt.store.update_disk(
        job.id, source.key, target.key, disk.key, phase=Phase.copied, bytes_copied=total, bytes_total=total,
        result_id=found.id, eta=0,
    )
    return DiskOutcome(disk.key, True)


def _staged(rt: Runtime, job: Job, source: Source, target: Target, disk: Disk, state: Fields) -> DiskOutcome | Pending:
    account = rt.staging_account(target)
    assert account is not None
    blob = layout.staged_blob(job, source, target, disk)
    storage = rt.cloud.storage
    status = storage.copy_status(account, STAGING_CONTAINER, blob)
    now = time.time()
    if status is None:
        sas = rt.vault.get(job.id, sas_name(source.key, disk.key))
        if sas is None:
            raise DiskFailed("SasUnavailable", f"the read SAS of {disk.name} expired or was revoked before the copy")
        # metadata names must be C# identifiers: the tags' hyphens become underscores
        metadata = {TAG_JOB.replace("-", "_"): job.id, TAG_ROLE.replace("-", "_"): Role.temporary.value}
        storage.start_copy(account, STAGING_CONTAINER, blob, sas, metadata)
        rt.store.update_disk(
            job.id, source.key, target.key, disk.key, phase=Phase.copying, started=now,
            deadline=now + rt.settings.copy_deadline_seconds, sample_time=now, sample_bytes=0,
        )
        return Pending(rt.settings.poll_seconds)
    if status.state is CopyState.pending:
        deadline = float(state.get("deadline") or now + rt.settings.copy_deadline_seconds)
        if now > deadline:
            if status.copy_id:
                storage.abort_copy(account, STAGING_CONTAINER, blob, status.copy_id)
            raise DiskFailed("CopyDeadlineExceeded", f"the copy of {disk.name} was still pending at its deadline")
        _progress(rt, job, source, target, disk, state, status.copied, status.total, now)
        return Pending(rt.settings.poll_seconds)
    if status.state is CopyState.success:
        rt.store.update_disk(
            job.id, source.key, target.key, disk.key, phase=Phase.copied, bytes_copied=status.total,
            bytes_total=status.total, eta=0,
        )
        _copy_ended(rt, job, source, target, disk)
        return DiskOutcome(disk.key, True)
    raise DiskFailed(*_copy_error(status.state, status.description))


def _progress(rt: Runtime, job: Job, source: Source, target: Target, disk: Disk, state: Fields,
              copied: int, total: int, now: float) -> None:
    """Bytes, rate (smoothed over polls) and ETA into the job record."""
    last_time = float(state.get("sample_time") or now)
    last_bytes = int(state.get("sample_bytes") or 0)
    rate = state.get("rate")
    if now > last_time and copied >= last_bytes:
        fresh = (copied - last_bytes) / (now - last_time)
        rate = fresh if rate is None else 0.5 * float(rate) + 0.5 * fresh
    eta = (total - copied) / rate if rate else None
    rt.store.update_disk(
        job.id, source.key, target.key, disk.key, phase=Phase.copying, bytes_copied=copied,
        bytes_total=total or disk.size_bytes, rate=rate, eta=eta, sample_time=now, sample_bytes=copied,
    )


def _copy_error(state: CopyState, description: str | None) -> tuple[str, str]:
    """Azure's code from ``x-ms-copy-status-description`` ("403 CannotVerifyCopySource ...")."""
    text = description or f"copy {state.value}"
    if state is CopyState.aborted:
        return "CopyAborted", text
    m = _DESCRIPTION.match(text)
    return (m.group(2) if m else "CopyFailed"), text


def _copy_ended(rt: Runtime, job: Job, source: Source, target: Target, disk: Disk) -> None:
    """Once every staged target of a disk has its copy, its SAS is of no more use: revoke it now
    (the last finalize of the source revokes again, harmlessly)."""
    if not job.staged(source, target):
        return
    staged = {t.key for t in job.targets if job.staged(source, t)}
    ended = rt.store.add_member(job.id, f"copied|{source.key}|{disk.key}", target.key)
    if not staged <= ended:
        return
    export = rt.store.source_state(job.id, source.key).get(export_field(disk.key)) or {}
    rt.vault.delete(job.id, sas_name(source.key, disk.key))
    if export.get("granted"):
        rt.cloud.compute.revoke(export["id"])
