"""One disk to one target: start the copy, then report on it until it ends — never wait.

:func:`advance` is called again and again (the task re-enqueues itself on the poll queue)
and each call does one thing: start the copy when there is none, or read its progress.
Because the staged blob's name is a function of (job, source, target, disk), a call
after a crash finds the copy the first call started instead of starting another.

A copy that fails (or that Copy Blob refuses to start) because its source could not be
read — the shared SAS expired or was revoked — is started again onto the same blob with a
SAS newer than the one that failed it (:mod:`.grants` makes sure only one is granted for
all targets), at most ``DISKFERRY_COPY_RESTARTS`` times. A copy that Azure failed on its own side, for a
while (a 5xx status, ``ServerBusy``, ``InternalError``, ``OperationTimedOut``) is started
again the same way, within the same budget, on the SAS it had. The job record keeps the count,
the reasons, the generation each attempt used (``sas_generation``), the newest generation
that failed (``stale_generation``) and the failed copy already counted (``failed_copy``),
so that a run after a crash neither counts a failure twice nor grants needlessly.

A target in the source's own region takes the short path: one disk ``Copy`` from the
snapshot (or disk), no SAS and no staging copy.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from diskferry.cloud import AccountInfo, CopyState
from diskferry.errors import DiskFailed, JobFailed, NotFound
from diskferry.model import TAG_JOB, TAG_ROLE, Disk, Error, Header, Phase, Role, Source, Target
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import cancel, destination, grants, layout, polling
from diskferry.pipeline.grants import revoke
from diskferry.pipeline.outcome import DiskOutcome, Pending, error_of, fail_disk
from diskferry.pipeline.runtime import Runtime, export_field, sas_name
from diskferry.pipeline.waits import still_running

Fields = dict[str, Any]
log = logging.getLogger(__name__)
_DESCRIPTION = re.compile(r"^\s*(\d{3})\s+([A-Za-z]+)")
#: statuses of a failed copy's description that say the source could not be read
_SOURCE_STATUSES = frozenset({401, 403, 404})
#: codes of a failed copy's description that say Azure failed it on its side, for a while
_TRANSIENT_CODES = frozenset({"ServerBusy", "InternalError", "OperationTimedOut"})
#: Copy Blob refused because it could not read the source (Azure's code for a bad source SAS)
_START_REFUSED = frozenset({"CannotVerifyCopySource"})
#: a disk's field: its target's watcher saw its copy succeed (``diskferry.pipeline.copywatch``)
SEEN_ENDED = "seen_ended"
#: a disk's field: when diskferry first saw its copy ended (epoch seconds; kept as history, and
#: what the fleet benchmark measures detection lag from)
COPIED_AT = "copied_at"
#: a disk's field: when Azure says its copy ended (``x-ms-copy-completion-time``, epoch seconds)
COPY_COMPLETED = "copy_completed"
#: phases after which a disk's copy has ended (successfully or not)
_ENDED = (Phase.copied, Phase.importing, Phase.imaging, Phase.succeeded, Phase.failed, Phase.cancelled)


def advance(rt: Runtime, job_id: str, source_key: str, target_key: str, disk_key: str,
            owner: str | None = None) -> DiskOutcome | Pending:
    """One step of a disk's copy. ``owner`` (the copy task's id) holds the disk's grant lock
    while it grants, so that the task's redelivery after a killed worker takes it back at once."""
    # one read: the pair, a cancel request, the source's, pair's and disk's state
    view = rt.store.disk_view(job_id, source_key, target_key, disk_key)
    job, source, target = view.pair
    disk = source.disk(disk_key)
    if view.meta.get("cancel") is not None:  # diskferry cancel
        return cancel.cancel_disk(rt, job, source, target, disk)
    state = view.disk_state
    phase = Phase(state.get("phase", "pending"))
    if phase in _ENDED:
        if state.get(SEEN_ENDED):
            # its target's watcher saw the copy succeed and recorded it: what the end of a copy
            # asks for (the SAS revoked once every target has its copy) is this run's — once:
            # cleared first, as a poll that saw the end counted it once (a revoke refused for a
            # while brings this task back, and the source's cleanup revokes anyway)
            rt.store.update_disk(job.id, source.key, target.key, disk.key, **{SEEN_ENDED: None})
            _copy_ended(rt, job, source, target, disk)
        return _recorded(disk.key, phase, state)
    blocked = _blocker(source, view.source_state, view.target_state, disk)
    if blocked is not None:
        return fail_disk(rt.store, job.id, source.key, target.key, disk.key, blocked)
    try:
        if job.staged(source, target):
            # a connection failure may mean the account is gone: the disk fails (StagingAccountGone)
            with rt.staging_calls(target):
                return _staged(rt, job, source, target, disk, state, owner)
        return _clone(rt, job, source, target, disk)
    except (DiskFailed, JobFailed, NotFound) as exc:
        outcome = fail_disk(rt.store, job.id, source.key, target.key, disk.key, error_of(exc))
        _copy_ended(rt, job, source, target, disk)
        return outcome


