"""The Celery app, configured from the settings (``celery --app=tasks.app:app worker``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, cast

from celery import Celery

from config.celeryconfig import celery_config
from config.settings import Settings, get_settings
from diskferry.pipeline.runtime import Runtime


def make_app(settings: Settings) -> Celery:
    celery = Celery("diskferry", include=["tasks.replicate"])
    celery.conf.update(celery_config(settings))
    return celery


app = make_app(get_settings())


@cache
def runtime() -> Runtime:
    """Azure clients, Redis and the vault of this worker process, built on first use."""
    return Runtime.from_settings(get_settings())


def task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``app.task`` with a type (Celery ships none), so that strict mypy accepts the tasks."""
    return cast(Callable[[Callable[..., Any]], Any], app.task(**options))
