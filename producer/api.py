"""What the CLI, the demo and scripts call: plan, submit, status, list, cancel, resume, gc.
No presentation here.

Each function takes the settings (default: from the environment) and builds what it
needs; tests and long-lived callers may pass their own ``cloud``/``store``/``app``.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from diskferry import claims, naming
from diskferry.config.celeryconfig import PREPARE, WATCHDOG
from diskferry.config.settings import Settings, get_settings
from diskferry.errors import JobFailed, Unavailable, unreachable
from diskferry.liveness import Liveness
from diskferry.model import Job, Source, Target
from diskferry.producer import jobfile
from diskferry.producer.jobfile import JobFile
from diskferry.producer.planner import Plan, make_plan
from diskferry.state import JobStatus, JobStore, JobSummary, disk_field, target_field

if TYPE_CHECKING:
    # Celery and the Azure SDKs cost a second of imports: only the commands that act load them
    from celery import Celery

    from diskferry import gc
    from diskferry.cloud import Cloud
    from diskferry.pipeline.runtime import Runtime

__all__ = ["JobFailed", "JobFile", "Plan", "cancel_job", "collect_garbage", "job_status", "jobfile", "list_jobs",
           "load_jobfile", "plan_job", "producer_runtime", "release_results", "resume_job", "submit_job",
           "workers_alive"]


def load_jobfile(path: Path | str) -> JobFile:
    """Read and validate a job file; raises JobFileError naming the field."""
    return jobfile.load(path)


def plan_job(spec: JobFile, *, settings: Settings | None = None, cloud: Cloud | None = None) -> Plan:
    """Resolve the job against Azure (reads only) into every step it would take."""
    settings = settings or get_settings()
    return make_plan(spec, cloud or _cloud(settings), settings)


def submit_job(spec: JobFile, *, settings: Settings | None = None, cloud: Cloud | None = None,
               store: JobStore | None = None, app: Celery | None = None) -> str:
    """Plan, record and enqueue a job; returns its id. Nothing is recorded or enqueued if
    planning fails, a source is held by another running job, or the broker is down."""
    settings = settings or get_settings()
    plan = make_plan(spec, cloud or _cloud(settings), settings, job_id=naming.new_job_id())
    store = store or JobStore.from_url(settings.state_url, settings.job_ttl_seconds)
    app = app or _app(settings)
    job = plan.job
    _check_broker(app)
    # a source another running job holds alone refuses the job here, before anything exists
    claims.take(store, job)
    try:
        store.create(job, spec.model_dump(mode="json"))
        _enqueue(app, settings, store, job, job.pairs())
    except BaseException as exc:
        claims.release_all(store, job)
        if not isinstance(exc, Exception) or not unreachable(exc):
            raise
        # what was sent finds no record and stops at its first step, before touching Azure
        store.delete(job.id)
        raise Unavailable("BrokerUnavailable", f"the broker failed while the job was sent ({exc}); "
                          "nothing was submitted") from exc
    return job.id


def _check_broker(app: Celery) -> None:
    """Refuse to record a job the broker would not take (one connection attempt, bounded)."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
    except Exception as exc:
        if not unreachable(exc):
            raise
        raise Unavailable("BrokerUnavailable", f"cannot reach the broker: {exc}") from exc


def _enqueue(app: Celery, settings: Settings, store: JobStore, job: Job, pairs: list[tuple[Source, Target]]) -> None:
    """One canvas per pair, with the copies' task ids recorded first (for the watchdog), and
    the job's watchdog: the safety net for polls the broker loses (diskferry.tasks.watchdog)."""
    from diskferry.tasks.canvas import header_ids, pair_canvas, pair_records
    from diskferry.tasks.watchdog import resend_options

    now = time.time()
    records: dict[str, dict[str, Any]] = {}
    prepares: list[tuple[Target, tuple[str, str, str], dict[str, Any]]] = []
    for source, target in pairs:
        canvas = pair_canvas(app, settings, job, source, target)
        for disk, (task_id, index) in header_ids(canvas, source).items():
            records[disk_field(source.key, target.key, disk)] = {"poll": {"id": task_id, "group_index": index}}
        # what the watchdog needs to send prepare or finalize again, should the broker lose one
        pair = pair_records(canvas)
        records[target_field(source.key, target.key)] = {"prepare_due": now, **pair}
        prepares.append((target, (job.id, source.key, target.key), pair["prepare"]))
    # in one round trip (two per pair took 4,000 at 2,000 disks, while the workers already ran)
    store.update_disks(job.id, records)
    # target by target: the first target's prepares export each source and the next target's
    # find it exported, instead of the two prepares of a source meeting at its lock (one would
    # wait a countdown out, Busy, while its copies could already start)
    targets = {t.key: i for i, t in enumerate(job.targets)}
    for _, ids, prepare in sorted(prepares, key=lambda tp: targets[tp[0].key]):
        # each canvas is sent as its head, prepare, carrying the frozen rest of its chain — the
        # message the canvas itself sends, and the one the watchdog sends again should the broker
        # lose it. ``canvas.apply_async()`` froze and cloned the whole chain a second time: 37 %
        # of the producer's CPU for the enqueue (cProfile, 2,000 pairs), while the workers ran
        app.signature(PREPARE, args=ids, immutable=True).apply_async(
            queue=settings.queue, **resend_options(prepare))
    watchdog = app.signature(WATCHDOG, args=(job.id,), immutable=True).apply_async(
        queue=settings.poll_queue, countdown=settings.watchdog_seconds
    )
    # the copy polls send it again should the broker lose it (diskferry.tasks.watchdog.revive)
    store.update_job(job.id, watchdog={"id": watchdog.id}, watchdog_due=time.time() + settings.watchdog_seconds)
    release_results(app)


