"""A watcher round's wakes (``diskferry.tasks.copywatch``): sent ones are due again only much
later; ones it could not send (Redis gone mid-round) soon, by the next rounds."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import redis
from celery import Celery
from kombu.exceptions import OperationalError

from diskferry.config.celeryconfig import WATCH_COPIES
from diskferry.config.settings import Settings
from diskferry.emulator.testing import EmulatorProcess
from diskferry.pipeline import copywatch
from diskferry.tasks.app import make_app
from diskferry.tasks.base import runtime
from diskferry.tasks.copywatch import _wake
from diskferry.vault import new_key
from tests.diskferry import factories
from tests.tasks.test_outage import _closed_port


def _app(emulator: EmulatorProcess, broker: str, state: str) -> Celery:
    return make_app(Settings.from_env({**emulator.env, "DISKFERRY_BROKER_URL": broker,
                                       "DISKFERRY_RESULT_BACKEND": broker, "DISKFERRY_STATE_URL": state,
                                       "DISKFERRY_VAULT_KEY": new_key()}))


@pytest.mark.parametrize("broker_up", [True, False])
def test_wakes_sent_are_due_again_late_and_unsent_ones_soon(emulator: EmulatorProcess, redis_db: Callable[[], str],
                                                            broker_up: bool) -> None:
    state = redis_db()
    broker = redis_db() if broker_up else f"redis://127.0.0.1:{_closed_port()}/0"
    app = _app(emulator, broker, state)
    task = app.tasks[WATCH_COPIES]
    job = factories.job()
    source, target = job.sources[0], job.targets[0]
    rt = runtime(task)
    rt.store.create(job)
    now = time.time()
    due = now + copywatch.UNSENT_WAKE_SECONDS  # as the round that decided the wakes parked them
    wakes = [copywatch.Wake(source.key, d.key, {"id": f"copy-{d.key}"}, "success", due) for d in source.disks]
    for wake in wakes:
        rt.store.park(job.id, target.key, copywatch.member(wake.source, wake.disk), wake.due, new_watcher="w",
                      stale_after=60, first_round=now)
    task.push_request(id="w", args=(job.id, target.key), kwargs={}, called_directly=False)
    try:
        if broker_up:
            _wake(task, job.id, target.key, wakes)
        else:
            with pytest.raises(OperationalError):
                _wake(task, job.id, target.key, wakes)
    finally:
        task.pop_request()
    parked = dict(rt.store.all_parked(job.id, target.key))
    if broker_up:
        # each copy's task is in the queue, and its next wake is WAKE_AGAIN_SECONDS away
        settings = Settings.from_env({})
        sent = [json.loads(m) for m in redis.Redis.from_url(broker).lrange(settings.queue, 0, -1)]
        assert len(sent) == len(wakes)  # woken on the copy queue
        # as retries: the woken run does not take itself for the copy's first and rewrite its poll fields
        assert all(m["headers"]["retries"] >= 1 for m in sent)
        assert all(at >= now + copywatch.WAKE_AGAIN_SECONDS for at in parked.values())
    else:
        # none sent: each is woken again by the round UNSENT_WAKE_SECONDS after the first
        assert parked == {copywatch.member(w.source, w.disk): w.due for w in wakes}
    rt.store.delete(job.id)
