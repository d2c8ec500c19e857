"""A task that runs into a Redis outage gives its message back (``diskferry.tasks.outage``):
its retry too, when the retry's own message cannot be sent. With workers and a Redis that is
killed and restarted mid-job: ``tests/fleet/test_redis_restart.py``."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import pytest
import redis
from celery.exceptions import Reject

from diskferry.config.celeryconfig import WATCH_COPIES, WATCHDOG
from diskferry.config.settings import Settings
from diskferry.tasks.app import make_app
from diskferry.tasks.outage import OUTAGE_PAUSE_SECONDS, OutageTolerantTask
from tests.redisserver import RedisServer


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, never listened, closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("name", "args"), [(WATCHDOG, ("job",)), (WATCH_COPIES, ("job", "target"))])
def test_a_retry_that_cannot_be_sent_gives_the_running_message_back(name: str, args: tuple[str, ...]) -> None:
    # Celery's own Task.retry rejects the message *without* requeue when sending the retry
    # fails: the task's chain of countdowns (a watchdog's, a copy watcher's rounds) ended there
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    app = make_app(Settings.from_env({"DISKFERRY_BROKER_URL": url, "DISKFERRY_RESULT_BACKEND": url}))
    task = app.tasks[name]
    task.push_request(id="lost-1", args=args, kwargs={}, called_directly=False,
                      delivery_info={"routing_key": "diskferry.poll"})
    try:
        with pytest.raises(Reject) as caught:
            task.retry(countdown=5, max_retries=None)
    finally:
        task.pop_request()
    assert caught.value.requeue is True


def test_a_task_that_meets_a_full_redis_gives_its_message_back(tmp_path: Path) -> None:
    """A ``noeviction`` Redis at its maxmemory refuses writes (OOM): that is Redis unable to do
    the work, as when it is down — not a failure of the task's disk or pair."""
    with RedisServer(tmp_path, ["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]) as server:
        client = redis.Redis.from_url(server.url(0))
        with contextlib.suppress(redis.exceptions.OutOfMemoryError):
            for i in range(10_000):
                client.set(f"filler-{i}", "x" * 4096)
        app = make_app(Settings.from_env({"DISKFERRY_BROKER_URL": server.url(1)}))

        @app.task(bind=True, base=OutageTolerantTask, name="test.writes")  # type: ignore[untyped-decorator]
        def writes(self: object) -> None:
            client.set("record", "x" * 4096)

        writes.push_request(id="full-1", args=(), kwargs={}, called_directly=False)
        started = time.monotonic()
        try:
            with pytest.raises(Reject) as caught:
                writes()
        finally:
            writes.pop_request()
            client.close()
        assert caught.value.requeue is True
        assert isinstance(caught.value.reason, redis.exceptions.OutOfMemoryError)
        # not at once: a worker that gets the message straight back would spin on it
        assert time.monotonic() - started >= OUTAGE_PAUSE_SECONDS
