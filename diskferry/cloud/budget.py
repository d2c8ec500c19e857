"""The fleet's ARM budget: Azure's token buckets mirrored in Redis, shared by every worker.

Azure Resource Manager counts calls per subscription and principal in three token buckets
(reads, writes, deletes; 250/25 s⁻¹, 200/10 s⁻¹, 200/10 s⁻¹ by default) and answers 429 when
one is empty. Every worker of the fleet is the same principal, so each worker alone cannot
know what the others spent: the bucket lives in Redis, and one Lua script refills it, takes
a token and learns from Azure, atomically, whichever worker calls.

* **Pace**: before an ARM call a worker takes a token; when none is left it is told how long
  until the next one and the task re-enqueues itself for that long (``RetryLater``) instead
  of sleeping in its slot.
* **Learn**: every ARM answer says what remains of Azure's bucket
  (``x-ms-ratelimit-remaining-subscription-reads`` …). That is the truth: other clients of
  the same principal (an operator's CLI) spend from it too, and Azure's bucket may be larger
  than configured (subscriptions still on the older hourly limits report thousands). The
  bucket takes the reported count as its level, and grows its size when Azure reports more.
  Calls still in flight when an answer is learned are counted by Azure later, so the level
  may be a few tokens high (at most the fleet's concurrency); the rare 429 that follows is
  handled like any other.
* **429**: Azure's ``Retry-After`` empties the bucket for that long, so every worker waits
  instead of each finding out with a call of its own.

Time comes from Redis (``TIME``), so the workers' clocks need not agree.
"""

from __future__ import annotations

import logging
import random
from typing import Literal

import redis

from diskferry.config.settings import ArmBudget, TokenBucket
from diskferry.errors import RetryLater, Throttled

log = logging.getLogger(__name__)

Kind = Literal["reads", "writes", "deletes"]

# KEYS[1] the bucket; ARGV: size, refill/s, tokens to take (0: only learn), remaining Azure
# reported (-1: none), seconds Azure asked to wait (0: none), whether a refused take queues
# (0: a question only, answered without the queue). Returns "<the seconds until the tokens
# asked for are there (0: taken)> <the level after>", as a string (Lua numbers come back
# truncated).
#
# ``queued``: the tokens the callers refused lately will ask for when they come back, less what
# the refill has given since. A refused caller is told to come back once the refill covers the
# callers refused before it too: a hundred tasks refused together come back one token apart,
# in turn, instead of all together for the one next token — which refused 99 of them again,
# and again (4,516 refused task runs for 200 disks, throttled, before this queue: 22 per disk).
_SCRIPT = """
local size, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, seen, pause = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'size', 'queued')
local learned = math.max(size, tonumber(state[3]) or size, seen + 1)
local tokens = tonumber(state[1]) or learned
local at = tonumber(state[2]) or now
local elapsed = math.max(0, now - at)
tokens = math.min(learned, tokens + elapsed * rate)
local queued = math.max(0, (tonumber(state[4]) or 0) - elapsed * rate)
if seen >= 0 then tokens = seen end
if pause > 0 then tokens = math.min(tokens, -pause * rate) end
local wait = 0
if cost > 0 then
  if tokens >= cost then
    tokens = tokens - cost
  else
    if ARGV[6] == '1' then
      wait = (queued + cost - tokens) / rate
      queued = queued + cost
    else
      wait = (cost - tokens) / rate
    end
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now), 'size', tostring(learned),
           'queued', tostring(queued))
redis.call('EXPIRE', KEYS[1], math.ceil(learned / rate) + 60)
return tostring(wait) .. ' ' .. tostring(tokens)
"""


#: how far Azure's reported count may be from the level the budget expected before the budget
#: learns it: the calls the other workers made between this call's token and Azure's answer, or
#: that took a token and have not reached Azure yet (each at most the fleet's concurrency).
#: Within it, the answer says what the budget knew: not worth a Redis round trip at every ARM
#: call, which it was (a second Lua call per ARM call, with the take).
LEARN_SLACK = 16


