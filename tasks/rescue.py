"""Giving back a dead worker's messages in seconds, not after the visibility timeout.

kombu's Redis transport keeps every delivered, unacknowledged message in the ``unacked`` hash
(indexed by delivery time in ``unacked_index``) and puts it back on its queue only once it
was delivered more than ``visibility_timeout`` seconds ago (``QoS.restore_visible``): kombu
does not know *who* holds a message, so it cannot tell a dead holder from a slow one. A
worker killed with SIGKILL (or OOM, or a lost host) thus stalls its tasks — and the countdown
polls it had reserved — for the whole timeout (10 min by default).

diskferry's transport (:mod:`diskferry.tasks.broker`) records the holder:

* every worker *process* has an :func:`instance` id — host, pid and start time, so a
  container restarted under the same hostname (even with the same pid) is a new instance
  and never looks alive on behalf of its dead predecessor;
* when its QoS appends a delivery to ``unacked``, the same pipeline (one round trip,
  atomic with kombu's own writes) adds the tag to the instance's ``held`` zset; where
  kombu removes a tag (ack, reject, restore) the same pipeline removes it there. A set
  holds what one worker holds at once (prefetch + its ETA messages), never more;
* the consumer beats into ``diskferry:instances`` at every kombu restore tick (every 2 s:
  ``WORKER_BEAT_SECONDS``, ``celeryconfig.RESTORE``): the beat comes from the very event
  loop that holds and acks the messages, into the Redis that holds them (the state Redis
  may be another one);
* at the same tick, :class:`Rescuer` looks for instances silent for
  ``DISKFERRY_WORKER_LOST_SECONDS``; under a Redis mutex, one worker at a time gives back each
  tag a dead instance held exactly as kombu's ``QoS.restore_by_tag`` does (the message goes
  back on its queue, marked redelivered, and leaves ``unacked``), then forgets the instance.

A worker wrongly declared dead (its event loop stalled past the limit) is harmless: its
messages run a second time elsewhere, which every task allows (idempotent by construction;
the chord counts a part once per task id, and locks are taken by a task's identity), and
its own late ack finds nothing to remove. To keep that rare, a rescuer judges only once it
has itself beaten without a gap for the whole limit: after a Redis outage, when every beat
is old, nobody is declared dead before the living had time to beat again.

Only a worker's consumer takes part (:func:`take_part`, at ``worker_init``): a CLI or test
process draining control replies runs the same kombu code but holds no task.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from celery.signals import worker_init, worker_process_init
from kombu.transport.redis import Mutex, MutexHeld

log = logging.getLogger(__name__)

INSTANCES = "diskferry:instances"
HELD_PREFIX = "diskferry:held:"
MUTEX = "diskferry:rescue_mutex"
_instance: tuple[int, str] | None = None
_taking_part = False


def instance() -> str:
    """This process's id as a holder of messages: ``host/pid/start-ms`` (made once per pid,
    so a forked child is never its parent)."""
    global _instance
    pid = os.getpid()
    if _instance is None or _instance[0] != pid:
        _instance = (pid, f"{socket.gethostname()}/{pid}/{int(time.time() * 1000)}")
    return _instance[1]


def held_key(instance_id: str) -> str:
    return HELD_PREFIX + instance_id


def take_part(on: bool = True) -> None:
    """Make this process's consumer beat and rescue (workers do, from ``worker_init``)."""
    global _taking_part
    _taking_part = on


def taking_part() -> bool:
    return _taking_part


def _on_worker_init(**_: Any) -> None:
    take_part()


def _on_pool_process_init(**_: Any) -> None:
    take_part(False)  # a pool child, forked from the worker, consumes nothing


# weak=False: the handlers live as long as the module (Celery signals hold weak references)
worker_init.connect(_on_worker_init, weak=False)
worker_process_init.connect(_on_pool_process_init, weak=False)


class Rescuer:
    """The beat of one consumer and its search for dead instances; ``qos`` is diskferry's
    kombu QoS (its ``restore_by_tag`` gives a message back)."""

    def __init__(self, qos: Any, lost_seconds: float) -> None:
        self._qos = qos
        self._lost = lost_seconds
        self._me = instance()
        self._last_beat: float | None = None
        self._steady_since: float | None = None

    def tick(self, client: Any, now: float | None = None) -> list[str]:
        """Beat, then rescue what dead instances held; returns the instances rescued."""
        now = time.time() if now is None else now
        self._beat(client, now)
        if self._steady_since is None or now - self._steady_since < self._lost:
            return []
        dead = [i for i, at in _beats(client).items() if at <= now - self._lost and i != self._me]
        if not dead:
            return []
        try:
            with Mutex(client, MUTEX, max(int(self._lost), 1)):
                return [i for i in dead if self._rescue(client, i, now)]
        except MutexHeld:  # another worker rescues right now
            return []

    def _beat(self, client: Any, now: float) -> None:
        try:
            client.zadd(INSTANCES, {self._me: now})
        except Exception:
            self._steady_since = self._last_beat = None
            raise
        # a gap (Redis away, the loop stalled) restarts the wait before judging others
        gap = None if self._last_beat is None else now - self._last_beat
        if gap is None or gap > self._lost / 2:
            self._steady_since = now
        self._last_beat = now

    def _rescue(self, client: Any, instance_id: str, now: float) -> bool:
        score = _beats(client).get(instance_id)
        if score is None or score > now - self._lost:
            return False  # it beat meanwhile: alive
        key = held_key(instance_id)
        tags = client.zrange(key, 0, -1)
        for tag in tags:
            self._qos.restore_by_tag(tag, client=client)
            client.zrem(key, tag)
        forgotten = client.transaction(lambda pipe: self._forget(pipe, instance_id, now), INSTANCES, key,
                                       value_from_callable=True)
        log.warning("worker instance %s silent for %.0f s: gave back the %d message(s) it held%s", instance_id,
                    now - score, len(tags), "" if forgotten else " (it appended again: kept)")
        return True

    def _forget(self, pipe: Any, instance_id: str, now: float) -> bool:
        """Forget a dead instance — unless it beat or took a message since we looked."""
        key = held_key(instance_id)
        score = _beats(pipe).get(instance_id)
        if pipe.zrange(key, 0, 0) or (score is not None and score > now - self._lost):
            return False
        pipe.multi()
        pipe.zrem(INSTANCES, instance_id)
        pipe.delete(key)
        return True


def _beats(client: Any) -> dict[str, float]:
    """Every instance's last beat. Only commands kombu prefixes with ``global_keyprefix``
    (ZRANGE, ZADD, ZREM, DEL, WATCH) are used here; the set is one entry per live process."""
    rows = client.zrange(INSTANCES, 0, -1, withscores=True)
    return {(i.decode() if isinstance(i, bytes) else str(i)): float(at) for i, at in rows}
