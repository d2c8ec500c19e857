from __future__ import annotations

from celery import Celery

from diskferry.config.celeryconfig import CLEANUP, COPY_DISK, FINALIZE, PREPARE, WATCHDOG
from diskferry.config.settings import Settings
from diskferry.tasks.app import make_app
from tests.brokerview import queued

SETTINGS = Settings.from_env({"DISKFERRY_BROKER_URL": "redis://127.0.0.1:1/0", "DISKFERRY_POLL_QUEUE": "polls"})


def test_tasks_are_registered_by_name_on_any_app() -> None:
    app = make_app(SETTINGS)
    names = {PREPARE, COPY_DISK, FINALIZE, CLEANUP, WATCHDOG}
    assert names <= set(app.tasks)
    # copies poll until their own deadline; the others bound transient retries themselves
    # (tasks.replicate.MAX_RETRIES) but wait for a busy lock without limit
    assert all(app.tasks[n].max_retries is None for n in names)


def test_each_task_is_sent_to_its_queue_on_the_configured_broker(broker_app: tuple[Celery, Settings]) -> None:
    """Sent by name, as the producer and the tasks send them: copies and the rest wait in the
    work queue, the watchdog in the poll queue (where only poll consumers take it), all in
    the broker database the settings name. (That a killed task is run again, the point of
    the acks-late settings, is shown with real workers in tests/fleet/test_crash.py.)"""
    app, settings = broker_app
    names = (PREPARE, COPY_DISK, FINALIZE, CLEANUP, WATCHDOG)
    sent = {app.send_task(name, args=("job",)).id: name for name in names}
    where = {m["headers"]["id"]: q for q, messages in queued(settings.broker_url).items() for m in messages}
    assert {sent[i]: q for i, q in where.items()} == {PREPARE: "diskferry", COPY_DISK: "diskferry",
                                                       FINALIZE: "diskferry", CLEANUP: "diskferry", WATCHDOG: "polls"}


def test_task_signatures_take_ids_only() -> None:
    import inspect

    from diskferry.tasks import replicate

    for fn, params in ((replicate.prepare, ["job_id", "source", "target"]),
                       (replicate.copy_disk, ["job_id", "source", "target", "disk"]),
                       (replicate.finalize, ["job_id", "source", "target"]),
                       (replicate.cleanup, ["failed_task_id", "job_id", "source", "target"])):
        sig = inspect.signature(fn.run)
        assert list(sig.parameters) == params
        assert all(p.annotation in ("str", str) for p in sig.parameters.values())
