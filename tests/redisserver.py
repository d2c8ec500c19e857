"""The tests' redis-servers: see :mod:`diskferry.producer.localredis` (shared with the benchmarks)."""

from diskferry.producer.localredis import (
    ATTEMPTS,
    DATABASES,
    IN_USE,
    PORTS,
    READY,
    RedisNotInstalled,
    RedisServer,
    redis_server_binary,
)

__all__ = ["ATTEMPTS", "DATABASES", "IN_USE", "PORTS", "READY", "RedisNotInstalled", "RedisServer",
           "redis_server_binary"]
