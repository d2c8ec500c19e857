"""The job-level watchdog: re-sends a copy poll the broker lost (see ``diskferry.pipeline.watchdog``).

Enqueued by ``diskferry.producer.api.submit_job`` on the poll queue; it re-enqueues itself every
``DISKFERRY_WATCHDOG_SECONDS`` (well under the visibility timeout, like a poll) until the job
is done and cleaned, or its record is gone. No beat process is needed.
"""

from __future__ import annotations

import logging

from celery import Task
from celery.states import READY_STATES

from diskferry.config.celeryconfig import COPY_DISK, WATCHDOG
from diskferry.config.settings import get_settings
from diskferry.pipeline import watchdog as watch
from diskferry.tasks.base import runtime, task

_settings = get_settings()
log = logging.getLogger(__name__)


@task(bind=True, name=WATCHDOG, max_retries=None)
def watchdog(self: Task, job_id: str) -> None:
    """One round: send again every poll of the job that no redelivery can bring back."""
    backend = self.app.backend

    def ready(task_id: str) -> bool:
        return backend.get_task_meta(task_id).get("status") in READY_STATES

    try:
        over, resends = watch.sweep(runtime(), job_id, ready)
        for r in resends:
            self.app.signature(COPY_DISK, args=(job_id, r.source, r.target, r.disk), immutable=True).apply_async(
                queue=_settings.poll_queue, **r.options
            )
    except Exception:  # a safety net that stops on a passing error protects nothing
        log.exception("watchdog of job %s: round failed; trying again", job_id)
        over = False
    if not over:
        raise self.retry(countdown=_settings.watchdog_seconds, max_retries=None, queue=_settings.poll_queue)
