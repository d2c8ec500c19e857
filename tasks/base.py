"""What the tasks share: a typed task decorator and the worker process's runtime."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, cast

from celery import shared_task

from diskferry.config.settings import get_settings
from diskferry.pipeline.runtime import Runtime


def task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``shared_task`` with a type (Celery ships none), so that strict mypy accepts the tasks.

    Shared, so that any app built by ``diskferry.tasks.app.make_app`` (a producer's, a test's) knows them."""
    return cast(Callable[[Callable[..., Any]], Any], shared_task(**options))


@cache
def runtime() -> Runtime:
    """Azure clients, Redis and the vault of this worker process, built on first use."""
    return Runtime.from_settings(get_settings())
