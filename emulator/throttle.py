"""Azure Resource Manager's request throttling: token buckets per subscription and principal.

What Azure does (docs "Request limits and throttling", the token-bucket architecture that
subscriptions moved to from 2024, learn.microsoft.com/azure/azure-resource-manager/management/
request-limits-and-throttling): every subscription-scoped call is counted per subscription,
per principal (the caller's object id) and per operation type, each in a bucket that holds
at most N tokens and gains R tokens a second:

=========  ======  =============
type       bucket  refill (1/s)
=========  ======  =============
reads      250     25
writes     200     10
deletes    200     10
=========  ======  =============

Tenant-scoped calls (no subscription in the path) have buckets of the same sizes in Azure;
the emulator does not throttle them (its one tenant call is the subscription list, and no
source found shows the code Azure answers them with).

* Which type: GET (and HEAD) are reads, DELETE deletes, every other method a write; the
  status polls of long-running operations are GETs, so they are reads too.
* Every answer carries what remains of its bucket: ``x-ms-ratelimit-remaining-subscription-
  reads`` / ``-writes`` / ``-deletes``, the names in the doc's
  table and in recorded ARM traces (e.g. SDK test recordings showing
  ``x-ms-ratelimit-remaining-subscription-deletes: 14999`` on DELETE answers).
* An empty bucket answers 429 with ``Retry-After`` (whole seconds, doc "Error code") and
  ``{"error": {"code": "SubscriptionRequestsThrottled", "message": "Number of 'read'
  requests for subscription '<sub>' actor '<principal>' exceeded. Please try again after
  '<n>' seconds."}}`` — the code and message shape quoted from live answers in
  MicrosoftDocs/azure-docs issue #105248 and in public client code handling them.
  A throttled call has no effect.

The limits apply per region of the ARM instance that takes the call (the caller's region,
not the resource's): one emulator is one such region, so its buckets are per (scope,
principal). Sizes and refill rates are emulator settings (``arm_*_bucket``,
``arm_*_refill``, ``arm_throttling`` to turn it off) that apply at once when changed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

from diskferry.emulator.errors import AzureError
from diskferry.emulator.faults import Settings

Kind = Literal["reads", "writes", "deletes"]
#: the word Azure's throttling message uses for each kind
_SINGULAR: dict[Kind, str] = {"reads": "read", "writes": "write", "deletes": "delete"}


def kind_of(method: str) -> Kind:
    """The bucket a call of ``method`` draws from."""
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "reads"
    if method == "DELETE":
        return "deletes"
    return "writes"


def limits(settings: Settings, kind: Kind) -> tuple[float, float]:
    """(bucket size, refill per second) of ``kind`` under ``settings``."""
    return {
        "reads": (settings.arm_reads_bucket, settings.arm_reads_refill),
        "writes": (settings.arm_writes_bucket, settings.arm_writes_refill),
        "deletes": (settings.arm_deletes_bucket, settings.arm_deletes_refill),
    }[kind]


@dataclass
class _Bucket:
    tokens: float
    at: float

    def refill(self, size: float, rate: float, now: float) -> None:
        # a bucket whose size was lowered is cut down at once, as a settings change applies now
        self.tokens = min(size, self.tokens + max(0.0, now - self.at) * rate)
        self.at = now


@dataclass(frozen=True)
class Verdict:
    """A call the buckets let through: the header naming its bucket, and what remains."""

    header: str
    remaining: int

    def headers(self) -> dict[str, str]:
        return {self.header: str(self.remaining)}


class ArmThrottle:
    """Every bucket of the emulator (in memory: a restart refills them, as time would)."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str, Kind], _Bucket] = {}

    def take(self, settings: Settings, *, subscription: str, principal: str, method: str) -> Verdict:
        """Spend one token of the caller's bucket for a ``method`` call; raise the 429 Azure
        answers when it is empty (the error carries the remaining-count header too)."""
        kind = kind_of(method)
        header = f"x-ms-ratelimit-remaining-subscription-{kind}"
        size, rate = limits(settings, kind)
        if not settings.arm_throttling:
            return Verdict(header, int(size))
        now = time.monotonic()
        key = (subscription.lower(), principal, kind)
        bucket = self._buckets.setdefault(key, _Bucket(size, now))
        bucket.refill(size, rate, now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict(header, math.floor(bucket.tokens))
        wait = max(1, math.ceil((1 - bucket.tokens) / rate))
        raise _throttled(kind, subscription, principal, wait, header)

    def settle(self, settings: Settings) -> None:
        """Refill every bucket up to now at the rates of ``settings``, the ones about to be
        replaced: a new rate counts from its change on, not for the time before it."""
        now = time.monotonic()
        for (_, _, kind), bucket in self._buckets.items():
            bucket.refill(*limits(settings, kind), now)



def _throttled(kind: Kind, subscription: str, principal: str, wait: int, header: str) -> AzureError:
    message = (
        f"Number of '{_SINGULAR[kind]}' requests for subscription '{subscription}' actor '{principal}' "
        f"exceeded. Please try again after '{wait}' seconds."
    )
    return AzureError(429, "SubscriptionRequestsThrottled", message, headers={"Retry-After": str(wait), header: "0"})