def resume_job(job_id: str, *, settings: Settings | None = None, cloud: Cloud | None = None,
               app: Celery | None = None) -> int:
    """Run a failed or cancelled job again, keeping the disks and images it made; returns how
    many (source, target) pairs run again. Raises NotFound, or JobFailed (``JobNotResumable``,
    ``SourceInUse``) with nothing changed."""
    from diskferry.pipeline import resume

    settings = settings or get_settings()
    rt = producer_runtime(settings, cloud)
    status = rt.store.status(job_id)
    resume.check(status)
    rerun = resume.plan(rt, rt.store.job(job_id), status)
    if not rerun.again:
        raise JobFailed("JobNotResumable", f"job {job_id}: every disk and image it makes is there; nothing to run")
    app = app or _app(settings)
    _check_broker(app)
    # only the sources read again are claimed: nothing would release the others' claims
    claims.take(rt.store, rerun.job, rerun.sources())
    try:
        resume.reset(rt, rerun)
        _enqueue(app, settings, rt.store, rerun.job, rerun.pairs())
    except BaseException:
        claims.release_all(rt.store, rerun.job)
        raise
    return len(rerun.pairs())


def release_results(app: Celery) -> None:
    """Stop listening for the results of what was just sent.

    Celery's Redis backend subscribes the sending process to the result channel of each task
    it sends; diskferry follows a job through its own record, not Celery results, and a
    subscription left open makes ``AsyncResult.__del__`` talk to Redis at interpreter exit.
    """
    backend = app.backend
    consumer = getattr(backend, "result_consumer", None)
    prefix = getattr(backend, "task_keyprefix", b"")
    if consumer is None:
        return
    for key in list(getattr(consumer, "subscribed_to", ())):
        raw = key if isinstance(key, bytes) else str(key).encode()
        consumer.cancel_for(raw.removeprefix(prefix).decode())


def job_status(job_id: str, *, settings: Settings | None = None, store: JobStore | None = None) -> JobStatus:
    """A snapshot of the job record (raises NotFound for an unknown or expired job)."""
    settings = settings or get_settings()
    store = store or JobStore.from_url(settings.state_url, settings.job_ttl_seconds)
    return store.status(job_id)


def workers_alive(*, settings: Settings | None = None) -> list[str]:
    """Hostnames of the workers that beat in the last half-minute (see diskferry.liveness)."""
    settings = settings or get_settings()
    return Liveness(redis.Redis.from_url(settings.state_url, decode_responses=True)).alive()


def list_jobs(limit: int = 50, *, settings: Settings | None = None, store: JobStore | None = None) -> list[JobSummary]:
    """The newest jobs first."""
    settings = settings or get_settings()
    store = store or JobStore.from_url(settings.state_url, settings.job_ttl_seconds)
    return store.list(limit)


def producer_runtime(settings: Settings, cloud: Cloud | None = None) -> Runtime:
    """What the pipeline's steps need, built in the producer (cancel and gc clean up from here;
    they only delete vault entries, which needs no vault key)."""
    from diskferry.pipeline.runtime import Runtime

    return Runtime.from_settings(settings, cloud)


def cancel_job(job_id: str, *, discard: bool = False, wait_seconds: float = 60.0, settings: Settings | None = None,
               cloud: Cloud | None = None, app: Celery | None = None, poll_seconds: float = 0.5) -> JobStatus:
    """Stop a job and clean up after it (``discard``: delete the disks and images it made too).

    The fleet's workers stop it by themselves (:mod:`diskferry.pipeline.cancel`); this waits
    ``wait_seconds`` for them to end it, and ends it from here when no worker answers or they
    do not finish in time. Raises NotFound for an unknown or expired job."""
    from diskferry.pipeline import cancel
    from diskferry.pipeline.waits import until_done

    settings = settings or get_settings()
    rt = producer_runtime(settings, cloud)
    rt.store.request_cancel(job_id, discard=discard)
    status = rt.store.status(job_id)
    if claims.ended(status):
        if discard:
            job = rt.store.job(job_id)
            for source, target in job.pairs():
                # Azure deletes a VM, then its NIC, then its disks: each may take a while
                until_done(partial(cancel.discard_pair, rt, job, source, target))
        return rt.store.status(job_id)
    if _workers_answer(app or _app(settings)):
        deadline = time.monotonic() + wait_seconds
        while not claims.ended(status) and time.monotonic() < deadline:
            time.sleep(poll_seconds)
            status = rt.store.status(job_id)
    if not claims.ended(status):
        cancel.sweep(rt, job_id)
    return rt.store.status(job_id)


def _cloud(settings: Settings) -> Cloud:
    from diskferry.cloud import Cloud

    return Cloud(settings.azure)


def _app(settings: Settings) -> Celery:
    from diskferry.tasks.app import make_app

    return make_app(settings)


def _workers_answer(app: Celery) -> bool:
    return bool(app.control.ping(timeout=1.0))


def collect_garbage(*, older_than: float, dry_run: bool, settings: Settings | None = None,
                    cloud: Cloud | None = None) -> list[gc.Leftover]:
    """What lost or ended jobs left in the subscription, removed (or only listed, ``dry_run``)."""
    from diskferry import gc

    settings = settings or get_settings()
    subscription = settings.azure.subscription_id
    if not subscription:
        raise JobFailed("NoSubscription", "AZURE_SUBSCRIPTION_ID is not set: gc needs the subscription to sweep")
    return gc.collect(producer_runtime(settings, cloud), subscription, older_than=older_than, dry_run=dry_run)
