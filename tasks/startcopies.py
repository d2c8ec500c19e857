"""A staged pair's chord applied by its prepare with every copy already started and parked.

Applied by Celery, the chord sends one message per copy; each copy's first run starts its copy
and parks it (``Ignore``) with its target's watcher, which sends the same task again once the
copy ended. That first run was a third of a disk's task runs and, with billiard's traceback
of its ``Ignore``, the dearest of them: most of a bulk job's ramp, which is CPU-bound (issue 8).

Here the prepare that readied the pair starts its copies itself (:func:`diskferry.pipeline.copy.advance`,
as the first run did) and parks them; the chord is sized in the result backend as Celery sizes
it (``set_chord_size``) and each copy's request — its id and group index (frozen by the
producer), the chord's group id and body, as Celery's ``chord.run`` freezes them — goes into
the disk's poll record, from which the watcher (and the job's watchdog, should a message be
lost) sends it, once, when the copy ended. The canvas is unchanged: prepare → chord(copies,
finalize); each copy task runs once and counts in the chord as before.

Failure: a prepare killed mid-way is delivered again (late acks) and does the same again —
copies started already are found by their record (``started``) and Azure's status, parked
again (a set), and the chord is sized only by the run that finds no copy's request recorded
(sized again after a copy counted, the chord would forget the count). A copy whose start
Azure turns away for a while (a 429, a 5xx) is sent as its task, with a countdown: its task
retries it as ever. A pair that is not staged (a same-region Copy is an ARM operation its
copy task waits on) leaves the chord to Celery.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.canvas import Signature, _chord, maybe_signature

from diskferry.config.celeryconfig import COPY_DISK
from diskferry.errors import RetryLater
from diskferry.model import Source
from diskferry.pipeline import copy
from diskferry.pipeline.outcome import Pending, held_by
from diskferry.state import HELD
from diskferry.tasks.app import settings_of
from diskferry.tasks.base import retry_countdown, runtime
from diskferry.tasks.copywatch import park
from diskferry.tasks.watchdog import revive, send_copy

log = logging.getLogger(__name__)

#: what Flower shows as the exception of a parked copy
PARKED_REASON = "its target's copy watcher follows the copy and sends this task again once it ended"
#: a disk's count of consecutive transient errors (its polls' back-off); gone once a poll gets through
POLL_ERRORS = "poll_errors"


def start_copies(task: Task, job_id: str, source_key: str, target_key: str) -> bool:
    """Start and park the copies of the pair whose ``prepare`` is ``task`` and apply its chord
    without sending them; whether it did (else Celery applies the chord, as for any chain)."""
    chain = task.request.chain
    if not chain:
        return False  # sent again without its chord: the chord was applied by an earlier run
    rt = runtime(task)
    job, source, target = rt.store.pair(job_id, source_key, target_key)
    if not job.staged(source, target):
        return False
    pair_chord = maybe_signature(chain[-1], app=task.app)
    header = _copies(pair_chord, source)
    if header is None:
        log.warning("prepare %s: the rest of its chain is not the pair's chord; Celery applies it", task.request.id)
        return False
    assert isinstance(pair_chord, _chord)
    # as ``chord.apply_async`` and ``chord.run`` do: the group's id is the chord's frozen id, and
    # the body (finalize) is frozen into it with the chain's root
    group_id = str(pair_chord.options["task_id"])
    root_id = task.request.root_id or task.request.id
    body = pair_chord.body.clone()
    body.freeze(body.id, group_id=group_id, root_id=root_id)
    store, settings = rt.store, settings_of(task.app)
    first = store.disk_state(job_id, source.key, target.key, source.disks[0].key).get("poll") or {}
    if first.get("group") != group_id:
        # once: sized again after a copy counted, the chord would wait for it forever
        task.app.backend.set_chord_size(group_id, len(header))
    parked: list[tuple[Signature, float]] = []
    for index, (disk, sig) in enumerate(zip(source.disks, header, strict=True)):
        request: dict[str, Any] = {"id": sig.id, "args": list(sig.args), "group": group_id, "group_index": index,
                                   "root_id": root_id, "parent_id": task.request.id, "chord": dict(body)}
        now = time.time()
        # the chord's body is the same for every copy of the pair: the first copy's record keeps
        # it for all (``diskferry.pipeline.watchdog.resend_record``)
        kept = request if index == 0 else {k: v for k, v in request.items() if k != "chord"}
        patch: dict[str, Any] = {"poll": kept, "poll_first": now}
        try:
            step = copy.advance(rt, job_id, source.key, target.key, disk.key, owner=sig.id)
        except RetryLater as exc:
            # its task retries it, as it retries any poll Azure turned away
            countdown = retry_countdown(task, exc, 0)
            store.update_disk(job_id, source.key, target.key, disk.key, **patch, poll_due=now + countdown,
                              **{POLL_ERRORS: 1, HELD: held_by("copy", exc, now)})
            send_copy(task.app, settings, job_id, source.key, target.key, disk.key, request, countdown=countdown)
            continue
        if isinstance(step, Pending):
            store.update_disk(job_id, source.key, target.key, disk.key, **patch, poll_due=now + step.countdown)
            park(task, job_id, source.key, target.key, disk.key, due=now + step.countdown)
            parked.append((sig, step.countdown))
            continue
        # ended at once (it could not start, or the job is cancelled): its task, sent now, finds the
        # outcome recorded and counts it in the chord
        store.update_disk(job_id, source.key, target.key, disk.key, **patch, poll_due=now)
        send_copy(task.app, settings, job_id, source.key, target.key, disk.key, request, queue=settings.queue)
    # prepare's copy of the chord (every copy's signature) is of no more use to the watchdog, which
    # sends a prepare again only until it has run
    store.update_target(job_id, source.key, target.key, prepare={"id": task.request.id})
    _shown_parked(task, parked)
    revive(task, job_id)
    # applied: Celery, which applies a chain's rest once its head returns, must not send the copies
    task.request.chain = None
    return True


def _copies(pair_chord: Any, source: Source) -> list[Signature] | None:
    """The chord's copy tasks, one per disk of ``source`` in order, if it is the pair's chord."""
    if not isinstance(pair_chord, _chord) or not pair_chord.options.get("task_id") or pair_chord.body is None:
        return None
    header = list(pair_chord.tasks)
    if len(header) != len(source.disks) or any(sig.task != COPY_DISK or sig.id is None for sig in header):
        return None
    if [tuple(sig.args)[-1] for sig in header] != [disk.key for disk in source.disks]:
        return None
    return header


def _shown_parked(task: Task, parked: list[tuple[Signature, float]]) -> None:
    """Tell Flower (and any event consumer) of each parked copy: waiting for its watcher. No
    message of it is on the broker, so nothing else would show it until it ended. As a parked
    copy's own run showed it, ``task-retried``: Celery's event state lets the woken run's
    ``received`` and ``started`` follow it (a custom state would rank above them)."""
    if not parked or task.request.called_directly or not task.app.conf.worker_send_task_events:
        return
    settings = settings_of(task.app)
    try:
        with task.app.events.default_dispatcher(hostname=task.request.hostname) as events:
            for sig, countdown in parked:
                # one event: Celery's event state takes any event's fields as the task's, so this
                # one names the task too (what ``task-sent`` would say); half the publishes
                events.send("task-retried", uuid=sig.id, traceback=None,
                            exception=f"Parked: {PARKED_REASON}; first look in {countdown:.0f} s",
                            name=COPY_DISK, args=repr(tuple(sig.args)), kwargs="{}", retries=0,
                            root_id=task.request.root_id or task.request.id, parent_id=task.request.id,
                            queue=settings.queue)
    except Exception as exc:  # noqa: BLE001 - an event is advice; the copies are parked either way
        log.debug("cannot send the parked events of prepare %s: %s", task.request.id, exc)
