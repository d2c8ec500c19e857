"""Stopping a job (``diskferry cancel JOB [--discard]``): no new work, nothing temporary left.

The request is a mark on the job record (:meth:`JobStore.request_cancel`). Every step looks
for it before doing anything, so the fleet stops the job by itself:

* ``prepare`` freezes and grants nothing; the pair's disks end ``cancelled``;
* a copy's next poll aborts a pending Copy Blob; the disk ends ``cancelled``;
* ``finalize`` imports nothing more and cleans up as always (:mod:`.cleanup`): staged VHDs,
  SAS grants, snapshots, a job-made staging account; a VM the job deallocated is started
  again; the source's claims are released.

Destination disks and images already made are kept — or, with ``discard``, deleted (only
those tagged with this job). When no worker is left to do it, the producer runs the same
:func:`cancel_pair` for every pair itself (:func:`sweep`): every step here is idempotent,
so a worker that wakes up afterwards finds the work done.
"""

from __future__ import annotations

import logging
from functools import partial

from diskferry.cloud import CopyState
from diskferry.model import TAG_JOB, Disk, Error, Header, Phase, Source, Target
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import cleanup, layout, rebuild
from diskferry.pipeline.outcome import DiskOutcome, PairOutcome
from diskferry.pipeline.runtime import Runtime, StagingAccountGone
from diskferry.pipeline.waits import awaited, still_running, until_done

log = logging.getLogger(__name__)
#: the error code of whatever a cancel stopped
CANCELLED = "JobCancelled"
_STOPPED = Error(CANCELLED, "cancelled by the operator (diskferry cancel)")


def requested(rt: Runtime, job_id: str) -> bool:
    return rt.store.cancel_request(job_id) is not None


def discarding(rt: Runtime, job_id: str) -> bool:
    return bool((rt.store.cancel_request(job_id) or {}).get("discard"))


def cancel_disk(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk) -> DiskOutcome:
    """Stop one disk's copy: abort it if it is pending (cleanup deletes the blob). A disk that
    already ended keeps its outcome."""
    state = rt.store.disk_state(job.id, source.key, target.key, disk.key)
    phase = Phase(state.get("phase", "pending"))
    if phase.terminal:
        err = state.get("error") or {}
        return DiskOutcome(disk.key, phase is Phase.succeeded, err.get("code"), err.get("message"))
    if job.staged(source, target) and phase is Phase.copying:
        _abort_copy(rt, job, source, target, disk)
    rt.store.update_disk(job.id, source.key, target.key, disk.key, phase=Phase.cancelled, error=_STOPPED,
                         rate=None, eta=None)
    return DiskOutcome(disk.key, False, _STOPPED.code, _STOPPED.message)


def _abort_copy(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk) -> None:
    account = rt.staging_account(target, required=False, fresh=True)
    if account is None:
        return
    blob = layout.staged_blob(job, source, target, disk)
    try:
        with rt.staging_calls(target):
            status = rt.cloud.storage.copy_status(account, STAGING_CONTAINER, blob)
            if status is not None and status.state is CopyState.pending and status.copy_id:
                rt.cloud.storage.abort_copy(account, STAGING_CONTAINER, blob, status.copy_id)
    except StagingAccountGone:
        return  # deleted since: its copies went with it


def stop_pair(rt: Runtime, job: Header, source: Source, target: Target) -> PairOutcome:
    """Mark what the pair had not finished as cancelled (its disks, and the pair)."""
    for disk in source.disks:
        cancel_disk(rt, job, source, target, disk)
    if not Phase(rt.store.target_state(job.id, source.key, target.key).get("phase", "pending")).terminal:
        rt.store.update_target(job.id, source.key, target.key, phase=Phase.cancelled, error=_STOPPED)
    return PairOutcome(source.key, target.key, False, _STOPPED.code, _STOPPED.message)


def cancel_pair(rt: Runtime, job: Header, source: Source, target: Target, *, discard: bool) -> PairOutcome:
    """Stop the pair, clean up what it made for itself (and its source's and staging account's
    leftovers when it is their last user), and with ``discard`` delete its results."""
    outcome = stop_pair(rt, job, source, target)
    if not rt.store.target_state(job.id, source.key, target.key).get("cleaned"):
        cleanup.cleanup_pair(rt, job, source, target)
    if discard:
        discard_pair(rt, job, source, target)
    return outcome


def discard_pair(rt: Runtime, job: Header, source: Source, target: Target) -> None:
    """Delete the VM (with its NIC and public IP), the image and the destination disks this job
    made for the pair (tagged with it); raises Waiting while Azure deletes them."""
    compute = rt.cloud.compute
    if job.rebuilds_vm(source, target) and rebuild.discard_vm(rt, job, source, target):
        # first: Azure refuses to delete a disk a VM holds
        rt.store.update_target(job.id, source.key, target.key, vm_discarded=True)
    deleting = []
    if job.builds_image(source):
        image_id = layout.image_id(job, source, target)
        name = f"discard|{source.key}|{target.key}"
        started = rt.store.operation(job.id, name) is not None
        if not started:
            image = compute.find_image(image_id)
            started = image is not None and image.tags.get(TAG_JOB) == job.id
        if started:
            if awaited(rt, job.id, name, lambda: compute.delete(image_id)).done:
                rt.store.update_target(job.id, source.key, target.key, discarded=True)
            else:
                deleting.append(name)
    for disk in source.disks:
        name = f"discard|{source.key}|{target.key}|{disk.key}"
        if cleanup.delete_own(rt, job, layout.destination(job, source, target, disk).id, name):
            rt.store.update_disk(job.id, source.key, target.key, disk.key, discarded=True)
        else:
            deleting.append(name)
    if deleting:
        raise still_running(rt, job.id, deleting, f"discard the results of {source.name} in {target.region}")


def sweep(rt: Runtime, job_id: str) -> None:
    """Cancel every pair from here: what the workers would do, for a job they no longer run."""
    job = rt.store.job(job_id)
    discard = discarding(rt, job_id)
    for source, target in job.pairs():
        log.info("cancelling %s → %s of job %s", source.name, target.region, job_id)
        until_done(partial(cancel_pair, rt, job, source, target, discard=discard))