def _recorded(disk_key: str, phase: Phase, state: Fields) -> DiskOutcome:
    if phase in (Phase.failed, Phase.cancelled):
        err = state.get("error") or {}
        return DiskOutcome(disk_key, False, err.get("code"), err.get("message"))
    return DiskOutcome(disk_key, True)


def _blocker(source: Source, exported: Fields, pair: Fields, disk: Disk) -> Error | None:
    """Why this disk cannot be copied at all (prepare failed for it), if so."""
    for doc in (exported, pair):
        err = doc.get("error")
        if err:
            return Error(err.get("code", "PrepareFailed"), err.get("message", ""))
    export = exported.get(export_field(disk.key))
    if not export:
        return Error("NotPrepared", f"disk {disk.key} of {source.name} was not exported")
    if export.get("error"):
        return Error(export["error"].get("code", "ExportFailed"), export["error"].get("message", ""))
    return None


def _clone(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk) -> DiskOutcome:
    """Same region: a disk ``Copy`` of the snapshot (or disk), honouring sku, zone and names;
    raises Waiting while Azure copies."""
    export = rt.store.source_state(job.id, source.key)[export_field(disk.key)]
    dest = layout.destination(job, source, target, disk)
    name = f"clone|{source.key}|{target.key}|{disk.key}"
    compute = rt.cloud.compute
    copied = destination.make(rt, job.id, (source.key, target.key, disk.key), Phase.copying, dest.name, name,
                              lambda: compute.copy_disk(
        dest.id, location=target.region, source_id=export["id"], sku=target.sku or disk.sku, zone=target.zone,
        os_type=disk.os_type, hyper_v_generation=disk.hyper_v_generation or source.hyper_v_generation,
        tags=layout.tags(job, dest.role),
        encryption=target.encryption_request(source, disk),
    ))
    if not copied.done:
        raise still_running(rt, job.id, [name], f"copy {disk.name} to {dest.name}")
    total = disk.size_bytes
    rt.store.update_disk(
        job.id, source.key, target.key, disk.key, phase=Phase.copied, bytes_copied=total, bytes_total=total,
        result_id=dest.id, eta=0, **{COPIED_AT: round(time.time(), 3)},
    )
    return DiskOutcome(disk.key, True)


