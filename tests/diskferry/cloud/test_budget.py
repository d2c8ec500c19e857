"""The fleet's ARM budget in a real Redis: a token bucket that every worker shares, that
learns what Azure says remains, and that makes everyone wait out a 429's Retry-After."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from diskferry.cloud.budget import LEARN_SLACK, ArmBudgetExceeded, Budget
from diskferry.config.settings import ArmBudget, TokenBucket
from diskferry.errors import Throttled

SUB = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


def _budget(client: redis.Redis, writes: TokenBucket, *, enabled: bool = True, principal: str = "") -> Budget:
    # a principal of its own per test: the buckets of one test are not another's
    return Budget(client, ArmBudget(writes=writes, enabled=enabled), principal or uuid.uuid4().hex)


def _takes(budget: Budget, limit: int) -> int:
    """Tokens taken before the budget refuses one."""
    for i in range(limit):
        try:
            budget.take(SUB, "writes")
        except ArmBudgetExceeded:
            return i
    return limit


def test_takes_the_bucket_then_says_how_long_to_wait(client: redis.Redis) -> None:
    budget = _budget(client, TokenBucket(5, 2))
    assert _takes(budget, 100) == 5
    with pytest.raises(ArmBudgetExceeded) as err:
        budget.take(SUB, "writes")
    assert isinstance(err.value, Throttled)  # retried without a limit by the tasks
    # second in line (_takes was refused first): two tokens' refill at 2/s, and a jitter of up
    # to half a token's
    assert err.value.retry_after is not None and 0 < err.value.retry_after <= 2 * 0.5 + 0.25 + 0.05
    time.sleep(0.6)  # refill 2/s: one token
    budget.take(SUB, "writes")
    # reads have a bucket of their own (default size 250)
    budget.take(SUB, "reads")


def test_workers_share_one_bucket(client: redis.Redis, redis_url: str) -> None:
    """Four 'workers' (threads, each with its own Redis connection) hammer one bucket for a
    second: together they get the bucket plus its refill, never more."""
    principal = uuid.uuid4().hex
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        own = redis.Redis.from_url(redis_url, decode_responses=True)
        budget = _budget(own, TokenBucket(20, 10), principal=principal)
        got, end = 0, time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                budget.take(SUB, "writes")
                got += 1
            except ArmBudgetExceeded:
                time.sleep(0.01)
        own.close()
        with lock:
            granted.append(got)

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert 20 <= sum(granted) <= 20 + 10 * elapsed + 1, (granted, elapsed)


def test_callers_refused_together_are_told_to_come_back_in_turn(client: redis.Redis) -> None:
    """Twenty tasks refused at once come back a token's refill apart, not all at once for the
    one next token; the refill still serves whoever asks when it is there."""
    budget = _budget(client, TokenBucket(2, 10))
    emptied = time.monotonic()
    assert _takes(budget, 10) == 2
    waits, asked = [], []
    for _ in range(20):
        with pytest.raises(ArmBudgetExceeded) as err:
            budget.take(SUB, "writes")
        asked.append(time.monotonic() - emptied)
        assert err.value.retry_after is not None
        waits.append(err.value.retry_after)
    # the one _takes was refused first: these are the 2nd to the 21st in line, 0.1 s apart (less
    # what the refill gave since: it fills the bucket and drains the line, 0.2 s of wait per 0.1 s
    # passed, which a loaded machine makes tens of milliseconds), plus a jitter under 0.05 s
    assert all(0.1 * (i + 2) - 2 * t - 0.01 <= w <= 0.1 * (i + 2) + 0.06
               for i, (w, t) in enumerate(zip(waits, asked, strict=True))), (waits, asked)
    # a question about the level does not queue
    assert budget.level(SUB, "writes") < 1
    time.sleep(0.12)
    budget.take(SUB, "writes")  # the first one back finds its token


def test_learns_what_azure_says_remains(client: redis.Redis) -> None:
    budget = _budget(client, TokenBucket(200, 10))
    budget.take(SUB, "writes")
    budget.learn(SUB, "writes", remaining=3, retry_after=None)  # someone else spends it too
    assert _takes(budget, 100) == 3

    # Azure's bucket is larger than configured (e.g. still on the hourly limits): grow
    budget.learn(SUB, "writes", remaining=1199, retry_after=None)
    assert 1199 <= budget.level(SUB, "writes") <= 1200
    assert _takes(budget, 2000) >= 1199


def test_an_answer_that_says_what_the_budget_expects_is_not_written(client: redis.Redis) -> None:
    """Azure's count near the level the call's token left teaches nothing: no Redis round trip.
    Off by more than the fleet's calls in flight, either way, it is learned."""
    budget = _budget(client, TokenBucket(200, 0.001))
    level = budget.take(SUB, "writes")
    assert level is not None and 198.9 <= level <= 199.1
    budget.learn(SUB, "writes", remaining=int(level) - LEARN_SLACK, retry_after=None, expected=level)
    assert budget.level(SUB, "writes") == pytest.approx(level, abs=0.1)
    budget.learn(SUB, "writes", remaining=50, retry_after=None, expected=level)
    assert budget.level(SUB, "writes") == pytest.approx(50, abs=0.1)
    # Azure has more than the budget counted on (calls it never saw): learned too
    budget.learn(SUB, "writes", remaining=50 + LEARN_SLACK + 10, retry_after=None, expected=50)
    assert budget.level(SUB, "writes") == pytest.approx(50 + LEARN_SLACK + 10, abs=0.1)
    # a count above the largest bucket seen is learned (Azure's bucket is larger than configured)
    budget.learn(SUB, "writes", remaining=1199, retry_after=None, expected=50)
    assert budget.level(SUB, "writes") == pytest.approx(1199, abs=0.1)


def test_a_429_makes_everyone_wait_its_retry_after(client: redis.Redis) -> None:
    principal = uuid.uuid4().hex
    first = _budget(client, TokenBucket(200, 10), principal=principal)
    other = _budget(client, TokenBucket(200, 10), principal=principal)
    first.learn(SUB, "writes", remaining=None, retry_after=3)
    with pytest.raises(ArmBudgetExceeded) as err:
        other.take(SUB, "writes")
    assert err.value.retry_after is not None and err.value.retry_after >= 2.9


def test_turned_off_it_never_refuses(client: redis.Redis) -> None:
    budget = _budget(client, TokenBucket(1, 1), enabled=False)
    assert _takes(budget, 50) == 50
