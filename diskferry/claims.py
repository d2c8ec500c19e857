"""One job at a time on a source resource it must hold alone: claims in Redis, by resource id.

Two jobs fight over a disk when both *grant* on it — Azure keeps one read SAS per disk or
snapshot, and a new ``beginGetAccess`` revokes the previous one, so each job's grant breaks
the other's copies — or when both deallocate and restart the same VM (one starts it while
the other still reads its disks). So a job claims, at submit, every resource it would grant
on or deallocate:

* a VM with ``consistency: deallocate``: the VM and its disks;
* a VM with ``consistency: none``: its disks, when a target reads them through a SAS;
* an image: the source snapshots it reads directly, when a target reads them through a SAS.

A job with ``consistency: snapshot`` claims nothing: it grants only on snapshots of its
own, and any number of jobs may snapshot one disk at once.

A claim is refused, not waited for: the second job is refused at submit with the id of the
job that holds the resource (the operator waits for it, or cancels it). Waiting inside the
fleet would hold a job in ``preparing`` for hours with nothing to say why. Claims are taken
all at once (a Lua script), released when the source's cleanup has run (the last target's
cleanup, :func:`diskferry.pipeline.cleanup.cleanup_source`) and expire with the job record.
A claim whose job has ended, or whose record is gone (expired, or lost with its Redis), is
stale: the next job takes it over.
"""

from __future__ import annotations

from diskferry.errors import JobFailed, NotFound
from diskferry.model import Consistency, ExportKind, Header, Job, Source, SourceKind
from diskferry.state import JobStatus, JobStore

#: the refusal's code (exit 2: nothing was created)
SOURCE_IN_USE = "SourceInUse"


def resources(job: Header, source: Source) -> list[str]:
    """The ARM ids of what ``job`` must hold alone to read ``source``."""
    granted = any(job.staged(source, t) for t in job.targets)
    if source.kind is SourceKind.image:
        return [d.resource_id for d in source.disks if granted and d.kind is ExportKind.snapshot]
    consistency = job.options.consistency
    if consistency is Consistency.deallocate:
        return [source.resource_id, *(d.resource_id for d in source.disks)]
    if consistency is Consistency.none and granted:
        return [d.resource_id for d in source.disks]
    return []


def take(store: JobStore, job: Job, sources: list[Source] | None = None) -> None:
    """Claim what every source of ``job`` (or only ``sources``) needs alone, or nothing; raises
    :class:`JobFailed` (``SourceInUse``) naming the running job that holds one of them."""
    chosen = job.sources if sources is None else sources
    wanted = {r.lower(): (source, r) for source in chosen for r in resources(job, source)}
    for _ in range(len(wanted) + 1):
        conflict = store.claim(job.id, [r for _, r in wanted.values()])
        if conflict is None:
            return
        resource, holder = conflict
        if _live(store, holder):
            source, rid = wanted[resource]
            raise JobFailed(SOURCE_IN_USE, f"{source.kind.value} {source.resource_group}/{source.name}: {rid} is held "
                                           f"by job {holder}, which is still running; wait for it to end or cancel "
                                           f"it (diskferry cancel {holder})")
        # the holder ended without releasing (or its record is gone): the claim is stale
        store.release_claims(holder, [resource])
    raise JobFailed(SOURCE_IN_USE, "claims kept changing while they were taken; submit again")


def release(store: JobStore, job: Header, source: Source) -> None:
    """The source's cleanup has run: another job may have it."""
    store.release_claims(job.id, resources(job, source))


def release_all(store: JobStore, job: Job) -> None:
    for source in job.sources:
        release(store, job, source)


def ended(status: JobStatus) -> bool:
    """Whether a job will touch nothing any more: every disk has an outcome and every
    cleanup has run."""
    return status.done and status.cleaned


def _live(store: JobStore, job_id: str) -> bool:
    try:
        return not ended(store.status(job_id))
    except NotFound:
        return False
