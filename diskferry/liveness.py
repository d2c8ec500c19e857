"""Which workers are alive, as the state Redis knows it: every worker notes itself at each of
its heartbeats (``diskferry.tasks.liveness``), so the CLI can tell an operator how many are up
— and that a job waits for want of one — without importing Celery or asking the broker."""

from __future__ import annotations

import time
from typing import cast

import redis

KEY = "diskferry:workers"
#: a worker not heard from for this long is presumed gone (Celery beats every 2 s)
ALIVE_SECONDS = 30.0
#: entries older than this are dropped
FORGET_SECONDS = 24 * 3600.0


class Liveness:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def seen(self, hostname: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._r.pipeline() as pipe:
            pipe.zadd(KEY, {hostname: now})
            pipe.zremrangebyscore(KEY, "-inf", now - FORGET_SECONDS)
            pipe.execute()

    def alive(self, within: float = ALIVE_SECONDS, now: float | None = None) -> list[str]:
        """Hostnames of the workers heard from in the last ``within`` seconds."""
        now = time.time() if now is None else now
        return sorted(cast(list[str], self._r.zrangebyscore(KEY, now - within, "+inf")))
