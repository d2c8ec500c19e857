"""Running a failed or cancelled job again (``diskferry resume JOB``), redoing only what it lacks.

A job that ended has cleaned up: its snapshots, grants, staged VHDs and job-made staging
account are gone, and its claims released. What it made and verified — destination disks
(and images) that exist and carry its tag — is kept; everything else is reset to
``pending`` in the record and done again by new canvases for the pairs that need it:

* a pair whose every disk (or whose image) is there, and its VM when it rebuilds one, is kept
  whole and not run again (a VM Azure refused is tried again from the disks it kept);
* in a pair that is run again, each disk that is there stays ``succeeded`` (its copy and its
  import are skipped: ``copy.advance`` and ``finalize`` find the disk), the others start over;
* the source of a pair that runs again is prepared again (new snapshots, new grants), unless
  every such pair has all its disks (only its VM is missing): it is then not read again;
* a staging account the job makes gets a new name for each run: the first run deleted its
  own, and workers cache an account's keys by name — a new account of the old name would
  meet stale keys.

The coordination sets (targets finished per source, pairs done per staging account, copies
ended per disk) start again holding the pairs that are kept, so that the last pair that runs
still cleans up the source and the account.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from diskferry import naming
from diskferry.errors import JobFailed
from diskferry.model import TAG_JOB, Job, Phase, Source, Target
from diskferry.pipeline import layout
from diskferry.pipeline.runtime import Runtime
from diskferry.state import JobStatus, TargetStatus

#: the phases a job may be resumed from
RESUMABLE = (Phase.failed, Phase.cancelled)


def check(status: JobStatus) -> None:
    """Refuse a job that runs, or that succeeded (``JobNotResumable``)."""
    if not (status.done and status.cleaned):
        raise JobFailed("JobNotResumable", f"job {status.id} is still running ({status.phase.value}): "
                                           f"cancel it first (diskferry cancel {status.id})")
    if status.phase not in RESUMABLE:
        raise JobFailed("JobNotResumable", f"job {status.id} {status.phase.value}: there is nothing to resume")


@dataclass
class Rerun:
    """What a resume does: the job as it runs again, and per pair what it keeps."""

    job: Job
    run: int
    #: (source, target, keys of the disks it keeps) of each pair that runs again
    again: list[tuple[Source, Target, set[str]]]
    #: the pairs kept whole
    kept: list[tuple[Source, Target]]

    def pairs(self) -> list[tuple[Source, Target]]:
        return [(s, t) for s, t, _ in self.again]

    def sources(self) -> list[Source]:
        return list({s.key: s for s, _, _ in self.again}.values())


def plan(rt: Runtime, job: Job, status: JobStatus) -> Rerun:
    """What to run again (pairs missing a verified result); reads only."""
    run = int(rt.store.meta(job.id).get("resumed") or 0) + 1
    job = _new_staging(job, run)
    by_pair = {(t.source, t.key): t for t in status.targets()}
    rerun = Rerun(job, run, [], [])
    for source, target in job.pairs():
        made = _verified(rt, job, source, target, by_pair[(source.key, target.key)])
        if made == {d.key for d in source.disks} and not _lacks_image(rt, job, source, target) \
                and not _lacks_vm(rt, job, source, target):
            rerun.kept.append((source, target))
        else:
            rerun.again.append((source, target, made))
    return rerun


def reset(rt: Runtime, rerun: Rerun) -> None:
    """Reset the record for the new run."""
    job = rerun.job
    rt.store.put_job(job)
    for source, target, made in rerun.again:
        for disk in source.disks:
            if disk.key not in made:
                rt.store.reset(job.id, f"disk|{source.key}|{target.key}|{disk.key}",
                               {"phase": Phase.pending, "bytes_total": disk.size_bytes, "bytes_copied": 0})
        rt.store.reset(job.id, f"tgt|{source.key}|{target.key}", {"phase": Phase.pending})
    for source in rerun.sources():
        # a source whose every pair that runs again keeps all its disks (only a VM is to be
        # made from them) is read no more: it is not snapshotted, granted or deallocated again
        done = all(made == {d.key for d in s.disks} for s, _, made in rerun.again if s.key == source.key)
        rt.store.reset(job.id, f"src|{source.key}", {"phase": Phase.pending, **({"prepared": True} if done else {})})
    rt.store.clear_sets(job.id)
    for target in job.targets:  # what held up the last run's copy watchers
        rt.store.hold_watcher(job.id, target.key, None)
    _count_kept(rt, job, rerun.kept)
    rt.store.update_meta(job.id, cancel=None, resumed=rerun.run)


def _new_staging(job: Job, run: int) -> Job:
    """The job with its job-made staging accounts named for this run."""
    targets = []
    for target in job.targets:
        staging = target.staging
        if staging is not None and staging.created_by_job:
            name = naming.staging_account(f"{job.id}-run{run}", target.subscription_id, staging.region)
            target = dataclasses.replace(target, staging=dataclasses.replace(staging, name=name))
        targets.append(target)
    return dataclasses.replace(job, targets=targets)


def _verified(rt: Runtime, job: Job, source: Source, target: Target, pair: TargetStatus) -> set[str]:
    """The disks of the pair whose result exists in Azure and is this job's."""
    made: set[str] = set()
    for disk in pair.disks:
        if disk.phase is not Phase.succeeded:
            continue
        if job.builds_image(source) and not job.options.keep_image_disks:
            # the disks fed an image and are gone: the image is the result
            if not _lacks_image(rt, job, source, target):
                made.add(disk.key)
            continue
        found = rt.cloud.compute.find_disk(disk.result_id) if disk.result_id else None
        if found is not None and found.tags.get(TAG_JOB) == job.id:
            made.add(disk.key)
    return made


def _lacks_image(rt: Runtime, job: Job, source: Source, target: Target) -> bool:
    if not job.builds_image(source):
        return False
    image = rt.cloud.compute.find_image(layout.image_id(job, source, target))
    return image is None or image.tags.get(TAG_JOB) != job.id


def _lacks_vm(rt: Runtime, job: Job, source: Source, target: Target) -> bool:
    """A pair whose VM is not there (refused, or never made) runs again: its disks are kept,
    the VM is made from them."""
    if not job.rebuilds_vm(source, target):
        return False
    vm = rt.cloud.compute.find_vm(layout.rebuilt_vm(job, source, target).id)
    return vm is None or vm.tags.get(TAG_JOB) != job.id


def _count_kept(rt: Runtime, job: Job, kept: list[tuple[Source, Target]]) -> None:
    """Pairs kept whole count as finished, as done with their staging account and as having
    their copies, so that the pairs run again are the last and clean up."""
    for source, target in kept:
        rt.store.add_member(job.id, f"finished|{source.key}", target.key)
        staging = target.staging
        if job.staged(source, target) and staging is not None and staging.created_by_job:
            rt.store.add_member(job.id, f"account|{staging.name}", f"{source.key}|{target.key}")
        for disk in source.disks:
            rt.store.add_member(job.id, f"copied|{source.key}|{disk.key}", target.key)
