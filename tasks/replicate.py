"""The four tasks of a replication canvas. Each is a few lines around a pipeline step.

Queues are declared in ``diskferry.config.celeryconfig`` (``task_routes``): Celery 5.7 deprecates the
``queue`` task attribute. Retry policy lives here, at the task boundary, by error class: ``RetryLater`` runs the
task again after a countdown; business failures come back as outcomes (so a chord body
always runs); anything else fails the task, and the errback cleans up.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task, states
from celery.exceptions import Ignore

from diskferry.config.celeryconfig import CLEANUP, COPY_DISK, FINALIZE, PREPARE
from diskferry.errors import AzureUnavailable, Busy, RetryLater, Waiting, redact
from diskferry.model import Error, Held
from diskferry.pipeline import cleanup as cleanup_step
from diskferry.pipeline import copy, copywatch
from diskferry.pipeline import finalize as finalize_step
from diskferry.pipeline import prepare as prepare_step
from diskferry.pipeline.outcome import Pending, held_by
from diskferry.state import HELD
from diskferry.tasks.app import settings_of
from diskferry.tasks.base import retry_countdown, runtime, task
from diskferry.tasks.copywatch import park
from diskferry.tasks.outage import OutageTolerantTask
from diskferry.tasks.results import job_ended
from diskferry.tasks.startcopies import PARKED_REASON, POLL_ERRORS, start_copies
from diskferry.tasks.watchdog import request_fields, revive

log = logging.getLogger(__name__)

#: transient failures of prepare/finalize are retried this many times
MAX_RETRIES = 30


def _again(task: Task, exc: RetryLater, step: str, job_id: str, source: str, target: str) -> BaseException:
    """The retry of a pair's ``step`` (prepare, finalize) that ran into a transient error: a
    lock another worker holds, or an operation Azure is still at, is waited for without limit
    (the lock's expiry and the operation's deadline bound those), and so is an outage
    (``AzureUnavailable``), anything else at most MAX_RETRIES times (the tasks themselves are
    declared without a limit, because Celery's counter counts both). The job's watchdog is told
    when the step is due again."""
    waiting = isinstance(exc, Busy | Waiting)
    # an outage is waited out too, backing off; the job's stall guard bounds it (before, 30
    # retries — about 15 minutes of an ARM or Entra ID incident — failed the pair)
    if not (waiting or isinstance(exc, AzureUnavailable)) and task.request.retries >= MAX_RETRIES:
        return exc
    countdown = retry_countdown(task, exc, 0 if waiting else task.request.retries)
    now = time.time()
    runtime(task).store.update_target(job_id, source, target, **{
        step: request_fields(task.request), f"{step}_due": now + countdown, HELD: held_by(step, exc, now),
    })
    # this run's RETRY state is not stored: a result record with the Waiting's traceback, written
    # at every due time of every operation a step waits for, that nothing reads (the job's
    # watchdog asks only whether a step's result is final). Set on this run's request, which
    # Celery lets override the task's ``ignore_result`` and does not carry into the retry's
    # message: the run that ends the step stores its result (or its failure, for the errback)
    task.request.ignore_result = True
    return task.retry(countdown=countdown, exc=exc)  # type: ignore[no-any-return]


@task(bind=True, name=PREPARE, max_retries=None)
def prepare(self: Task, job_id: str, source: str, target: str) -> dict[str, Any]:
    """Freeze and export the source (once for all its targets), ready the target, start the copies.

    While another target's prepare exports the shared source, this one waits (re-enqueued
    every few seconds, without limit: the source lock expires if its holder died)."""
    try:
        outcome = prepare_step.prepare(runtime(self), job_id, source, target, owner=self.request.id)
    except RetryLater as exc:
        raise _again(self, exc, "prepare", job_id, source, target) from None
    if outcome.ok:
        # a staged pair's copies are started and parked here, and its chord applied without
        # sending them (``diskferry.tasks.startcopies``); any other pair's chord Celery applies
        start_copies(self, job_id, source, target)
    return outcome.as_dict()


class CopyTask(OutageTolerantTask):
    """A copy task stores only its final state: its STARTED and RETRY states (Celery writes both
    at every poll, a RETRY with its traceback) are nobody's business and were most of what a
    poll cost Redis. Its success and failure are stored by hand: the job's watchdog reads them
    to know that the chord counted the copy (the chord counts it either way)."""

    ignore_result = True

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        self.backend.store_result(task_id, exc, states.FAILURE, traceback=einfo.traceback, request=self.request)


@task(bind=True, name=COPY_DISK, max_retries=None, base=CopyTask)
def copy_disk(self: Task, job_id: str, source: str, target: str, disk: str) -> dict[str, Any]:
    """End one disk's copy, counted in its pair's chord: the target's watcher
    (``diskferry.pipeline.copywatch``) looks at the parked copy, spaced by its ETA
    (``diskferry.pipeline.polling``), and sends this task (same id, same chord part) once it
    ended — or at its absolute deadline (``DISKFERRY_COPY_DEADLINE_SECONDS`` after it started),
    when it is aborted. A staged pair's prepare starts and parks its copies
    (``diskferry.tasks.startcopies``), so this task runs once, at the end; otherwise its first
    run starts the copy and parks it, ending without a result (``Ignore``). No sleeping, and
    no message held while parked.
    """
    ids = (job_id, source, target, disk)
    poll_queue = settings_of(self.app).poll_queue
    if not self.request.retries:
        _watched(self, *ids, first=True, countdown=0.0)
    try:
        step = copy.advance(runtime(self), *ids, owner=self.request.id)
    except RetryLater as exc:
        # back off by this disk's run of errors, not by Celery's retry count: every routine
        # poll is a retry too, so late in a copy the first 503 would wait the longest back-off
        errors = int(runtime(self).store.disk_state(*ids).get(POLL_ERRORS) or 0) + 1
        countdown = retry_countdown(self, exc, errors - 1)
        _watched(self, *ids, first=False, countdown=countdown, errors=errors, held=held_by("copy", exc, time.time()))
        raise self.retry(countdown=countdown, max_retries=None, queue=poll_queue, exc=exc) from None
    if isinstance(step, Pending):
        _watched(self, *ids, first=False, countdown=step.countdown)
        park(self, *ids, due=time.time() + step.countdown)
        _shown_parked(self, step.countdown)
        raise Ignore()
    copywatch.unpark(runtime(self), *ids)
    result = step.as_dict()
    self.backend.store_result(self.request.id, result, states.SUCCESS, request=self.request)
    return result


def _shown_parked(task: Task, countdown: float) -> None:
    """Tell Flower (and any event consumer) that the copy waits for its watcher. A run that
    ends in ``Ignore`` sends no event of its own, so Flower showed every parked copy as STARTED
    for its whole copy: thousands of tasks seemingly running on a fleet whose slots are free.
    ``task-retried`` is what the copy is: waiting to be sent again under the same id; Celery's
    event state lets the woken run's ``received`` and ``started`` follow it (a custom state
    would rank above them and hide the run)."""
    if task.request.called_directly or not task.app.conf.worker_send_task_events:
        return
    try:
        task.send_event("task-retried", exception=f"Parked: {PARKED_REASON}; first look in {countdown:.0f} s",
                        traceback=None, retry=False)
    except Exception as exc:  # noqa: BLE001 - an event is advice; the copy is parked either way
        log.debug("cannot send the parked event of %s: %s", task.request.id, exc)


#: what a copy's record keeps of its request, but for the pair's first copy (which keeps it all)
POLL_IDS = ("id", "group", "group_index", "root_id", "parent_id")


def _watched(task: Task, job_id: str, source: str, target: str, disk: str, *, first: bool, countdown: float,
             errors: int | None = None, held: Held | None = None) -> None:
    """Tell the job's watchdog (``diskferry.tasks.watchdog``) when this disk's next poll is due and how
    to send it again if the broker loses it (the request's ids and chord options); and count the
    disk's run of errors and say what holds it up (``None`` removes each, in the same write)."""
    now = time.time()
    store = runtime(task).store
    patch: dict[str, Any] = {"poll_due": now + countdown, POLL_ERRORS: errors, HELD: held}
    if first:
        # a retry keeps the request's id and chord options: written once, not at every poll
        fields = request_fields(task.request)
        if task.request.group_index:
            # the chord's signature is the same for every copy of the pair: the first copy keeps
            # it for all (the watchdog completes a lost poll's record from the pair's)
            fields = {k: fields[k] for k in POLL_IDS}
        else:
            # the chord is applied: prepare's copy of it (with every copy's signature) is of no
            # more use to the watchdog, which resends a prepare only until it has run
            prepared = store.target_state(job_id, source, target).get("prepare") or {}
            if prepared.get("chain"):
                store.update_target(job_id, source, target, prepare={"id": prepared.get("id")})
        patch |= {"poll": fields, "poll_first": now}
    store.update_disk(job_id, source, target, disk, **patch)
    revive(task, job_id)


@task(bind=True, name=FINALIZE, max_retries=None)
def finalize(self: Task, job_id: str, source: str, target: str) -> dict[str, Any]:
    """Import what was copied, build the image, clean up (the chord body)."""
    try:
        outcome = finalize_step.finalize(runtime(self), job_id, source, target).as_dict()
    except RetryLater as exc:
        raise _again(self, exc, "finalize", job_id, source, target) from None
    job_ended(self, job_id)
    return outcome


@task(bind=True, name=CLEANUP, max_retries=None)
def cleanup(self: Task, failed_task_id: str, job_id: str, source: str, target: str) -> None:
    """Errback of prepare and finalize: the unexpected happened; mark the pair failed, clean up.

    Bound, so Celery enqueues it as a task of its own (retried, and visible in Flower) with
    the failed task's id first, instead of running it inside the failing worker.
    """
    exc = self.app.AsyncResult(failed_task_id).result
    if isinstance(exc, BaseException):
        error = Error(getattr(exc, "code", None) or type(exc).__name__, redact(str(exc)))
    else:
        error = Error("UnexpectedError", f"task {failed_task_id} failed")
    try:
        cleanup_step.abandon_pair(runtime(self), job_id, source, target, error)
    except RetryLater as exc_:
        raise _again(self, exc_, "cleanup", job_id, source, target) from None
    job_ended(self, job_id)
