"""Test Redis databases: each taken one is fresh and no one else's until given back."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.redisdbs import FIRST, RedisDatabases, own_databases
from tests.redisserver import RedisServer


def test_databases_are_distinct_flushed_and_reused_once_given_back(redis_url: str) -> None:
    pool = RedisDatabases(redis_url)
    try:
        a, b = pool.take(), pool.take()
        assert a != b and min(int(a.rsplit("/", 1)[1]), int(b.rsplit("/", 1)[1])) >= FIRST
        with redis.Redis.from_url(a) as client:
            client.set("left", "behind")
        pool.give_back(a)
        again = pool.take()
        assert again == a  # given-back numbers come first, so the numbers stay few
        with redis.Redis.from_url(again) as client:
            assert client.dbsize() == 0
        pool.give_back(again)
        pool.give_back(b)
    finally:
        pool.close()


def test_named_databases_are_given_back_when_the_block_ends(redis_url: str) -> None:
    with own_databases(redis_url, ["broker", "state"]) as taken:
        assert set(taken) == {"broker", "state"} and len(set(taken.values())) == 2
        with redis.Redis.from_url(taken["state"]) as client:
            client.set("job", "1")
    pool = RedisDatabases(redis_url)
    try:
        retaken = {pool.take(), pool.take()}
        assert retaken == set(taken.values())
        for url in retaken:
            with redis.Redis.from_url(url) as client:
                assert client.dbsize() == 0
            pool.give_back(url)
    finally:
        pool.close()


def test_running_out_of_databases_is_a_clear_error(tmp_path: Path) -> None:
    with RedisServer(tmp_path, args=["--databases", str(FIRST + 3)]) as server:
        pool = RedisDatabases(server.url(0))
        try:
            taken = [pool.take(), pool.take()]  # FIRST and FIRST + 1; the last DB keeps the books
            with pytest.raises(RuntimeError, match="all 2 test databases"):
                pool.take()
            assert len(set(taken)) == 2
        finally:
            pool.close()
