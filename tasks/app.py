"""The Celery app, configured from the settings (``celery --app=tasks.app:app worker``)."""

from __future__ import annotations

from celery import Celery

from config.celeryconfig import celery_config
from config.settings import Settings, get_settings


def make_app(settings: Settings) -> Celery:
    """A Celery app for ``settings``; the tasks (shared tasks) register on every app made."""
    from tasks import replicate, watchdog  # noqa: F401 - registers the shared tasks

    celery = Celery("diskferry", include=["tasks.replicate", "tasks.watchdog"], set_as_current=False)
    celery.conf.update(celery_config(settings))
    return celery


app = make_app(get_settings())
