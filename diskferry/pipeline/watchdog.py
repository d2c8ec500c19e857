"""A job's safety net against a task lost by the broker: a copy poll, or a pair's prepare,
finalize or cleanup.

kombu's Redis transport loses a message for good when its worker dies between popping it
(BRPOP) and recording it as unacknowledged (kombu#305, kombu#1733). If that message is a
``copy_disk`` poll, the disk's poll chain ends, the pair's chord never completes and
finalize/cleanup never run. The watchdog, a job-level task re-enqueued on the poll queue,
finds such a disk and sends its poll again — as the broker would have redelivered it: the
same task id, group id, group index and chord body.

Why that counts the disk's chord part once (Celery 5.7, ``celery/backends/redis.py``,
``CHORD_PART_RETURN_LUA``): a header task's return is added to the chord only if
``task id:group index`` is not yet in the group's ``.d`` set, so two runs of one header
task — the lost one's replacement and an original that was only slow — count once, and a
run after the chord completed finds its ``.c`` ``done`` marker (or, once that expired, no
chord size) and dispatches nothing. A run that ends after another returns the recorded
outcome (:func:`diskferry.pipeline.copy.advance` reads the disk's phase first), so both
return the same. A duplicate that *skipped* its return (``Ignore``) would be unsafe: the
run that set such a marker may die before Celery stores its result, and the redelivered
run would then never count.

A poll is presumed lost only when it is overdue (its countdown, ``poll_due``, passed) by
more than ``overdue_after`` seconds — the caller's: the visibility timeout plus the sweep
interval in which kombu brings back a dead worker's messages, plus a grace (see
``diskferry.tasks.watchdog``): until then the broker may still deliver it. This module
decides which polls are lost; sending them again, with Celery's options, is the task's.

What each disk's record holds for this (written by the copy task, ids only): ``poll`` —
``id`` and ``group_index`` from the canvas frozen at submit, then, from each run's request,
``group``, ``chord`` (the body's signature: ids), ``root_id``, ``parent_id``; ``poll_due``
and ``poll_first`` (times); ``resent`` (how often the watchdog re-sent it).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from diskferry.errors import NotFound
from diskferry.model import Error, Job, Source, Target
from diskferry.pipeline import cleanup
from diskferry.pipeline.runtime import Runtime

Fields = dict[str, Any]
log = logging.getLogger(__name__)


#: what the watchdog sends again, with the same task id and options as the lost message
Step = Literal["copy", "prepare", "finalize", "cleanup"]


@dataclass(frozen=True)
class Overdue:
    """A task no redelivery can bring back, and what its runs recorded of their request."""

    step: Step
    source: str
    target: str
    #: the disk of a copy poll
    disk: str | None = None
    #: the request's ids (``id``, ``group``, ``group_index``, ``chord``, ``chain``, ...) as its
    #: last run recorded them; for a poll, completed from another disk of the same chord
    record: Fields = field(default_factory=dict)


def sweep(rt: Runtime, job_id: str, ready: Callable[[str], bool], overdue_after: float,
          now: float | None = None) -> tuple[bool, list[Overdue]]:
    """Whether the job is over (done and cleaned, or gone), and the tasks to send again.

    ``ready(task_id)`` tells whether a final result is stored for a task (a chord part is
    counted then; a prepare or finalize has ended). Each re-send is recorded before it is
    returned, so the next round waits a whole ``overdue_after`` again."""
    now = time.time() if now is None else now
    try:
        status = rt.store.status(job_id)
        job = rt.store.job(job_id)
    except NotFound:
        return True, []
    if status.done and status.cleaned:
        return True, []
    out: list[Overdue] = []
    for source, target in job.pairs():
        pair = rt.store.target_state(job.id, source.key, target.key)
        if pair.get("cleaned"):
            continue
        lost = _lost_step(rt, job, source, target, pair, ready, overdue_after, now)
        if lost is not None:
            out.append(lost)
            continue
        out += _lost_polls(rt, job, source, target, pair, ready, overdue_after, now)
    return False, out


def _lost_step(rt: Runtime, job: Job, source: Source, target: Target, pair: Fields, ready: Callable[[str], bool],
               overdue_after: float, now: float) -> Overdue | None:
    """The pair's prepare, finalize or cleanup when it is overdue; records the re-send.

    Prepare and finalize are known from the submit (their ids and options, frozen with the
    canvas), so one lost before it ever ran is found too: a prepare is due from the submit, a
    finalize once its chord has counted every copy (from the last poll)."""
    for step in ("cleanup", "finalize", "prepare"):
        record = pair.get(step) or {}
        if not record.get("id") or ready(record["id"]):
            continue
        due = pair.get(f"{step}_due")
        if due is None and step == "finalize":
            polls = _disk_docs(rt, job, source, target).values()
            if not all((d.get("poll") or {}).get("id") and ready(d["poll"]["id"]) for d in polls):
                continue  # the chord has not sent it yet
            due = max(float(d.get("poll_due") or now) for d in polls)
        if due is None or now <= float(due) + overdue_after:
            continue
        resent = int(pair.get(f"{step}_resent") or 0) + 1
        log.warning("job %s: %s of %s to %s is %.0f s overdue: sending it again (%d)", job.id, step,
                    source.name, target.region, now - float(due), resent)
        rt.store.update_target(job.id, source.key, target.key, **{f"{step}_due": now, f"{step}_resent": resent})
        return Overdue(step, source.key, target.key, record=dict(record))
    return None


def _disk_docs(rt: Runtime, job: Job, source: Source, target: Target) -> dict[str, Fields]:
    return {d.key: rt.store.disk_state(job.id, source.key, target.key, d.key) for d in source.disks}


def _lost_polls(rt: Runtime, job: Job, source: Source, target: Target, pair: Fields,
                ready: Callable[[str], bool], overdue_after: float, now: float) -> list[Overdue]:
    docs = _disk_docs(rt, job, source, target)
    # the chord is applied once any of its header tasks ran: its group and body are known
    ran = [doc for doc in docs.values() if (doc.get("poll") or {}).get("group")]
    if not ran:
        return []
    template = _template([doc["poll"] for doc in ran], pair)
    first = min(float(doc.get("poll_first") or now) for doc in ran)
    out = []
    for key, doc in docs.items():
        poll = doc.get("poll") or {}
        if not poll.get("id") or ready(poll["id"]):
            continue
        due = float(doc.get("poll_due") or first)
        if now <= due + overdue_after:
            continue
        resent = int(doc.get("resent") or 0) + 1
        log.warning("job %s: the poll of %s %s to %s is %.0f s overdue: sending it again (%d)", job.id,
                    source.name, key, target.region, now - due, resent)
        rt.store.update_disk(job.id, source.key, target.key, key, poll_due=now, resent=resent)
        known = template | {k: v for k, v in poll.items() if v is not None}
        out.append(Overdue("copy", source.key, target.key, key, known))
    return out


def _template(polls: list[Fields], pair: Fields) -> Fields:
    """What a copy's poll record lacks to be sent again: the pair's first copy keeps the chord's
    signature for all; should it never have run, the chord's body is rebuilt from the pair's
    finalize (its id and errback: ``finalize``)."""
    with_chord = [poll for poll in polls if poll.get("chord")]
    return with_chord[0] if with_chord else polls[0] | {"finalize": pair.get("finalize") or {}}


def resend_record(rt: Runtime, job_id: str, source_key: str, target_key: str, poll: Fields) -> Fields:
    """A copy's poll record completed for sending its task again (by the copy watcher): only a
    copy that is not its pair's first lacks the chord, and only then is the pair read."""
    if not poll.get("group") or poll.get("chord"):
        return poll
    source = rt.store.pair(job_id, source_key, target_key).source
    first = rt.store.disk_state(job_id, source_key, target_key, source.disks[0].key).get("poll") or {}
    template = _template([first, poll], rt.store.target_state(job_id, source_key, target_key))
    return template | {k: v for k, v in poll.items() if v is not None}


