"""The job-level watchdog: re-sends a copy poll the broker lost (see ``diskferry.pipeline.watchdog``).

Enqueued by ``diskferry.producer.api.submit_job`` on the poll queue; it re-enqueues itself every
``DISKFERRY_WATCHDOG_SECONDS`` (well under the visibility timeout, like a poll) until the job
is done and cleaned, or its record is gone. No beat process is needed.

The Celery side lives here: what a copy task records of its request (:func:`request_fields`),
how long a message can still come back (:func:`overdue_after`), and the options a re-sent poll
needs to count in its chord (the same task id, group id, group index and chord body).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from celery import Celery, Task
from celery.states import READY_STATES

from diskferry.config.celeryconfig import CLEANUP, COPY_DISK, FINALIZE, PREPARE, RESTORE, WATCHDOG
from diskferry.config.settings import Settings
from diskferry.errors import RetryLater
from diskferry.pipeline import watchdog as watch
from diskferry.tasks.app import settings_of
from diskferry.tasks.base import runtime, task
from diskferry.tasks.results import forget_later

log = logging.getLogger(__name__)

#: at most this long after its visibility timeout, a dead worker's message is back (every
#: worker sweeps for them at each ``unacked_restore_interval`` x ``unacked_restore_throttle``)
RESTORE_SECONDS = RESTORE["unacked_restore_interval"] * RESTORE["unacked_restore_throttle"]


def overdue_after(settings: Settings) -> float:
    """Seconds past its due time after which no redelivery can bring a poll back."""
    return settings.visibility_timeout + RESTORE_SECONDS + settings.watchdog_grace_seconds


def request_fields(request: Any) -> dict[str, Any]:
    """What a task's request must carry again to go on where it was lost (ids and signatures
    of ids only): a chord header's group, index and body, a chain's rest, its errbacks."""
    return {
        "id": request.id, "args": list(request.args or ()), "group": request.group, "group_index": request.group_index,
        "chord": request.chord, "chain": request.chain, "link": request.callbacks, "link_error": request.errbacks,
        "root_id": request.root_id, "parent_id": request.parent_id,
    }


def resend_options(record: dict[str, Any]) -> dict[str, Any]:
    """``apply_async`` options that make a re-sent task the one that was lost: the same id, and
    for a chord header the same chord part, for a chain's head the same rest of the chain."""
    options = {"task_id": record["id"], "root_id": record.get("root_id"), "parent_id": record.get("parent_id")}
    if record.get("group"):
        options |= {"group_id": record["group"], "group_index": record.get("group_index"),
                    "chord": record.get("chord")}
    for name in ("chain", "link", "link_error"):
        if record.get(name):
            options[name] = record[name]
    return options


def _what_to_send(task: watch.Overdue, job_id: str, settings: Settings) -> tuple[str, str, tuple[str, ...]]:
    """(task name, queue, arguments) of a lost task: ids only, as its record kept them."""
    pair = (job_id, task.source, task.target)
    if task.step == "cleanup":
        return CLEANUP, settings.queue, tuple(task.record.get("args") or ("", *pair))
    return (PREPARE if task.step == "prepare" else FINALIZE), settings.queue, pair


def _chord_body(app: Any, settings: Settings, job_id: str, source: str, target: str,
                record: dict[str, Any]) -> dict[str, Any]:
    """The chord body of a pair's copies, as the canvas made it (finalize, with its id and
    errback), for a lost poll when no copy of the pair has recorded it."""
    finalize = record.get("finalize") or {}
    sig = app.signature(FINALIZE, args=(job_id, source, target), immutable=True, queue=settings.queue,
                        task_id=finalize.get("id"), link_error=finalize.get("link_error") or [])
    return dict(sig)


def send_copy(app: Any, settings: Settings, job_id: str, source: str, target: str, disk: str,
              record: dict[str, Any], queue: str | None = None, countdown: float | None = None) -> None:
    """Send a copy's task again as the one lost or parked: its id, and its chord part (the
    chord's body from the pair's first copy, or rebuilt from the pair's finalize). On the poll
    queue unless ``queue`` says otherwise."""
    options = resend_options(record)
    if record.get("group") and not record.get("chord"):
        options["chord"] = _chord_body(app, settings, job_id, source, target, record)
    # a retry, as the copy's own re-sends are: the record comes from the poll fields its first
    # run wrote, and a run sent with ``retries=0`` takes itself for that first run and writes
    # them again (a record merge, for a pair's first copy a read and a write of the pair too,
    # per disk in a job's wind-down)
    app.signature(COPY_DISK, args=(job_id, source, target, disk), immutable=True).apply_async(
        queue=queue or settings.poll_queue, retries=1, countdown=countdown, **options)


