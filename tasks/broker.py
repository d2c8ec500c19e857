"""kombu's Redis transport, made to survive a Redis restart (``broker_transport`` points here).

What happens without it (measured: Redis killed with SIGKILL mid-job, AOF on, restarted):
Celery 5.7's ``Consumer.on_connection_error_after_connected`` first ``collect()``\\ s the
broken connection — which detaches the transport (``transport.client = None``) — and then
closes it. Closing the channel makes its QoS give back the messages the worker holds
("Restoring N unacknowledged message(s)"), which needs a Redis client; building one reads
``transport.client.hostname`` → ``AttributeError: 'NoneType' object has no attribute
'hostname'``. That is not a connection error, so ``ignore_errors`` lets it through and the
worker exits ("Unrecoverable error"; the family of Celery issues #7185 and #9250).

Two changes fix it:

* a channel whose transport was detached raises a *connection* error when it needs a new
  client, which kombu and Celery already ignore on close and log on ack;
* the messages that a closing channel could not give back (Redis down, or the channel
  detached) are remembered — they stay in Redis' ``unacked`` hash, which the AOF keeps —
  and given back by the next channel this process opens, as soon as Redis answers again.
  Without that they would return only after the visibility timeout (10 min by default).

A message given back while its task still runs in this worker runs again elsewhere: every
task is idempotent (DESIGN.md), and its first ack simply fails on the dead channel.

The QoS also records which worker process holds each delivery, and the consumer beats and
gives back what dead processes held, within ``DISKFERRY_WORKER_LOST_SECONDS`` instead of the
visibility timeout: see :mod:`diskferry.tasks.rescue`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import dumps
from redis.exceptions import ConnectionError as RedisConnectionError

from diskferry.tasks import rescue

log = logging.getLogger(__name__)

#: delivery tags of messages a closed channel held and could not give back; a process-wide
#: set because the next channel belongs to a new connection (and a new transport object)
_stranded: set[str] = set()
_lock = threading.Lock()


def stranded() -> set[str]:
    """The delivery tags still waiting to be given back (for tests and logs)."""
    with _lock:
        return set(_stranded)


class QoS(kombu_redis.QoS):
    def append(self, message: Any, delivery_tag: str) -> None:
        """kombu's ``append`` (``kombu/transport/redis.py``, ``QoS.append``), plus the holder's
        record in the same pipeline: nothing is in ``unacked`` that its holder did not note."""
        delivery = message.delivery_info
        now = time.time()
        me = rescue.instance()
        raw = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])  # type: ignore[no-untyped-call]
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: now})
            pipe.hset(self.unacked_key, delivery_tag, raw)
            pipe.zadd(rescue.held_key(me), {delivery_tag: now})
            pipe.zadd(rescue.INSTANCES, {me: now}, nx=True)
            pipe.execute()
            virtual.QoS.append(self, message, delivery_tag)  # type: ignore[no-untyped-call]

    def _remove_from_indices(self, delivery_tag: str, pipe: Any = None) -> Any:
        # ack, reject and restore all come here: the tag leaves this process's record with it
        # (a rescuer giving back another process's tag removes it from that one's itself)
        pipe = super()._remove_from_indices(delivery_tag, pipe)  # type: ignore[no-untyped-call]
        return pipe.zrem(rescue.held_key(rescue.instance()), delivery_tag)

    def restore_visible(self, start: int = 0, num: int = 10, interval: int = 10) -> None:
        """kombu's sweep (throttled to every ``interval``-th tick), then, at every tick, this
        worker's beat and the rescue of what dead workers held."""
        super().restore_visible(start, num, interval)  # type: ignore[no-untyped-call]
        if not rescue.taking_part():
            return
        rescuer = getattr(self, "_rescuer", None)
        if rescuer is None:
            rescuer = self._rescuer = rescue.Rescuer(self, float(self.channel.worker_lost_seconds))
        try:
            with self.channel.conn_or_acquire() as client:
                rescuer.tick(client)
        except self.channel.connection_errors:
            raise  # kombu skips this tick and tries at the next
        except Exception:  # a bug here must not take the worker's event loop down
            log.exception("could not beat or rescue dead workers' messages")

    def restore_unacked(self, client: Any = None) -> None:
        tags = list(self._delivered)
        self._delivered.clear()
        try:
            with self.channel.conn_or_acquire(client) as conn:
                for tag in tags:
                    self.restore_by_tag(tag, client=conn)  # type: ignore[no-untyped-call]
        except self.channel.connection_errors as exc:
            with _lock:
                _stranded.update(tags)
            log.warning("broker unavailable (%s): %d unacknowledged message(s) will be given back on reconnection",
                        exc, len(tags))


class Channel(kombu_redis.Channel):
    QoS = QoS
    #: a worker process silent this long is dead (``DISKFERRY_WORKER_LOST_SECONDS``)
    worker_lost_seconds: float = 15.0
    from_transport_options = (*kombu_redis.Channel.from_transport_options, "worker_lost_seconds")  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # the parent pings Redis: past this line, it answers
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._give_back_stranded()

    def _create_client(self, asynchronous: bool = False) -> Any:
        """kombu builds a new client object for every publish, ack and event sent outside the
        event loop (``conn_or_acquire``): 150 us each here, twice per message sent (the message
        and its task-sent event), as much as the round trip itself. One per channel and pool
        instead: the pool holds the connections, and a new pool (after a fork or a
        disconnection, ``_disconnect_pools``) gets a new client."""
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        pool = self.pool
        client = self.__dict__.get("_sync_client")
        if client is None or client.connection_pool is not pool:
            client = self.__dict__["_sync_client"] = super()._create_client()  # type: ignore[no-untyped-call]
        return client

    def _connparams(self, asynchronous: bool = False) -> Any:
        # closed: the channel lost its transport, or the transport its connection
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]

    def _give_back_stranded(self) -> None:
        with _lock:
            tags = list(_stranded)
            _stranded.clear()
        if not tags:
            return
        try:
            for tag in tags:
                self.qos.restore_by_tag(tag, client=self.client)
        except self.connection_errors:
            with _lock:
                _stranded.update(tags)
            raise
        log.warning("broker back: gave back %d message(s) held when the connection was lost", len(tags))


class Transport(kombu_redis.Transport):
    Channel = Channel