def _staged(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk, state: Fields,
            owner: str | None = None) -> DiskOutcome | Pending:
    account = rt.staging_account(target)
    assert account is not None
    blob = layout.staged_blob(job, source, target, disk)
    storage = rt.cloud.storage
    started = float(state["started"]) if state.get("started") else None
    if started is None:
        # never started: ``_start`` records ``started`` before it calls Copy Blob, so no run
        # before this one can have started a copy to find (a blob call per disk saved where a
        # bulk job's ramp is spent; one left by an earlier job run of the same name is copied
        # over, or, still pending, refused and looked at as this copy)
        return _start(rt, job, source, target, disk, state, account, blob, owner)
    # its own read: a copy's task runs to start its copy and once it ended (its target's watcher
    # looks at it meanwhile through one listing for all), so no listing would serve another run
    observed = time.time()
    status = storage.copy_status(account, STAGING_CONTAINER, blob)
    now = time.time()
    if status is None:
        return _start(rt, job, source, target, disk, state, account, blob, owner)
    if status.state is CopyState.pending:
        deadline = float(state.get("deadline") or now + rt.settings.copy_deadline_seconds)
        if now > deadline:
            if status.copy_id:
                storage.abort_copy(account, STAGING_CONTAINER, blob, status.copy_id)
            raise DiskFailed("CopyDeadlineExceeded", f"the copy of {disk.name} was still pending at its deadline")
        eta = _progress(rt, job, source, target, disk, state, status.copied, status.total, observed)
        return Pending(polling.PollPolicy.of(rt.settings).next_poll(now - (started or now), eta))
    if status.state is CopyState.success:
        rt.store.update_disk(
            job.id, source.key, target.key, disk.key, phase=Phase.copied, bytes_copied=status.total,
            bytes_total=status.total, eta=0, **{COPIED_AT: round(observed, 3), COPY_COMPLETED: status.completed},
        )
        _copy_ended(rt, job, source, target, disk)
        return DiskOutcome(disk.key, True)
    error = Error(*_copy_error(status.state, status.description))
    unreadable = source_unreadable(status.description)
    if status.state is CopyState.failed and (unreadable or transient(status.description)):
        # counted once per failed copy: a run that died before restarting (or whose restart was
        # refused) finds this failure counted already
        used = int(state.get("sas_generation") or 0)
        failed = status.copy_id or f"generation {used}"
        if state.get("failed_copy") != failed:
            # only a SAS that could not open the source is stale; after a transient failure
            # the same SAS serves the restart
            stale = used if unreadable else None
            state = _count_restart(rt, job, source, target, disk, state, error, stale, failed_copy=failed)
        # Copy Blob overwrites a destination whose copy is no longer pending
        return _start(rt, job, source, target, disk, state, account, blob, owner)
    raise DiskFailed(error.code, error.message)


def _start(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk, state: Fields,
           account: AccountInfo, blob: str, owner: str | None = None) -> Pending:
    """Start Copy Blob with a SAS newer than any that failed this copy (one that can last it)."""
    sas = grants.sas_for(rt, job, source, target, disk, newer_than=int(state.get("stale_generation") or 0),
                         owner=owner)
    now = time.time()
    # the generation is recorded before the copy starts: a copy found running after a crash
    # then has the generation it really uses
    rt.store.update_disk(
        job.id, source.key, target.key, disk.key, phase=Phase.copying, sas_generation=sas.generation, started=now,
        deadline=now + rt.settings.copy_deadline_seconds, sample_time=now, sample_bytes=0, bytes_copied=0,
        rate=None, eta=None,
    )
    # metadata names must be C# identifiers: the tags' hyphens become underscores
    metadata = {TAG_JOB.replace("-", "_"): job.id, TAG_ROLE.replace("-", "_"): Role.temporary.value}
    try:
        rt.cloud.storage.start_copy(account, STAGING_CONTAINER, blob, sas.secret, metadata)
    except NotFound:
        # the container is gone (deleted under the job), or — behind a front end that answers
        # for unknown accounts, where Azure's own host name would not resolve (staging_calls) —
        # the account: say which, read afresh (this process's cached account may be gone)
        rt.staging_account(target, fresh=True)
        raise
    except DiskFailed as exc:
        if exc.code == "PendingCopyOperation":  # a twin run of this task started it just now
            return Pending(rt.settings.poll_seconds)
        if exc.code not in _START_REFUSED:
            raise
        # the SAS was revoked or expired between the vault and Copy Blob: the next run starts
        # again with a newer one
        _count_restart(rt, job, source, target, disk, state, error_of(exc), sas.generation)
    return Pending(rt.settings.poll_seconds)


def source_unreadable(description: str | None) -> bool:
    """Whether a failed copy's ``x-ms-copy-status-description`` says the source could not be
    read (``403 AuthorizationFailure "Copy failed when reading the source. ..."``: an expired,
    revoked or wrong SAS; ``404 BlobNotFound``: the source is gone or the URL is wrong)."""
    m = _DESCRIPTION.match(description or "")
    return m is not None and int(m.group(1)) in _SOURCE_STATUSES


