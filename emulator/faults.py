"""Knobs that tests and benchmarks turn: call counters, latency and injected faults.

Every request is named by the operation it performs, in Azure's own vocabulary where one
exists: ARM calls by their RBAC action (``Microsoft.Compute/disks/write``), blob calls by
their REST operation (``blob.GetBlobProperties``), token requests as ``oauth2.token``.
Fault rules match those names with shell-style patterns.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from diskferry.emulator.store import Store

FaultKind = Literal["http", "lro", "copy"]


@dataclass
class FaultRule:
    """One injected fault.

    ``http``: the matching call itself answers ``status``/``code`` (with ``Retry-After``
    when set), before any effect. ``lro``: the call is accepted and its long-running
    operation ends ``Failed`` with ``code``. ``copy``: a blob copy started by a matching
    call fails once it has copied ``at_percent`` of its bytes.
    """

    op: str
    kind: FaultKind = "http"
    status: int = 503
    code: str = "ServerBusy"
    message: str = "The server is busy. (injected fault)"
    retry_after: float | None = None
    #: calls the rule still answers; -1 means until removed
    count: int = 1
    at_percent: float = 50.0
    #: the request paths the rule applies to (shell pattern, case-insensitive)
    target: str = "*"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def matches(self, op: str, kind: FaultKind, path: str = "") -> bool:
        return (self.kind == kind and self.count != 0 and fnmatch.fnmatchcase(op, self.op)
                and fnmatch.fnmatchcase(path.lower(), self.target.lower()))


@dataclass
class Settings:
    """Emulator-wide knobs, changed at run time through the admin API."""

    #: seconds a long-running operation stays InProgress
    lro_latency: float = 0.0
    #: per-operation overrides of lro_latency (pattern -> seconds); ``pattern@region`` applies
    #: in that region only (regions run the same operation at different speeds)
    lro_latency_ops: dict[str, float] = field(default_factory=dict)
    #: the ``Retry-After`` a running operation's answers carry. An Azure resource provider sends
    #: a fixed hint sized to its operations (ARM's RPC asks for 10 s to 10 min), not when this
    #: one will end; an operation shorter than the hint hints its own length, so that tests with
    #: short latencies stay short
    lro_retry_after: float = 10.0
    #: extra seconds before answering matching calls (pattern -> seconds)
    request_latency: dict[str, float] = field(default_factory=dict)
    #: items per page in ARM list calls (nextLink beyond)
    page_size: int = 100
    #: lifetime of issued bearer tokens, seconds
    token_lifetime: int = 3600
    #: default copy bandwidth per copy, bytes/s (Azure targets ~60 MiB/s per page blob)
    copy_bandwidth: float = 60 * 1024 * 1024
    #: per region pair overrides, keys "source>destination" (lower-case region names)
    copy_bandwidth_pairs: dict[str, float] = field(default_factory=dict)
    #: cap on the lifetime of disk SAS grants, seconds (Azure: 60 days); lower it to test expiry
    max_sas_seconds: int = 60 * 24 * 3600
    #: aggregate copy bandwidth into one destination storage account, bytes/s, shared by the
    #: copies in flight into it; 0 = no limit beyond each copy's own
    account_bandwidth: float = 0.0
    #: per account overrides of account_bandwidth (account name -> bytes/s)
    account_bandwidths: dict[str, float] = field(default_factory=dict)
    #: aggregate copy bandwidth per region pair ("source>destination" -> bytes/s), shared by
    #: the copies in flight between them
    pair_bandwidths: dict[str, float] = field(default_factory=dict)
    #: ARM throttling (token buckets per subscription and principal, see throttle.py)
    arm_throttling: bool = True
    #: Azure's defaults: reads 250 tokens refilled at 25/s, writes and deletes 200 at 10/s
    arm_reads_bucket: float = 250
    arm_reads_refill: float = 25
    arm_writes_bucket: float = 200
    arm_writes_refill: float = 10
    arm_deletes_bucket: float = 200
    arm_deletes_refill: float = 10
    #: how long the background copy of a Premium SSD v2 or Ultra disk's incremental snapshot
    #: takes, seconds: until it ends the snapshot is ``Pending`` and cannot be exported, copied
    #: or restored (Azure: minutes to hours, with the disk's used size)
    background_copy_seconds: float = 10.0
    #: whether the service principal holds a blob data role (Storage Blob Data Contributor) on
    #: the subscription's storage accounts, which a bearer token's blob calls need: ARM roles
    #: (Owner, Contributor) give none, so an operator grants it. False: every blob call made
    #: with a token is refused (403 AuthorizationPermissionMismatch), as Azure refuses it
    blob_data_role: bool = True
    #: managed disks a subscription may hold per region ("region" -> count; absent: no
    #: limit). Azure's per-region disk quotas, lowered so a test can reach one (quota.py)
    disk_quota: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind in ("reads", "writes", "deletes"):
            if getattr(self, f"arm_{kind}_bucket") < 1 or getattr(self, f"arm_{kind}_refill") <= 0:
                raise ValueError(f"arm_{kind}_bucket must be >= 1 and arm_{kind}_refill > 0")
        shares = [self.account_bandwidth, *self.account_bandwidths.values(), *self.pair_bandwidths.values()]
        if any(b < 0 for b in shares):
            raise ValueError("bandwidths must be >= 0")
        if self.background_copy_seconds < 0:
            raise ValueError("background_copy_seconds must be >= 0")
        if self.lro_retry_after <= 0:
            raise ValueError("lro_retry_after must be > 0")

    def lro_latency_for(self, op: str, location: str = "") -> float:
        for key, seconds in self.lro_latency_ops.items():
            pattern, _, region = key.partition("@")
            if fnmatch.fnmatchcase(op, pattern) and (not region or region.lower() == location.lower()):
                return seconds
        return self.lro_latency

    def request_latency_for(self, op: str) -> float:
        for pattern, seconds in self.request_latency.items():
            if fnmatch.fnmatchcase(op, pattern):
                return seconds
        return 0.0

    def bandwidth_for(self, source_region: str, dest_region: str) -> float:
        """One copy's own bandwidth between two regions."""
        return self.copy_bandwidth_pairs.get(pair_key(source_region, dest_region), self.copy_bandwidth)

    def account_bandwidth_for(self, account: str) -> float:
        """The aggregate into ``account`` (0: none)."""
        return self.account_bandwidths.get(account, self.account_bandwidth)

    def pair_bandwidth_for(self, pair: str) -> float:
        """The aggregate between a region pair ``pair_key`` (0: none)."""
        return self.pair_bandwidths.get(pair, 0.0)


