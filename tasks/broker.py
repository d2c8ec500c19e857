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
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # the parent pings Redis: past this line, it answers
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._give_back_stranded()

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
