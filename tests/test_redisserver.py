"""The tests' own redis-server binds the port itself and tries another when one is taken."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.redisserver import PORTS, RedisServer


def _held_port() -> socket.socket:
    """A listening socket of this test on a port of the range the server proposes from."""
    for port in random.sample(PORTS, 50):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.listen()
        return s
    raise AssertionError("no port of the range could be held")


def test_a_taken_port_makes_the_server_try_the_next(tmp_path: Path) -> None:
    with _held_port() as held:
        taken = held.getsockname()[1]
        others = [p for p in random.sample(PORTS, 20) if p != taken]
        with RedisServer(tmp_path, ports=[taken, *others]) as server:
            assert server.port in others
            with redis.Redis.from_url(server.url(3)) as client:
                assert client.ping() and client.connection_pool.connection_kwargs["db"] == 3
            assert "Address already in use" not in server.log_path.read_text()  # the log of the last try


def test_only_taken_ports_is_a_clear_error(tmp_path: Path) -> None:
    with _held_port() as held:
        taken = held.getsockname()[1]
        with pytest.raises(RuntimeError, match=rf"no free port among \[{taken}\]"):
            RedisServer(tmp_path, ports=[taken]).start()


def test_a_killed_server_restarts_on_its_port_empty(own_redis: Callable[[], RedisServer]) -> None:
    server = own_redis()
    url = server.url(0)
    with redis.Redis.from_url(url) as client:
        client.set("k", "v")
        server.kill()
        with pytest.raises(redis.ConnectionError):
            client.get("k")
        server.start()
        assert server.url(0) == url and client.get("k") is None  # nothing saved, as configured
