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
from typing import Any

from celery import Task
from celery.states import READY_STATES

from diskferry.config.celeryconfig import COPY_DISK, RESTORE, WATCHDOG
from diskferry.config.settings import Settings
from diskferry.pipeline import watchdog as watch
from diskferry.tasks.app import settings_of
from diskferry.tasks.base import runtime, task

log = logging.getLogger(__name__)

#: at most this long after its visibility timeout, a dead worker's message is back (every
#: worker sweeps for them at each ``unacked_restore_interval`` x ``unacked_restore_throttle``)
RESTORE_SECONDS = RESTORE["unacked_restore_interval"] * RESTORE["unacked_restore_throttle"]


def overdue_after(settings: Settings) -> float:
    """Seconds past its due time after which no redelivery can bring a poll back."""
    return settings.visibility_timeout + RESTORE_SECONDS + settings.watchdog_grace_seconds


def request_fields(request: Any) -> dict[str, Any]:
    """What a header task's request must carry again to count in its chord (ids only)."""
    return {
        "id": request.id, "group": request.group, "group_index": request.group_index, "chord": request.chord,
        "root_id": request.root_id, "parent_id": request.parent_id,
    }


def resend_options(poll: dict[str, Any]) -> dict[str, Any]:
    """``apply_async`` options that make a re-sent poll the same chord part as the lost one."""
    return {
        "task_id": poll["id"], "group_id": poll["group"], "group_index": poll.get("group_index"),
        "chord": poll.get("chord"), "root_id": poll.get("root_id"), "parent_id": poll.get("parent_id"),
    }


@task(bind=True, name=WATCHDOG, max_retries=None)
def watchdog(self: Task, job_id: str) -> None:
    """One round: send again every poll of the job that no redelivery can bring back."""
    backend = self.app.backend
    settings = settings_of(self.app)

    def ready(task_id: str) -> bool:
        return backend.get_task_meta(task_id).get("status") in READY_STATES

    try:
        over, lost = watch.sweep(runtime(self), job_id, ready, overdue_after(settings))
        for poll in lost:
            self.app.signature(
                COPY_DISK, args=(job_id, poll.source, poll.target, poll.disk), immutable=True
            ).apply_async(queue=settings.poll_queue, **resend_options(poll.poll))
    except Exception:  # a safety net that stops on a passing error protects nothing
        log.exception("watchdog of job %s: round failed; trying again", job_id)
        over = False
    if not over:
        raise self.retry(countdown=settings.watchdog_seconds, max_retries=None, queue=settings.poll_queue)