class ArmBudgetExceeded(Throttled):
    """The fleet's own ARM budget is spent: the call was not sent; retry in ``retry_after``."""


class Budget:
    """The shared buckets of one principal, by subscription and kind of call."""

    def __init__(self, client: redis.Redis, limits: ArmBudget, principal: str, prefix: str = "diskferry:arm") -> None:
        self._limits = limits
        self._prefix = f"{prefix}:{principal}"
        self._script = client.register_script(_SCRIPT)
        #: the largest bucket Azure reported, by bucket key: a count above it is learned
        self._sizes: dict[str, int] = {}

    def _bucket(self, kind: Kind) -> TokenBucket:
        bucket: TokenBucket = getattr(self._limits, kind)
        return bucket

    def _key(self, subscription: str, kind: Kind) -> str:
        return f"{self._prefix}:{subscription.lower()}:{kind}"

    def _run(self, subscription: str, kind: Kind, cost: int, seen: int, pause: float,
             queue: bool = True) -> tuple[float, float]:
        """(seconds until the tokens are there, 0: taken; the level after)."""
        bucket = self._bucket(kind)
        answer = self._script(keys=[self._key(subscription, kind)], args=[
            bucket.size, bucket.refill, cost, seen, pause, int(queue)])
        # a client without decode_responses (a test's) answers bytes
        wait, level = (answer.decode() if isinstance(answer, bytes) else str(answer)).split()
        return float(wait), float(level)

    def take(self, subscription: str, kind: Kind) -> float | None:
        """Take a token for one call, or raise :class:`ArmBudgetExceeded` with the wait. The
        level the token left (what the call's answer is compared with: :meth:`learn`); None
        when the budget is off."""
        if not self._limits.enabled:
            return None
        try:
            wait, level = self._run(subscription, kind, 1, -1, 0)
        except redis.RedisError as exc:
            raise RetryLater("BudgetUnavailable", f"the ARM budget in Redis cannot be read: {exc}") from exc
        if wait > 0:
            # at least one token's refill: a bucket a hair short of a token (0.999) would
            # otherwise send its tasks back in microseconds, over and over (seen: thousands
            # of retries a minute). The queue already spaces the refused callers a token
            # apart; jitter within half that spacing keeps their order
            spacing = 1 / self._bucket(kind).refill
            raise ArmBudgetExceeded(
                "ArmBudgetExceeded",
                f"the fleet's ARM {kind} budget of subscription {subscription} is spent",
                max(wait, spacing) + 0.5 * spacing * random.random(),
            )
        return level

    def learn(self, subscription: str, kind: Kind, *, remaining: int | None, retry_after: float | None,
              expected: float | None = None) -> None:
        """What an ARM answer said: the tokens it reports left, the wait of a 429. ``expected``:
        the level the call's token left (:meth:`take`); a count within ``LEARN_SLACK`` of it,
        and below the largest bucket seen, is not written."""
        if not self._limits.enabled or (remaining is None and not retry_after):
            return
        key = self._key(subscription, kind)
        size = self._sizes.get(key, self._bucket(kind).size)
        if (not retry_after and remaining is not None and expected is not None
                and abs(remaining - expected) <= LEARN_SLACK and remaining < size):
            return
        seen = -1 if remaining is None else max(0, remaining)
        if seen >= size:
            self._sizes[key] = seen + 1
        try:
            self._run(subscription, kind, 0, seen, retry_after or 0.0)
        except redis.RedisError as exc:  # the next answer teaches the same; pacing goes on
            log.warning("cannot record ARM's remaining %s in Redis: %s", kind, exc)

    def level(self, subscription: str, kind: Kind) -> float:
        """Tokens left now (tests, diagnostics)."""
        return self._run(subscription, kind, 0, -1, 0)[1]
