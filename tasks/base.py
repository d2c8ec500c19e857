"""What the tasks share: a typed task decorator and the runtime of a task's app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from celery import Task, shared_task

from diskferry.pipeline.runtime import Runtime
from diskferry.tasks.app import settings_of

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
