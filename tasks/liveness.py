"""Each worker notes itself alive in the state Redis at every heartbeat (every 2 s, from the
worker's main process): see :mod:`diskferry.liveness`."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery.signals import heartbeat_sent

from diskferry.liveness import Liveness
from diskferry.tasks.app import settings_of

log = logging.getLogger(__name__)
_registries: dict[str, Liveness] = {}


def note_alive(sender: Any, **_: Any) -> None:
    eventer = sender.eventer
    try:
        url = settings_of(eventer.app).state_url
        registry = _registries.get(url)
        if registry is None:
            registry = _registries[url] = Liveness(redis.Redis.from_url(url, decode_responses=True))
        registry.seen(eventer.hostname)
    except (redis.RedisError, RuntimeError) as exc:  # a missed beat is not worth a worker
        log.debug("could not note this worker alive: %s", exc)


# weak=False: the handler lives as long as the module (Celery signals hold weak references)
heartbeat_sent.connect(note_alive, weak=False)