def stalled(rt: Runtime, job_id: str, stall_seconds: float, now: float | None = None) -> bool:
    """Whether nothing moved in the job — no byte copied, no phase changed — for
    ``stall_seconds`` (0: never). Each look notes what it saw in the job record, so the clock
    restarts with any progress."""
    if stall_seconds <= 0:
        return False
    now = time.time() if now is None else now
    try:
        status = rt.store.status(job_id)
    except NotFound:
        return False
    # a digest, not the list: every update of the record rewrites its meta
    seen = hashlib.sha256(repr(([(d.phase.value, d.bytes_copied) for d in status.disks()],
                                [(t.phase.value, t.cleaned) for t in status.targets()])).encode()).hexdigest()
    meta = rt.store.job_meta(job_id)
    if meta.get("progress") != seen:
        # the watchdog's own note, not a change of the job: its ``updated`` (what ``list`` and
        # followers show) stays — a job over was shown as updated after its end by its
        # watchdog's last round
        rt.store.update_job(job_id, progress=seen, progressed=now, touch=False)
        return False
    return now - float(meta.get("progressed") or now) > stall_seconds


def fail_stalled(rt: Runtime, job_id: str, stall_seconds: float) -> None:
    """End a job that stopped moving: what is unfinished fails with ``Stalled``, and every pair
    not yet cleaned is cleaned up (raises Waiting while Azure deletes; the watchdog comes back)."""
    job = rt.store.job(job_id)
    error = Error("Stalled", f"nothing moved in the job for {stall_seconds / 3600:.1f} h "
                             "(DISKFERRY_STALL_SECONDS); what it made for itself is removed")
    log.error("job %s: %s", job_id, error.message)
    for source, target in job.pairs():
        if not rt.store.target_state(job.id, source.key, target.key).get("cleaned"):
            cleanup.abandon_pair(rt, job.id, source.key, target.key, error)
