from __future__ import annotations

from diskferry.config.celeryconfig import CLEANUP, COPY_DISK, FINALIZE, PREPARE, WATCHDOG
from diskferry.config.settings import Settings
from diskferry.tasks.app import make_app

SETTINGS = Settings.from_env({"DISKFERRY_BROKER_URL": "redis://127.0.0.1:1/0", "DISKFERRY_POLL_QUEUE": "polls"})


def test_tasks_are_registered_by_name_on_any_app() -> None:
    app = make_app(SETTINGS)
    names = {PREPARE, COPY_DISK, FINALIZE, CLEANUP, WATCHDOG}
    assert names <= set(app.tasks)
    # copies poll until their own deadline; the others bound transient retries themselves
    # (tasks.replicate.MAX_RETRIES) but wait for a busy lock without limit
    assert all(app.tasks[n].max_retries is None for n in names)


def test_routes_and_safety_settings() -> None:
    app = make_app(SETTINGS)
    for name in (PREPARE, COPY_DISK, FINALIZE, CLEANUP):
        route = app.amqp.router.route({}, name)
        assert route["queue"].name == "diskferry"
    assert app.amqp.router.route({}, WATCHDOG)["queue"].name == "polls"
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.broker_url == "redis://127.0.0.1:1/0"


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
