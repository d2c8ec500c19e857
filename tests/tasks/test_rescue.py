"""The rescue of a dead consumer's messages (``diskferry.tasks.rescue``), on a real Redis with
kombu's real Redis transport (diskferry's subclass): a consumer in a process of its own takes
a message without acknowledging it, is killed (or stopped), and a rescuer in this process
gives the message back. The same with Celery workers, in every phase of a job:
``tests/fleet/test_kill_matrix.py``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis
from kombu import Connection

from diskferry.config.celeryconfig import REDIS_TRANSPORT
from diskferry.tasks import rescue
from tests.waiting import wait_until

QUEUE = "rescue-test"
LOST = 1.0

#: a consumer that takes one message, says which, and acknowledges it once told to (stdin)
CONSUMER = f"""
import json, sys
from kombu import Connection
from diskferry.tasks import rescue
with Connection(sys.argv[1], transport={REDIS_TRANSPORT!r}) as conn:
    q = conn.SimpleQueue({QUEUE!r})
    message = q.get(block=True, timeout=10)
    print(json.dumps({{"instance": rescue.instance(), "tag": message.delivery_tag}}), flush=True)
    sys.stdin.readline()
    message.ack()
    print("acked", flush=True)
"""


@contextmanager
def consumer(url: str) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """A consumer process holding the one queued message: (process, its instance, the tag)."""
    with subprocess.Popen([sys.executable, "-c", CONSUMER, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            took = json.loads(proc.stdout.readline())
            yield proc, took["instance"], took["tag"]
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def broker(redis_db: Callable[[], str]) -> Iterator[tuple[str, redis.Redis]]:
    url = redis_db()
    client = redis.Redis.from_url(url)
    with Connection(url, transport=REDIS_TRANSPORT) as conn:
        conn.SimpleQueue(QUEUE).put({"task": "payload"})
    yield url, client
    client.close()


def _rescue(url: str, at: float) -> list[str]:
    """One rescuer's ticks: it beats, and judges once it has beaten without a gap for LOST."""
    with Connection(url, transport=REDIS_TRANSPORT) as conn:
        qos = conn.default_channel.qos
        rescuer = rescue.Rescuer(qos, LOST)
        client = conn.default_channel.client
        # no judging before it beat for LOST itself
        assert rescuer.tick(client, now=at) == rescuer.tick(client, now=at + LOST / 2) == []
        return rescuer.tick(client, now=at + LOST)


def test_a_killed_consumers_message_is_given_back_and_it_is_forgotten(broker: tuple[str, redis.Redis]) -> None:
    url, r = broker
    with consumer(url) as (proc, instance, tag):
        assert r.llen(QUEUE) == 0
        # noted in the same pipeline as kombu's own record of the delivery
        assert r.zrange(rescue.held_key(instance), 0, -1) == [tag.encode()]
        assert r.hexists("unacked", tag)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # alive by its record until then: nothing is given back early
        assert _rescue(url, time.time() - LOST) == []
        assert _rescue(url, time.time() + LOST) == [instance]
    assert r.llen(QUEUE) == 1, "the message is back on its queue"
    (payload,) = r.lrange(QUEUE, 0, -1)
    assert json.loads(payload)["headers"]["redelivered"] is True
    assert not r.hexists("unacked", tag) and r.zscore("unacked_index", tag) is None
    assert not r.exists(rescue.held_key(instance)), "a dead instance's record is dropped"
    assert r.zscore(rescue.INSTANCES, instance) is None, "and it is forgotten: nothing grows"


def test_an_acknowledged_message_leaves_its_holders_record(broker: tuple[str, redis.Redis]) -> None:
    url, r = broker
    with consumer(url) as (proc, instance, _tag):
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "acked"
        assert r.zcard(rescue.held_key(instance)) == 0
        assert r.hlen("unacked") == 0


def test_a_stalled_consumer_declared_dead_is_harmless(broker: tuple[str, redis.Redis]) -> None:
    """A consumer that was only stopped (SIGSTOP: alive, silent) is taken for dead: its message
    runs again elsewhere (idempotent tasks allow it), and its late ack, once resumed, removes
    nothing and raises nothing."""
    url, r = broker
    with consumer(url) as (proc, instance, tag):
        assert proc.stdin is not None and proc.stdout is not None
        proc.send_signal(signal.SIGSTOP)
        assert _rescue(url, time.time() + LOST) == [instance]
        assert r.llen(QUEUE) == 1
        proc.send_signal(signal.SIGCONT)
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "acked"
        wait_until(lambda: proc.poll() is not None, 10, "the consumer did not exit after its ack")
        assert proc.returncode == 0
    assert r.llen(QUEUE) == 1, "the given-back message is still queued for another consumer"
    assert not r.hexists("unacked", tag)


def test_after_a_gap_in_its_own_beats_a_rescuer_judges_nobody_at_once(broker: tuple[str, redis.Redis]) -> None:
    """After a Redis outage every beat is old, the rescuer's own too: it must give the others
    time to beat again before it takes any of them for dead."""
    url, r = broker
    now = time.time()
    r.zadd(rescue.INSTANCES, {"elsewhere/1/1": now - 10 * LOST})  # silent since before the outage
    with Connection(url, transport=REDIS_TRANSPORT) as conn:
        rescuer = rescue.Rescuer(conn.default_channel.qos, LOST)
        client = conn.default_channel.client
        for at in (now, now + LOST / 2):
            assert rescuer.tick(client, now=at) == []
        # its own beats stop for longer than half the limit (Redis away), then resume
        assert rescuer.tick(client, now=now + 2 * LOST) == []
        assert rescuer.tick(client, now=now + 2.5 * LOST) == []
        assert rescuer.tick(client, now=now + 3 * LOST) == ["elsewhere/1/1"]
    assert r.zscore(rescue.INSTANCES, "elsewhere/1/1") is None
