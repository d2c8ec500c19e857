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
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from diskferry.errors import NotFound
from diskferry.model import Error, Job, Source, Target
from diskferry.pipeline import cleanup
from diskferry.pipeline.runtime import Runtime
from diskferry.state import JobStore, disk_field, record_fields, target_field

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


def sweep(rt: Runtime, job_id: str, ready: Callable[[list[str]], set[str]], overdue_after: float,
          now: float | None = None) -> tuple[bool, list[Overdue]]:
    """Whether the job is over (done and cleaned, or gone), and the tasks to send again.

    ``ready(task_ids)`` tells which of them have a final result stored (a chord part is
    counted then; a prepare or finalize has ended). Each re-send is recorded before it is
    returned, so the next round waits a whole ``overdue_after`` again.

    A round reads the record once and asks ``ready`` once, for every task it may look at: its
    Redis round trips do not grow with the job. Read pair by pair and task by task, a round
    took four per pair (8,000 a minute at 2,000 disks, each round a second of a worker slot)."""
    now = time.time() if now is None else now
    try:
        job = rt.store.job(job_id)
        raw = rt.store.raw_fields(job_id, record_fields(job))
    except NotFound:
        return True, []
    if raw.get("meta") is None:
        return True, []
    status = JobStore.from_raw(job, raw)
    if status.done and status.cleaned:
        return True, []
    open_pairs = []
    for source, target in job.pairs():
        pair = _parsed(raw.get(target_field(source.key, target.key)))
        if not pair.get("cleaned"):
            disks = {d.key: _parsed(raw.get(disk_field(source.key, target.key, d.key))) for d in source.disks}
            open_pairs.append((source, target, pair, disks))
    asked = [tid for _, _, pair, disks in open_pairs for tid in _task_ids(pair, disks)]
    done = ready(asked) if asked else set()
    out: list[Overdue] = []
    for source, target, pair, disks in open_pairs:
        lost = _lost_step(rt, job, source, target, pair, disks, done, overdue_after, now)
        if lost is not None:
            out.append(lost)
            continue
        out += _lost_polls(rt, job, source, target, pair, disks, done, overdue_after, now)
    return False, out


def _parsed(value: str | None) -> Fields:
    return cast(Fields, json.loads(value)) if value else {}


def _task_ids(pair: Fields, disks: dict[str, Fields]) -> list[str]:
    """The tasks of a pair a round may ask about: its steps' and its copies'."""
    steps = [(pair.get(step) or {}).get("id") for step in _STEPS]
    polls = [(doc.get("poll") or {}).get("id") for doc in disks.values()]
    return [tid for tid in steps + polls if tid]


#: a pair's steps, the latest first: the first overdue one is sent again
_STEPS: tuple[Step, ...] = ("cleanup", "finalize", "prepare")


def _lost_step(rt: Runtime, job: Job, source: Source, target: Target, pair: Fields, disks: dict[str, Fields],
               done: set[str], overdue_after: float, now: float) -> Overdue | None:
    """The pair's prepare, finalize or cleanup when it is overdue; records the re-send.

    Prepare and finalize are known from the submit (their ids and options, frozen with the
    canvas), so one lost before it ever ran is found too: a prepare is due from the submit, a
    finalize once its chord has counted every copy (from the last poll)."""
    for step in _STEPS:
        record = pair.get(step) or {}
        if not record.get("id") or record["id"] in done:
            continue
        due = pair.get(f"{step}_due")
        if due is None and step == "finalize":
            polls = disks.values()
            if not all((d.get("poll") or {}).get("id") in done for d in polls):
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


def _lost_polls(rt: Runtime, job: Job, source: Source, target: Target, pair: Fields, docs: dict[str, Fields],
                done: set[str], overdue_after: float, now: float) -> list[Overdue]:
    # the chord is applied once any of its header tasks ran: its group and body are known
    ran = [doc for doc in docs.values() if (doc.get("poll") or {}).get("group")]
    if not ran:
        return []
    template = _template([doc["poll"] for doc in ran], pair)
    first = min(float(doc.get("poll_first") or now) for doc in ran)
    out = []
    for key, doc in docs.items():
        poll = doc.get("poll") or {}
        if not poll.get("id") or poll["id"] in done:
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
