"""What a job leaves behind, removed as soon as nobody needs it — and "not found" is done.

* a **pair** (source, target): its staged VHDs (aborting a copy still pending), and the
  temporary disks an image was built from (or was to be);
* a **source**, once its last target has finished (a Redis set of finished targets, so
  the check is idempotent under re-runs): every SAS revoked, vault entries deleted,
  temporary snapshots deleted, a VM the job deallocated started again, and the job's claims
  on it released (:mod:`diskferry.claims`);
* a **staging account** the job created, once the last pair using it has finished.

Cleanup runs after success, failure and unexpected errors alike (finalize and the errback).
A transient failure makes the task run it again; what Azure will not remove (a group locked
against deletes, a VM it cannot start again) is recorded as a ``cleanup_error`` on the pair
or source, and the job still ends — failed, naming what was left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from diskferry import claims
from diskferry.cloud import AccountInfo, CopyState
from diskferry.errors import DiskFailed, DiskferryError, RetryLater, Waiting
from diskferry.model import TAG_JOB, Disk, Error, Header, Phase, Source, StagingAccount, Target
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import layout
from diskferry.pipeline.grants import revoke, revoke_op
from diskferry.pipeline.outcome import fail_disk
from diskferry.pipeline.runtime import Runtime, StagingAccountGone, export_field, sas_name
from diskferry.pipeline.waits import awaited, still_running
from diskferry.state import SAME_RESULT_ID, result_disk_id, watcher_held_key

log = logging.getLogger(__name__)
#: what a pair's record needs only while it runs: the watchdog's copy of each step's request
#: (ids and chord signatures: most of the record) — reduced to the request's id once the pair
#: is cleaned; when each step was due and how often it was re-sent stay, as history
_PAIR_REQUESTS = ("prepare", "finalize", "cleanup")
_DISK_REQUESTS = ("poll",)
#: a disk's copy sampling and restart bookkeeping, of no use once the pair is cleaned
_DISK_WORKING = ("poll_first", "sample_time", "sample_bytes", "rate", "eta", "deadline",
                 "sas_generation", "stale_generation", "failed_copy", "poll_errors", "held")
#: what a cleaned pair's record keeps only until the job's Celery results are forgotten (the ids
#: :func:`diskferry.tasks.results.forget_results` finds them by), and when each step was due:
#: dropped by :func:`forget_requests` once the job is over, so that its record keeps outcomes
#: and history (restarts, re-sends), within 1 KiB per disk
_UNTIL_FORGOTTEN: dict[str, tuple[str, ...]] = {
    "tgt": (*_PAIR_REQUESTS, "chords", *(f"{step}_due" for step in _PAIR_REQUESTS)),
    "disk": (*_DISK_REQUESTS, "poll_due"),
    "meta": ("watchdog", "watchdog_due"),
}
#: what a source's record keeps of each disk's export once the source is cleaned
_EXPORT_HISTORY = ("error", "sas_generation", "regrants")
#: the phases of a disk whose copy succeeded (its staged VHD has no copy pending)
_COPY_SUCCEEDED = (Phase.copied, Phase.importing, Phase.imaging, Phase.succeeded)
#: phases of a disk whose copy has ended, well or not
_COPY_ENDED = (*_COPY_SUCCEEDED, Phase.rebuilding, Phase.cleaning, Phase.failed, Phase.cancelled)
#: the coordination set of the job-made staging accounts whose deletion has begun
DELETING_ACCOUNTS = "deleting_accounts"
#: the coordination set of the job's cleaned pairs
CLEANED = "cleaned"
#: (what is left if the step fails, the step)
Step = tuple[str, Callable[[], None]]


def abandon_pair(rt: Runtime, job_id: str, source_key: str, target_key: str, error: Error) -> None:
    """After an unexpected error: mark what is unfinished as failed, then clean up."""
    job, source, target = rt.store.pair(job_id, source_key, target_key)
    fail_unfinished(rt, job, source, target, error)
    cleanup_pair(rt, job, source, target)


def fail_unfinished(rt: Runtime, job: Header, source: Source, target: Target, error: Error) -> None:
    """The pair failed as a whole: so did each of its disks that had no outcome yet (none
    stays "importing" in a finished job), and the pair itself unless it had one."""
    for disk in source.disks:
        state = rt.store.disk_state(job.id, source.key, target.key, disk.key)
        if not Phase(state.get("phase", "pending")).terminal:
            fail_disk(rt.store, job.id, source.key, target.key, disk.key, error)
    if not Phase(rt.store.target_state(job.id, source.key, target.key).get("phase", "pending")).terminal:
        rt.store.update_target(job.id, source.key, target.key, phase=Phase.failed, error=error)


def cleanup_pair(rt: Runtime, job: Header, source: Source, target: Target) -> None:
    """What the pair made for itself; the source's and the staging account's leftovers when
    it is their last user. What cannot be removed (a resource group locked against deletes)
    is recorded as the pair's ``cleanup_error``; the job still ends."""
    steps: list[Step] = []
    if job.staged(source, target) and target.staging is not None:
        steps.append((f"staged VHDs may be left in {target.staging.name}", partial(_delete_staged, rt, job, source,
                                                                                   target)))
    if job.builds_image(source) and not job.options.keep_image_disks:
        steps.append(("temporary disks may be left", partial(_delete_orphan_image_disks, rt, job, source, target)))
    lasting = run_all(steps, f"{source.name} → {target.region}")
    finished = rt.store.add_member(job.id, f"finished|{source.key}", target.key)
    if {t.key for t in job.targets} <= finished:
        cleanup_source(rt, job, source)
        # a cleanup run again finds the set short and leaves the cleaned source alone
        rt.store.drop_set(job.id, f"finished|{source.key}")
    staging = target.staging
    if job.staged(source, target) and staging is not None and staging.created_by_job:
        # pairs are counted by name, so a cleanup run twice counts once
        done = rt.store.count_member(job.id, f"account|{staging.name}", f"{source.key}|{target.key}")
        if done >= job.staging_pairs.get(staging.name, 0):
            left = f"staging account {staging.name} is left"
            refused = run_all([(left, partial(_delete_account, rt, job, target, staging))], staging.name)
            lasting = lasting or refused
            # a cleanup run again counts 1 of N and leaves the deleted account alone
            rt.store.drop_set(job.id, f"account|{staging.name}")
    # the record keeps outcomes, not what the watchdog and the polls needed while the pair ran
    groups = set()
    for disk in source.disks:
        state = rt.store.disk_state(job.id, source.key, target.key, disk.key)
        groups.add((state.get("poll") or {}).get("group"))
        compact = dict.fromkeys(_DISK_WORKING) | _ids_only(state, _DISK_REQUESTS)
        if state.get("result_name") and state.get("result_id") == result_disk_id(target, state["result_name"]):
            compact["result_id"] = SAME_RESULT_ID  # the status makes it again from the name
        rt.store.update_disk(job.id, source.key, target.key, disk.key, **compact)
    pair = rt.store.target_state(job.id, source.key, target.key)
    # the chord's id, once for the pair: its results are removed when the job is over
    chords = sorted(g for g in groups if isinstance(g, str)) or pair.get("chords")
    # last: once every pair is cleaned, so are the sources and accounts (the last pair of
    # each did those before getting here)
    rt.store.update_target(job.id, source.key, target.key, cleaned=True, cleanup_error=lasting, chords=chords,
                           held=None, **_ids_only(pair, _PAIR_REQUESTS))
    # counted by name, so a cleanup run twice counts once: the job is over when all are counted
    rt.store.count_member(job.id, CLEANED, f"{source.key}|{target.key}")


