"""The Celery app, made from the settings (``celery --app=diskferry.tasks.app:app worker``).

An app carries the settings it was made from; tasks read theirs (and build their runtime)
from ``self.app``, never from the environment at import time. ``app`` itself, the worker's
app, is made from the environment on first access, so importing this module reads nothing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from celery import Celery

from diskferry.config.celeryconfig import celery_config
from diskferry.config.settings import Settings, get_settings

#: the attribute of an app that holds its Settings
_SETTINGS = "diskferry_settings"


def make_app(settings: Settings) -> Celery:
    """A Celery app for ``settings``; the tasks (shared tasks) register on every app made."""
    from diskferry.tasks import copywatch, replicate, results, watchdog  # noqa: F401 - registers the shared tasks

    celery = Celery("diskferry", set_as_current=False, task_cls="diskferry.tasks.outage:OutageTolerantTask", include=[
        "diskferry.tasks.replicate", "diskferry.tasks.copywatch", "diskferry.tasks.watchdog", "diskferry.tasks.results",
        "diskferry.tasks.liveness",
        "diskferry.tasks.rescue",  # before worker_init, which makes the worker's consumer rescue
    ])
    celery.conf.update(celery_config(settings))
    setattr(celery, _SETTINGS, settings)
    return celery


def settings_of(app: Celery) -> Settings:
    """The settings ``app`` was made from (by :func:`make_app`)."""
    settings = getattr(app, _SETTINGS, None)
    if not isinstance(settings, Settings):
        raise RuntimeError(f"Celery app {app.main!r} was not made by diskferry.tasks.app.make_app")
    return settings


@cache
def _worker_app() -> Celery:
    return make_app(get_settings())


def __getattr__(name: str) -> Any:
    if name == "app":
        return _worker_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
