from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from diskferry.state import JobStore


@pytest.fixture
def store(redis_url: str) -> Iterator[JobStore]:
    """The test Redis's job store, emptied afterwards (synthetic jobs share one id)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield JobStore(client, ttl_seconds=600)
    client.flushdb()
    client.close()
