"""A job's Celery results, removed once the job is over: afterwards Redis keeps only its record.

Every task of a job stores a result (prepare, finalize, a copy's final state) and every chord
its counters; Celery keeps them for ``result_expires`` (days: it must outlive the longest chord).
Once every pair is cleaned nobody reads them: the job's watchdog has stopped, the record holds
every outcome, and ``resume`` sends new tasks with new ids. So the task that cleaned the last
pair sends :func:`forget` (a countdown later: its own result is stored after it returns), and
the watchdog's last round sends :func:`forget` once more, for whatever landed after that (a job
that ended without its last task saying so: a stalled one). Each forgets only the run it was
sent for, and only if the job is still over: a run sent meanwhile (a resume, a canvas delivered
again) names its own tasks and chords in the record. Both are idempotent: a deleted key is
simply gone. :func:`forget` then drops from the record the ids and
due times it held only while the job ran (``cleanup.forget_requests``). A worker killed mid-way
leaves keys that ``result_expires`` still removes.
"""

from __future__ import annotations

import logging
from itertools import islice

from celery import Celery, Task

from diskferry.config.celeryconfig import FORGET
from diskferry.pipeline.cleanup import CLEANED, DELETING_ACCOUNTS, forget_requests, job_over
from diskferry.pipeline.prepare import TARGETS_READY
from diskferry.pipeline.runtime import Runtime
from diskferry.state import JobStore
from diskferry.tasks.app import settings_of
from diskferry.tasks.base import runtime, task

log = logging.getLogger(__name__)

#: after the last pair's task has stored its own result
FORGET_COUNTDOWN_SECONDS = 5.0
#: keys per DEL
_BATCH = 500
#: the keys the Redis result backend keeps for a chord (Celery 5.7, ``backends/redis.py``)
_GROUP_SUFFIXES = ("", ".j", ".t", ".s", ".d", ".c")


def forget_results(app: Celery, store: JobStore, job_id: str) -> int:
    """Delete the results of every task and chord the job's record names; how many keys went."""
    tasks, groups = store.task_ids(job_id)
    backend = app.backend
    keys = [backend.get_key_for_task(t) for t in sorted(tasks)]
    keys += [backend.get_key_for_group(g, suffix) for g in sorted(groups) for suffix in _GROUP_SUFFIXES]
    deleted = 0
    it = iter(keys)
    while batch := list(islice(it, _BATCH)):
        deleted += int(backend.client.delete(*batch))
    # the record's coordination sets have answered their questions (a cleanup run again after
    # this counts one of N and forgets nothing)
    for name in (CLEANED, TARGETS_READY, DELETING_ACCOUNTS):
        store.drop_set(job_id, name)
    return deleted


def _run_of(store: JobStore, job_id: str) -> int:
    """Which run of the job this is: 0, then one more at each ``diskferry resume``."""
    return int(store.meta(job_id).get("resumed") or 0)


def _over(rt: Runtime, job_id: str) -> bool:
    """Whether every pair of the job is cleaned: by their count (cheap) or, once an earlier
    forget dropped the count, by the record (once per job)."""
    if job_over(rt, rt.store.header(job_id)):
        return True
    status = rt.store.status(job_id)
    return status.done and status.cleaned


def job_ended(task: Task, job_id: str) -> None:
    """Called by a pair's last task: when the job is over, forget its results a little later."""
    rt = runtime(task)
    if job_over(rt, rt.store.header(job_id)):
        forget_later(task.app, rt.store, job_id)


def forget_later(app: Celery, store: JobStore, job_id: str) -> None:
    """Send :func:`forget` for the job's current run, a countdown from now."""
    forget.apply_async((job_id, _run_of(store, job_id)), queue=settings_of(app).poll_queue,
                       countdown=FORGET_COUNTDOWN_SECONDS)


@task(bind=True, name=FORGET, ignore_result=True)
def forget(self: Task, job_id: str, run: int = 0) -> None:
    """Forget the results of run ``run`` of the job, unless a resume started another meanwhile
    (whose tasks and chords the record names now: forgetting them would strand its chords)."""
    rt = runtime(self)
    if _run_of(rt.store, job_id) != run or not _over(rt, job_id):
        log.info("job %s runs again: its results stay", job_id)
        return
    deleted = forget_results(self.app, rt.store, job_id)
    # then what the record held only while the job ran: the ids just used, due times. Here, a
    # countdown after the job was seen over, not in the watchdog's last round: that round may
    # come before the last task's own result is stored, and its id must still be there for this
    # run to forget it
    fields = forget_requests(rt, job_id)
    log.info("job %s is over: %d result keys removed, %d record fields compacted", job_id, deleted, fields)