def pair_key(source_region: str, dest_region: str) -> str:
    """``"source>destination"``, lower case: how settings name a region pair."""
    return f"{source_region.lower()}>{dest_region.lower()}"


class Faults:
    """Counters, settings and fault rules, persisted in the store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        saved = store.get("config", "settings") or {}
        self.settings = Settings(**saved)
        self.rules = [FaultRule(**r) for r in (store.get("config", "faults") or {}).get("rules", [])]
        self.counters: Counter[str] = Counter()
        #: called with the settings about to be replaced (a rate that changes must not
        #: apply to the time before the change)
        self.before_change: list[Callable[[Settings], None]] = []

    # -- settings ---------------------------------------------------------------------
    def update_settings(self, changes: dict[str, Any]) -> Settings:
        current = asdict(self.settings)
        unknown = set(changes) - set(current)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        current.update(changes)
        new = Settings(**current)
        for hook in self.before_change:
            hook(self.settings)
        self.settings = new
        self._store.put("config", "settings", asdict(self.settings))
        return self.settings

    # -- rules --------------------------------------------------------------------------
    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        self._save()
        return rule

    def remove(self, rule_id: str) -> bool:
        """Drop one rule (a test lifts the fault it held a resource with); False if gone."""
        kept = [r for r in self.rules if r.id != rule_id]
        removed = len(kept) != len(self.rules)
        self.rules[:] = kept
        self._save()
        return removed

    def clear(self) -> None:
        self.rules.clear()
        self._save()

    def take(self, op: str, kind: FaultKind, path: str = "") -> FaultRule | None:
        """The first live rule matching ``op`` on ``path``, with one use consumed."""
        for rule in self.rules:
            if rule.matches(op, kind, path):
                if rule.count > 0:
                    rule.count -= 1
                if rule.count == 0:
                    self.rules.remove(rule)
                self._save()
                return rule
        return None

    def _save(self) -> None:
        self._store.put("config", "faults", {"rules": [asdict(r) for r in self.rules]})

    # -- counters ---------------------------------------------------------------------
    def count(self, op: str) -> None:
        self.counters[op] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "counters": dict(sorted(self.counters.items())),
            "rules": [asdict(r) for r in self.rules],
            "settings": asdict(self.settings),
        }
