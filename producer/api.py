"""What the CLI, the demo and scripts call: plan, submit, status, list. No presentation here.

Each function takes the settings (default: from the environment) and builds what it
needs; tests and long-lived callers may pass their own ``cloud``/``store``/``app``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from celery import Celery

from diskferry import naming
from diskferry.config.celeryconfig import WATCHDOG
from diskferry.config.settings import Settings, get_settings
from diskferry.errors import JobFailed
from diskferry.producer import jobfile
from diskferry.producer.canvas import header_ids, job_canvases
from diskferry.producer.jobfile import JobFile
from diskferry.producer.planner import Plan, make_plan
from diskferry.state import JobStatus, JobStore, JobSummary

if TYPE_CHECKING:
    from diskferry.cloud import Cloud

__all__ = ["JobFailed", "JobFile", "Plan", "job_status", "jobfile", "list_jobs", "load_jobfile", "plan_job",
           "release_results", "submit_job"]


def load_jobfile(path: Path | str) -> JobFile:
    """Read and validate a job file; raises JobFileError naming the field."""
    return jobfile.load(path)


def plan_job(spec: JobFile, *, settings: Settings | None = None, cloud: Cloud | None = None) -> Plan:
    """Resolve the job against Azure (reads only) into every step it would take."""
    settings = settings or get_settings()
    return make_plan(spec, cloud or _cloud(settings), settings)


def submit_job(spec: JobFile, *, settings: Settings | None = None, cloud: Cloud | None = None,
               store: JobStore | None = None, app: Celery | None = None) -> str:
    """Plan, record and enqueue a job; returns its id. Nothing is enqueued if planning fails."""
    settings = settings or get_settings()
    plan = make_plan(spec, cloud or _cloud(settings), settings, job_id=naming.new_job_id())
    store = store or JobStore.from_url(settings.state_url, settings.job_ttl_seconds)
    if app is None:
        from diskferry.tasks.app import make_app

        app = make_app(settings)
    job = plan.job
    store.create(job, spec.model_dump(mode="json"))
    canvases = job_canvases(app, settings, job)
    for (source, target), canvas in zip(job.pairs(), canvases, strict=True):
        for disk, (task_id, index) in header_ids(canvas, source).items():
            store.update_disk(job.id, source.key, target.key, disk, poll={"id": task_id, "group_index": index})
    for canvas in canvases:
        canvas.apply_async()
    # the safety net for polls the broker loses (diskferry.tasks.watchdog)
    app.signature(WATCHDOG, args=(job.id,), immutable=True).apply_async(
        queue=settings.poll_queue, countdown=settings.watchdog_seconds
    )
    release_results(app)
    return job.id


def _cloud(settings: Settings) -> Cloud:
    from diskferry.cloud import Cloud  # the Azure SDKs, only for commands that talk to Azure

    return Cloud(settings)


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


def list_jobs(limit: int = 50, *, settings: Settings | None = None, store: JobStore | None = None) -> list[JobSummary]:
    """The newest jobs first."""
    settings = settings or get_settings()
    store = store or JobStore.from_url(settings.state_url, settings.job_ttl_seconds)
    return store.list(limit)