def transient(description: str | None) -> bool:
    """Whether a failed copy's ``x-ms-copy-status-description`` says Azure failed it on its own
    side, for a while (``503 ServerBusy``, ``500 InternalError``, ``500 OperationTimedOut``,
    any 5xx): the same copy started again can succeed."""
    m = _DESCRIPTION.match(description or "")
    return m is not None and (int(m.group(1)) >= 500 or m.group(2) in _TRANSIENT_CODES)


def _count_restart(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk, state: Fields,
                   error: Error, generation: int | None, failed_copy: str | None = None) -> Fields:
    """Record one restart of a copy that failed: its source could not be read with SAS
    ``generation`` (which is then stale), or, with ``generation`` None, it failed transiently.

    Raises :class:`DiskFailed` with Azure's code and message when the restarts are spent, or
    when the source disk or snapshot itself is gone (no SAS can help then)."""
    done = int(state.get("restarts") or 0)
    if done >= rt.settings.copy_restarts:
        after = f" (still failing after {done} restarts)" if done else ""
        raise DiskFailed(error.code, error.message + after)
    export = rt.store.source_state(job.id, source.key).get(export_field(disk.key)) or {}
    if not export.get("id") or rt.cloud.compute.find_disk(export["id"]) is None:
        raise DiskFailed(error.code, error.message)
    log.warning("copy of %s %s to %s: restart %d of %d: %s: %s", source.name, disk.key, target.region, done + 1,
                rt.settings.copy_restarts, error.code, error.message)
    stale = int(state.get("stale_generation") or 0)
    patch: Fields = {
        "restarts": done + 1,
        "restart_reasons": [*(state.get("restart_reasons") or []), f"{error.code}: {error.message}"],
        "stale_generation": stale if generation is None else max(generation, stale),
    }
    if failed_copy is not None:
        patch["failed_copy"] = failed_copy
    rt.store.update_disk(job.id, source.key, target.key, disk.key, **patch)
    return state | patch


def _progress(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk, state: Fields,
              copied: int, total: int, now: float) -> float | None:
    """Bytes, rate (smoothed over polls) and ETA into the job record; returns the ETA.
    ``now``: when the status was observed (a shared listing may be a moment old)."""
    last_time = float(state.get("sample_time") or now)
    if now <= last_time and state.get("eta") is not None:
        return float(state["eta"])  # no newer than what the record has: nothing to add
    last_bytes = int(state.get("sample_bytes") or 0)
    prior = state.get("rate")
    rate = polling.smoothed_rate(None if prior is None else float(prior), last_time, last_bytes, now, copied)
    eta = polling.eta_of(rate, copied, total)
    rt.store.update_disk(
        job.id, source.key, target.key, disk.key, phase=Phase.copying, bytes_copied=copied,
        bytes_total=total or disk.size_bytes, rate=rate, eta=eta, sample_time=now, sample_bytes=copied,
    )
    return eta


def _copy_error(state: CopyState, description: str | None) -> tuple[str, str]:
    """Azure's code from ``x-ms-copy-status-description`` ("403 CannotVerifyCopySource ...")."""
    text = description or f"copy {state.value}"
    if state is CopyState.aborted:
        return "CopyAborted", text
    m = _DESCRIPTION.match(text)
    return (m.group(2) if m else "CopyFailed"), text


def _copy_ended(rt: Runtime, job: Header, source: Source, target: Target, disk: Disk) -> None:
    """Once every staged target of a disk has its copy, its SAS is of no more use: revoke it now
    (the last finalize of the source revokes again, harmlessly)."""
    if not job.staged(source, target):
        return
    staged = {t.key for t in job.targets if job.staged(source, t)}
    ended = rt.store.add_member(job.id, f"copied|{source.key}|{disk.key}", target.key)
    if not staged <= ended:
        return
    # answered, and forgotten before Azure is asked: a revoke refused for a while (429) makes
    # this copy's task come back, and its next run finds its copy ended and counts nothing;
    # the source's cleanup revokes again anyway (a copy's end counted again revokes nothing twice)
    rt.store.drop_set(job.id, f"copied|{source.key}|{disk.key}")
    rt.vault.delete(job.id, sas_name(source.key, disk.key))
    # started, not waited for: the source's cleanup finds the same operation and finishes it
    revoke(rt, job, source, disk, wait=False)
