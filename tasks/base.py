"""What the tasks share: a typed task decorator and the runtime of a task's app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval

from diskferry.errors import RetryLater
from diskferry.pipeline.runtime import Runtime
from diskferry.tasks.app import settings_of

#: the shortest countdown of a retried task
MIN_COUNTDOWN_SECONDS = 0.5
#: the attribute of an app that holds its worker process's Runtime
_RUNTIME = "diskferry_runtime"


def task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``shared_task`` with a type (Celery ships none), so that strict mypy accepts the tasks.

    Shared, so that any app built by ``diskferry.tasks.app.make_app`` (a producer's, a test's) knows them."""
    return cast(Callable[[Callable[..., Any]], Any], shared_task(**options))


def runtime(task: Task) -> Runtime:
    """Azure clients, Redis and the vault of this worker process, built on first use from the
    settings of the task's app (a pool child builds its own after the fork)."""
    app = task.app
    rt = getattr(app, _RUNTIME, None)
    if not isinstance(rt, Runtime):
        rt = Runtime.from_settings(settings_of(app))
        setattr(app, _RUNTIME, rt)
    return rt


def retry_countdown(task: Task, exc: RetryLater, retries: int) -> float:
    """Azure's Retry-After when it gave one; else exponential back-off with full jitter, so that
    the tasks a throttled or failing endpoint turned away do not all come back at once. Never
    longer than the settings allow: a countdown past the visibility timeout would make Redis
    hand the message to a second worker."""
    settings = settings_of(task.app)
    if exc.retry_after:
        # never sooner than MIN_COUNTDOWN: a retry is a message round trip, not a free spin
        return min(max(exc.retry_after, MIN_COUNTDOWN_SECONDS), settings.longest_countdown)
    backoff = get_exponential_backoff_interval(1, retries, int(settings.max_backoff_seconds), full_jitter=True)
    return float(backoff) or 1.0