#: results read in one MGET by the watchdog: a round of a 2,000-disk job asks about ~6,000
READY_BATCH = 1000


def ready_tasks(app: Celery, task_ids: list[str]) -> set[str]:
    """Which of ``task_ids`` have a final result stored: a few MGETs, whatever their number
    (one GET each was most of a watchdog round's Redis round trips). Results the backend
    already holds (Celery keeps ready ones in its per-process cache) are not read again."""
    backend = app.backend
    cache = getattr(backend, "_cache", {})
    found = {tid for tid in task_ids if (cache.get(tid) or {}).get("status") in READY_STATES}
    asked = [tid for tid in dict.fromkeys(task_ids) if tid not in found]
    for start in range(0, len(asked), READY_BATCH):
        chunk = asked[start:start + READY_BATCH]
        values = backend.mget([backend.get_key_for_task(tid) for tid in chunk])
        for tid, value in zip(chunk, values, strict=True):
            if not value:
                continue
            meta = backend.decode_result(value)
            if meta.get("status") in READY_STATES:
                found.add(tid)
                cache[tid] = meta
    return found


#: the watchdog's result is nobody's: it only re-enqueues itself until its job is over
@task(bind=True, name=WATCHDOG, max_retries=None, ignore_result=True)
def watchdog(self: Task, job_id: str) -> None:
    """One round: send again every poll of the job that no redelivery can bring back."""
    settings = settings_of(self.app)

    def ready(task_ids: list[str]) -> set[str]:
        return ready_tasks(self.app, task_ids)

    try:
        if watch.stalled(runtime(self), job_id, settings.stall_seconds):
            watch.fail_stalled(runtime(self), job_id, settings.stall_seconds)
        over, lost = watch.sweep(runtime(self), job_id, ready, overdue_after(settings))
        for task in lost:
            if task.step == "copy":
                assert task.disk is not None
                send_copy(self.app, settings, job_id, task.source, task.target, task.disk, task.record)
                continue
            name, queue, args = _what_to_send(task, job_id, settings)
            self.app.signature(name, args=args, immutable=True).apply_async(queue=queue, **resend_options(task.record))
    except RetryLater as exc:  # Azure is at what a stalled job's cleanup started: next round
        log.info("watchdog of job %s: %s", job_id, exc)
        over = False
    except Exception:  # a safety net that stops on a passing error protects nothing
        log.exception("watchdog of job %s: round failed; trying again", job_id)
        over = False
    if over:
        # not forgotten in this round but by ``forget``, a countdown later, which forgets only the
        # run it was sent for and only if the job is still over: the results this round would
        # delete are those the record names, and a run sent meanwhile (a resume, a canvas
        # delivered again) has named its own there — its chords, stranded mid-flight, never ran
        # their finalize (CI, test_running_a_job_again_creates_nothing)
        forget_later(self.app, runtime(self).store, job_id)
    else:
        # the polls look at this: should this very message be lost, they send it again
        runtime(self).store.update_job(job_id, watchdog=request_fields(self.request),
                                       watchdog_due=time.time() + settings.watchdog_seconds, touch=False)
        raise self.retry(countdown=settings.watchdog_seconds, max_retries=None, queue=settings.poll_queue)


#: a process looks at a job's watchdog (``revive``) at most this often: one is sent again only
#: once overdue by ``overdue_after`` (minutes), and each copy run used to read the record for it
REVIVE_EVERY_SECONDS = 10.0
#: when this process last looked at each job's watchdog (monotonic seconds)
_revive_looked: dict[str, float] = {}


def revive(task: Task, job_id: str) -> None:
    """Who watches the watchdog: every copy poll of the job. A watchdog overdue by more than
    any redelivery could take is sent again, with its own id (the job's record keeps it)."""
    settings = settings_of(task.app)
    now = time.monotonic()
    if now - _revive_looked.get(job_id, -math.inf) < min(REVIVE_EVERY_SECONDS, overdue_after(settings) / 4):
        return
    if len(_revive_looked) > 1000:  # a long-lived worker forgets the jobs it has not seen lately
        for old in [j for j, at in _revive_looked.items() if now - at > 3600]:
            del _revive_looked[old]
    _revive_looked[job_id] = now
    meta = runtime(task).store.job_meta(job_id)
    record, due = meta.get("watchdog") or {}, meta.get("watchdog_due")
    if not record.get("id") or due is None or time.time() <= float(due) + overdue_after(settings):
        return
    log.warning("job %s: its watchdog is %.0f s overdue: sending it again", job_id, time.time() - float(due))
    runtime(task).store.update_job(job_id, watchdog_due=time.time() + settings.watchdog_seconds, touch=False)
    task.app.signature(WATCHDOG, args=(job_id,), immutable=True).apply_async(
        queue=settings.poll_queue, **resend_options(record))
