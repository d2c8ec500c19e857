"""The copy watcher of a job's target: one task that looks at every parked copy (see
``diskferry.pipeline.copywatch``), re-enqueued on the poll queue with a countdown until nothing is
parked. Its result is nobody's; what it found is in the job record.

Killed mid-round, its message comes back (``acks_late``) and the round is done again; its message
lost, the next copy that parks starts another once it is overdue by more than any redelivery
takes, and the job's watchdog re-sends every copy it left overdue meanwhile.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from celery import Task

from diskferry.config.celeryconfig import WATCH_COPIES
from diskferry.errors import NotFound, RetryLater
from diskferry.pipeline import copywatch
from diskferry.pipeline.outcome import held_by
from diskferry.pipeline.runtime import Runtime
from diskferry.pipeline.watchdog import resend_record
from diskferry.tasks.app import settings_of
from diskferry.tasks.base import runtime, task
from diskferry.tasks.watchdog import overdue_after, revive, send_copy

log = logging.getLogger(__name__)

#: a round that failed unexpectedly comes back after this long (a safety net that stops on a
#: passing error would strand every copy it watches until the job's watchdog notices)
AFTER_ERROR_SECONDS = 5.0


def park(task: Task, job_id: str, source: str, target: str, disk: str, due: float) -> None:
    """Park a copy until ``due`` and start the target's watcher if none is there to look at it."""
    settings = settings_of(task.app)
    first_round = time.time() + max(0.0, min(copywatch.LONGEST_ROUND, due - time.time()))
    started = copywatch.park(runtime(task), job_id, source, target, disk, due, new_watcher=str(uuid.uuid4()),
                             stale_after=overdue_after(settings), first_round=first_round)
    if started is not None:
        # through the parking task's app (a shared task's proxy sends through the current app)
        task.app.signature(WATCH_COPIES, args=(job_id, target)).apply_async(
            task_id=started, eta=_utc(first_round), queue=settings.poll_queue)


def _utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)


def _wake(task: Task, job_id: str, target: str, wakes: list[copywatch.Wake]) -> None:
    """Send each woken copy's task again, then say so in the parked set: a wake this run could
    not send (Redis went away mid-round: Celery's publish gives up after a few retries) is due
    again ``UNSENT_WAKE_SECONDS`` after the round instead of ``WAKE_AGAIN_SECONDS``."""
    rt, settings = runtime(task), settings_of(task.app)
    done: list[copywatch.Wake] = []
    try:
        for wake in wakes:
            record = resend_record(rt, job_id, wake.source, target, wake.poll)
            if record.get("id"):
                # on the copy queue, as a finalize: a copy is woken once, to end it. On the poll
                # queue, the hundreds woken as a 1,000-disk target's copies end queued ahead of
                # the watchers' own next rounds (a round due in 2 s was taken 7 s late, and the
                # copies that ended meanwhile were seen that late)
                send_copy(task.app, settings, job_id, wake.source, target, wake.disk, record, queue=settings.queue)
            # else never ran: nothing to wake (its first run parks it again)
            done.append(wake)
    finally:
        if done:
            try:
                copywatch.sent(rt, job_id, target, done)
            except Exception as exc:  # noqa: BLE001 - then they are woken again sooner: harmless
                log.warning("watcher of job %s to %s: cannot record %d wakes sent: %s", job_id, target, len(done),
                            exc)


def _planned(request: Any) -> float | None:
    """When the message of this run was due (its ETA), as the watcher recorded it."""
    eta = request.eta
    if not eta:
        return None
    return (eta if isinstance(eta, datetime) else datetime.fromisoformat(str(eta))).timestamp()


def _held(rt: Runtime, job_id: str, target: str, exc: RetryLater) -> None:
    """Say in the job's record what holds the watcher up, for ``status`` (its copies' progress
    stands still meanwhile); its next round that gets a listing removes it."""
    held = held_by("watch", exc, time.time())
    if held is None:
        return
    try:
        rt.store.hold_watcher(job_id, target, held)
    except Exception as exc_:  # noqa: BLE001 - advice for the operator: the round goes on without it
        log.warning("watcher of job %s to %s: cannot record what holds it up: %s", job_id, target, exc_)


@task(bind=True, name=WATCH_COPIES, max_retries=None, ignore_result=True)
def watch_copies(self: Task, job_id: str, target: str, checking: bool = False) -> None:
    """One round over the target's parked copies: record their progress, wake those that ended.
    ``checking``: this message comes back only to take over the planned round if it never ran."""
    rt = runtime(self)
    settings = settings_of(self.app)
    try:
        found = copywatch.look(rt, job_id, target, self.request.id, planned=_planned(self.request), checking=checking)
    except NotFound:  # the job's record is gone: nothing to watch any more
        return
    except RetryLater as exc:  # Azure throttled or failed the listing: the copies wait a round
        log.info("watcher of job %s to %s: %s", job_id, target, exc)
        _held(rt, job_id, target, exc)
        found = copywatch.Round(next_in=max(exc.retry_after or 0.0, AFTER_ERROR_SECONDS))
    except Exception:  # see AFTER_ERROR_SECONDS
        log.exception("watcher of job %s to %s: round failed; trying again", job_id, target)
        found = copywatch.Round(next_in=AFTER_ERROR_SECONDS)
    if found is None:
        log.info("watcher %s of job %s to %s: replaced, or a duplicate message: stopping", self.request.id, job_id,
                 target)
        return
    if isinstance(found, copywatch.Recheck):
        log.info("watcher %s of job %s to %s: not the round planned; back in %.0f s to take it over if it never ran",
                 self.request.id, job_id, target, found.at - time.time())
        raise self.retry(eta=_utc(found.at), kwargs={"checking": True}, max_retries=None, queue=settings.poll_queue)
    next_round = time.time() + found.next_in
    going_on = rt.store.watcher_next(job_id, target, self.request.id, next_round) > 0
    if going_on:
        # the next round's message goes before the wakes: sent after them it waited behind
        # every woken copy in the poll queue (889 at the end of a 2,000-disk job: the next round
        # ran 38 s late, and so was every copy that ended meanwhile seen). Not raised: the
        # wakes are this run's to send. A worker killed while sending them leaves the copies it
        # did not wake parked, due again UNSENT_WAKE_SECONDS later, as a lost wake is. A round
        # taken over by a check goes on as the watcher's plain rounds: no ``checking``
        self.retry(eta=_utc(next_round), kwargs={}, max_retries=None, queue=settings.poll_queue, throw=False)
    _wake(self, job_id, target, found.wake)
    # the line the fleet benchmark counts looks by
    log.info("watcher of job %s to %s: looked at %d copies, woke %d; next round in %.1f s", job_id, target,
             found.looked, len(found.wake), found.next_in)
    if going_on:
        revive(self, job_id)
