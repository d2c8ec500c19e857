"""The Celery app, configured from the settings (``celery --app=diskferry.tasks.app:app worker``)."""

from __future__ import annotations

from celery import Celery

from diskferry.config.celeryconfig import celery_config
from diskferry.config.settings import Settings, get_settings


def make_app(settings: Settings) -> Celery:
    """A Celery app for ``settings``; the tasks (shared tasks) register on every app made."""
    from diskferry.tasks import replicate, watchdog  # noqa: F401 - registers the shared tasks

    celery = Celery(
        "diskferry", include=["diskferry.tasks.replicate", "diskferry.tasks.watchdog"], set_as_current=False,
        task_cls="diskferry.tasks.outage:OutageTolerantTask",
    )
    celery.conf.update(celery_config(settings))
    return celery


app = make_app(get_settings())
