"""Numbered databases of one test redis-server, each handed to one user at a time, flushed.

A fleet takes three (broker, result backend, state), a test that needs Redis takes one: none
shares keys with another, and no test names a database number (numbers written into five
files collided, and flushed a developer's own databases when no test server was started).

The bookkeeping lives in the server itself (a counter and a list of given-back numbers in its
last database), so anything holding the server's URL takes databases without a shared Python
object, and taking one is one atomic command.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import cast

import redis

#: 0-15 stay out of the pool: ``redis_url`` is database 0, and tests written before the pool
#: may still name a number below 16
FIRST = 16
NEXT = "diskferry-tests:next-db"
FREE = "diskferry-tests:free-dbs"


class RedisDatabases:
    def __init__(self, server_url: str) -> None:
        """``server_url``: any ``redis://host:port/db`` URL of the server."""
        self.base = server_url.rsplit("/", 1)[0]
        probe = redis.Redis.from_url(f"{self.base}/0")
        try:
            self.count = int(cast(dict[str, str], probe.config_get("databases"))["databases"])
        finally:
            probe.close()
        # the last database holds the bookkeeping and is never handed out
        self._books = redis.Redis.from_url(f"{self.base}/{self.count - 1}")

    def take(self) -> str:
        """The URL of a database no one else holds, flushed."""
        free = self._books.rpop(FREE)  # the last given back first: the numbers in use stay few
        number = int(cast(bytes, free)) if free is not None else FIRST - 1 + int(self._books.incr(NEXT))
        if number >= self.count - 1:
            raise RuntimeError(f"all {self.count - 1 - FIRST} test databases of {self.base} are taken")
        url = f"{self.base}/{number}"
        with redis.Redis.from_url(url) as client:
            client.flushdb()
        return url

    def give_back(self, url: str) -> None:
        number = int(url.rsplit("/", 1)[1])
        with redis.Redis.from_url(url) as client:
            client.flushdb()
        self._books.rpush(FREE, number)

    def close(self) -> None:
        self._books.close()


@contextmanager
def own_databases(server_url: str, names: Sequence[str]) -> Iterator[dict[str, str]]:
    """One fresh database of the server of ``server_url`` per name, given back afterwards."""
    pool = RedisDatabases(server_url)
    taken: dict[str, str] = {}
    try:
        for name in names:
            taken[name] = pool.take()
        yield taken
    finally:
        for url in taken.values():
            pool.give_back(url)
        pool.close()