def forget_requests(rt: Runtime, job_id: str) -> int:
    """Drop the task ids and due times of a job that is over, once its results are forgotten
    (``diskferry.tasks.results.forget``: nothing sends or looks for its tasks any more). A task
    that still runs after this (a late redelivery) may write its id back: only bytes, no harm.
    How many fields changed. The record's change log goes too: nothing follows a job over."""
    rt.store.drop_changes(job_id)
    # and what held up each target's copy watcher, had its last round no listing to clear it
    held = tuple(watcher_held_key(target.key) for target in rt.store.header(job_id).targets)
    return rt.store.drop_keys(job_id, _UNTIL_FORGOTTEN | {"meta": (*_UNTIL_FORGOTTEN["meta"], *held)})


def job_over(rt: Runtime, job: Header) -> bool:
    """Whether every pair of the job is cleaned (False for a record that does not count them)."""
    return 0 < job.pair_count <= rt.store.set_size(job.id, CLEANED)


def _ids_only(state: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The task requests the watchdog kept in ``state``, reduced to their ids (what Flower
    and the workers' logs know them by)."""
    return {n: {"id": state[n].get("id")} for n in names if isinstance(state.get(n), dict)}


def run_all(steps: list[Step], where: str) -> Error | None:
    """Run every step even when one fails. A transient failure is raised at the end, so that
    the task runs cleanup again; the first failure that running again will not mend is
    returned, saying what it leaves behind."""
    transient: RetryLater | None = None
    lasting: Error | None = None
    for left, step in steps:
        try:
            step()
        except Waiting as exc:
            transient = transient or exc  # Azure is at it: the task comes back
        except RetryLater as exc:
            log.warning("cleanup of %s: %s (will retry)", where, exc)
            transient = transient or exc
        except DiskferryError as exc:
            log.warning("cleanup of %s: %s; %s", where, exc, left)
            lasting = lasting or Error(exc.code, f"{exc.message}; {left}")
    if transient is not None:
        raise transient
    return lasting


def _delete_account(rt: Runtime, job: Header, target: Target, staging: StagingAccount) -> None:
    # said before it is done: a pair's cleanup run after it (a redelivery) must look again
    rt.store.count_member(job.id, DELETING_ACCOUNTS, staging.name)
    rt.cloud.storage.delete_account(target.subscription_id, staging.resource_group, staging.name)
    rt.forget_account(staging)


def _delete_staged(rt: Runtime, job: Header, source: Source, target: Target) -> None:
    # the account is deleted only after every pair using it has cleaned its VHDs: until the job
    # says it deletes it, the process's copy of it answers (one ARM read per pair saved: under
    # Azure's read budget, 200 pairs' cleanups waited 8 s for them)
    assert target.staging is not None
    deleting = rt.store.is_member(job.id, DELETING_ACCOUNTS, target.staging.name)
    account = rt.staging_account(target, required=False, fresh=deleting)
    if account is None:
        return  # its blobs went with it
    try:
        with rt.staging_calls(target):
            _delete_blobs(rt, job, source, target, account)
    except StagingAccountGone:
        return  # deleted under the job (this process had it cached): its blobs went with it
    except DiskFailed as exc:
        if not target.staging.created_by_job:
            raise
        # refused for good (a policy turned off its shared-key access): the job deletes the account
        # it made, blobs and all, once its last pair is cleaned — nothing is left by this, and
        # should that deletion be refused, the last pair says the account is left
        log.info("cleanup of %s → %s: %s; left to the staging account's deletion", source.name, target.region, exc)


def _delete_blobs(rt: Runtime, job: Header, source: Source, target: Target, account: AccountInfo) -> None:
    storage = rt.cloud.storage
    for disk in source.disks:
        blob = layout.staged_blob(job, source, target, disk)
        phase = Phase(rt.store.disk_state(job.id, source.key, target.key, disk.key).get("phase", "pending"))
        if phase in _COPY_SUCCEEDED:
            # its copy ended well, so none is pending to abort: no status read (a blob call per
            # disk in every job's wind-down)
            storage.delete_blob(account, STAGING_CONTAINER, blob)
            continue
        status = storage.copy_status(account, STAGING_CONTAINER, blob)
        if status is None:
            continue
        if status.state is CopyState.pending and status.copy_id:
            storage.abort_copy(account, STAGING_CONTAINER, blob, status.copy_id)
        storage.delete_blob(account, STAGING_CONTAINER, blob)


def _delete_orphan_image_disks(rt: Runtime, job: Header, source: Source, target: Target) -> None:
    """The temporary disks an image is built from: once it exists (it holds its own copy of the
    data), or cannot be built, or after an unexpected error."""
    deleting = []
    for disk in source.disks:
        name = f"delete|{source.key}|{target.key}|{disk.key}"
        if not delete_own(rt, job, layout.destination(job, source, target, disk).id, name):
            deleting.append(name)
    if deleting:
        raise still_running(rt, job.id, deleting, f"delete the temporary disks of {source.name} in {target.region}")


def delete_own(rt: Runtime, job: Header, resource_id: str, name: str, *, made: bool = False) -> bool:
    """Delete a disk, snapshot or image the job made (tagged with its id); whether it is gone.
    ``made``: the job's record says this job made it, so it is not read first to check its tag
    (Azure answers a DELETE of one that is gone with 204: done)."""
    compute = rt.cloud.compute
    if not made and rt.store.operation(job.id, name) is None:
        found = compute.find_disk(resource_id)
        if found is None or found.tags.get(TAG_JOB) != job.id:
            return True
    return awaited(rt, job.id, name, lambda: compute.delete(resource_id)).done


def cleanup_source(rt: Runtime, job: Header, source: Source) -> None:
    """Revoke, delete temporary snapshots, restart the VM. Each item is tried even when another
    fails. A transient failure is raised at the end, so that the task runs cleanup again; one
    that running again will not mend (the VM cannot be started: ``AllocationFailed``, or was
    deleted meanwhile) is recorded as the source's ``cleanup_error`` instead, so that the rest
    of the job's cleanup goes on and the job ends, failed, saying what was left."""
    state = rt.store.source_state(job.id, source.key)
    steps: list[Step] = [
        (f"the SAS or snapshot of disk {disk.key} may be left",
         partial(_undo_export, rt, job, source, disk, state.get(export_field(disk.key)) or {}))
        for disk in source.disks
    ]
    if state.get("deallocated") and not state.get("restarted"):
        steps.append((f"VM {source.name} is left deallocated", partial(_restart, rt, job, source)))
    lasting = run_all(steps, source.name)
    if lasting is not None or state.get("cleanup_error"):
        rt.store.update_source(job.id, source.key, cleanup_error=lasting)
    if lasting is None:
        # undone: what each export made (its snapshot's id, its SAS's expiry) is of no more use;
        # its outcome (an error) and its grants' count stay, as history
        rt.store.update_source(job.id, source.key, **{
            export_field(disk.key): {k: v for k, v in (state.get(export_field(disk.key)) or {}).items()
                                     if k in _EXPORT_HISTORY} or None
            for disk in source.disks})
    # the job reads this source no more: another job may grant on it, or deallocate it
    claims.release(rt.store, job, source)


def release_early(rt: Runtime, job: Header, source: Source) -> None:
    """A source's temporary snapshots deleted while its pairs still import, as far as that goes
    without waiting (the source's cleanup finds the same operations and finishes them).

    Once every copy of a disk has ended, its SAS is revoked (``copy._copy_ended`` starts it);
    when every target of the source is staged, nothing reads the snapshot after that — the
    imports read the staged VHDs. Left to the source's cleanup, the snapshot's deletion came
    after the last import, one operation more at the end of the job (30 s with Azure's
    operations taking 30 s). Called by a staged pair's finalize runs, before their imports."""
    if not all(job.staged(source, target) for target in job.targets):
        return  # a target made straight from the snapshot may still read it
    state = rt.store.source_state(job.id, source.key)
    for disk in source.disks:
        export = state.get(export_field(disk.key)) or {}
        if not export.get("granted") or export.get("snapshot_deleted"):
            continue
        # the revoke the last copy's end started; or, when that one was refused (the fleet's ARM
        # budget spent as a job's copies end together: imports and revokes at once), started
        # here once every copy of the disk has ended. Left to the source's cleanup, it came after
        # the imports, and the snapshot's deletion after it: two operations in a row at the end of
        # the job (90 s after the last copy with Azure's operations taking 30 s, against 60 s)
        started = export.get("revoked") or rt.store.operation(job.id, revoke_op(source, disk)) is not None
        if not started and not _copies_ended(rt, job, source, disk):
            continue
        try:
            _undo_export(rt, job, source, disk, export)
        except RetryLater:
            continue  # revoking or deleting: a later run (or the source's cleanup) goes on
        except DiskferryError as exc:
            # refused for good (a resource group locked against deletes): not the pair's failure.
            # The source's cleanup meets it again and records what is left (``cleanup_error``)
            log.info("%s: the early release of disk %s is left to the source's cleanup: %s", source.name, disk.key,
                     exc)
            continue
        # read again: the revoke recorded itself in the same field meanwhile
        export = rt.store.source_state(job.id, source.key).get(export_field(disk.key)) or {}
        rt.store.update_source(job.id, source.key, **{export_field(disk.key): export | {"snapshot_deleted": True}})


def _copies_ended(rt: Runtime, job: Header, source: Source, disk: Disk) -> bool:
    """Whether the copy of ``disk`` to every target has ended (well or not): its SAS is of no
    more use."""
    return all(Phase(rt.store.disk_state(job.id, source.key, target.key, disk.key).get("phase", "pending"))
               in _COPY_ENDED for target in job.targets)


def _undo_export(rt: Runtime, job: Header, source: Source, disk: Disk, export: dict[str, Any]) -> None:
    """A source disk's SAS revoked (and its vault entry gone), then its temporary snapshot
    deleted (Azure refuses to delete a snapshot with an active SAS)."""
    rt.vault.delete(job.id, sas_name(source.key, disk.key))
    revoke(rt, job, source, disk)
    if export.get("snapshot_deleted"):
        return  # deleted while the pairs imported (``release_early``)
    name = f"delete|{source.key}|{disk.key}"
    # ``export`` (the source's record of it) without an error, read from a temporary snapshot:
    # one this job took (made, or found carrying its tag); an export that failed may have met
    # another's of that name
    made = bool(export.get("temporary")) and not export.get("error") \
        and export.get("id") == layout.snapshot_id(job, source, disk)
    if not delete_own(rt, job, layout.snapshot_id(job, source, disk), name, made=made):
        raise still_running(rt, job.id, [name], f"delete the snapshot of {disk.name}")


def _restart(rt: Runtime, job: Header, source: Source) -> None:
    name = f"start|{source.key}"
    compute = rt.cloud.compute
    if not awaited(rt, job.id, name, lambda: compute.start_vm(source.resource_id)).done:
        raise still_running(rt, job.id, [name], f"start VM {source.name}")
    rt.store.update_source(job.id, source.key, restarted=True)
