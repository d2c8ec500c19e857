"""The base class of every diskferry task: a Redis outage gives the message back, it fails nothing.

While Redis (broker, result backend or job store) is down, a task that needs it cannot do
its work *and* cannot record a failure or a retry. Letting the error through would fail the
task: its chord part counts a failure, the errback abandons the pair and the job fails for
an outage that lasted seconds. So a task that runs into one is rejected with requeue: no
result, no errback, and the message comes back — at once if Redis already answers again, or
through :mod:`diskferry.tasks.broker` when the worker reconnects. Every task is idempotent,
so running it again is safe.

(When only the job store is down, or Redis is full, and the broker still hands out messages,
the message comes straight back and runs again until the store answers: the outage costs
retries, not the job. Each give-back waits ``OUTAGE_PAUSE_SECONDS`` first: without it, each
worker slot ran its message a few hundred times a second — a warning in the log each time, and
the slot's core spent on nothing — for as long as the outage lasted.)

The same goes for a retry whose message cannot be sent. Celery's ``Task.retry`` turns any
error of that publish into ``Reject(requeue=False)`` (``celery/app/task.py``): the running
message is acknowledged and dropped, and with it whatever chain of countdowns it carried —
a copy watcher's rounds, a job's watchdog, a copy's poll. Seen in CI: Redis killed mid-job,
a watcher never came back, and its copies were left to the watchdog's visibility-timeout
sweep (10 min) instead of going on at the restart. Here that rejection requeues.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.exceptions import Reject
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

#: how long a task that met a Redis outage waits before giving its message back. A pause in the
#: worker slot, which nothing else could use meanwhile: every task needs Redis. Short, so that
#: the end of an outage is met within about as long
OUTAGE_PAUSE_SECONDS = 1.0

#: Redis unreachable (redis-py: includes BusyLoadingError while it replays its AOF), full (a
#: ``noeviction`` Redis at its maxmemory refuses writes: OOM; evicting policies are refused at
#: worker start, ``diskferry.tasks.preflight``), or a publish through kombu that failed for it;
#: none subclasses the builtin ConnectionError
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OutOfMemoryError, OperationalError)


class OutageTolerantTask(Task):  # type: ignore[misc]
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except UNAVAILABLE as exc:
            log.warning("%s[%s]: Redis unavailable (%s): giving the message back", self.name, self.request.id, exc)
            if not self.request.called_directly:
                time.sleep(OUTAGE_PAUSE_SECONDS)
            raise Reject(exc, requeue=True) from None

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().retry(*args, **kwargs)
        except Reject as exc:
            if exc.requeue or not isinstance(exc.reason, UNAVAILABLE):
                raise
            log.warning("%s[%s]: could not send its retry (%s): giving the message back", self.name,
                        self.request.id, exc.reason)
            raise Reject(exc.reason, requeue=True) from None
