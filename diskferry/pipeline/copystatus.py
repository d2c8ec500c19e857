"""A copy's status from one listing per staging container and round, shared by every poll.

Polled one Get Blob Properties each, 2,000 copies into two staging containers make Azure's
status calls grow with disks. Instead the first poll of a round — when the job's listing of a
container is older than ``DISKFERRY_POLL_LISTING_SECONDS`` — takes a short lock, lists the job's
blobs there with their copy properties (one List Blobs ``include=copy`` per 5,000 blobs) and
stores each copy's status in Redis; the other polls of the round read it there. Status calls
per round grow with containers, not with copies.

Stored per copy: its id, state, bytes and description — never the copy source, which holds the
source's SAS. A poll reads its own blob (Get Blob Properties) when a listing cannot answer for
it: the blob is not in the listing (a copy started meanwhile), the listing is older than the
copy's start, or another poll is taking the listing and none usable is stored.

Crash-safe by construction: the listing is a cache with a short TTL (a worker killed while
listing leaves a lock that expires), and a poll never acts on a status older than its copy.
"""

from __future__ import annotations

import json
import time

from diskferry.cloud import AccountInfo, CopyState, CopyStatus
from diskferry.pipeline import polling
from diskferry.pipeline.runtime import Runtime

#: a worker killed while listing holds the listing lock no longer than this
LISTING_LOCK_SECONDS = 30


def copy_status(rt: Runtime, job_id: str, account: AccountInfo, container: str, blob: str,
                started: float | None) -> tuple[CopyStatus | None, float]:
    """The copy status of ``blob`` (None: no such blob) and when it was observed.

    ``started``: when this copy was started (a listing taken before says nothing about it)."""
    # a listing older than the polls' floor would add more lag than the floor allows
    fresh_for = min(rt.settings.poll_listing_seconds, polling.PollPolicy.of(rt.settings).floor)
    if fresh_for <= 0:
        return _own(rt, account, container, blob)
    name = _listing_name(account, container)
    stored = rt.store.listing_entry(job_id, name, blob)
    if stored is not None and started is not None and stored[0] < started:
        stored = None  # listed before this copy began: it says nothing about it
    if stored is not None and time.time() - stored[0] <= fresh_for:
        return _decode(stored[1]), stored[0]
    with rt.store.lock(job_id, f"listing|{name}", LISTING_LOCK_SECONDS) as taken:
        if not taken:
            # another poll is listing: the last listing still answers, a little older
            return (_decode(stored[1]), stored[0]) if stored is not None else _own(rt, account, container, blob)
        listed_at = time.time()
        statuses = rt.cloud.storage.copy_statuses(account, container, prefix=f"{job_id}/")
        rt.store.put_listing(job_id, name, listed_at, {b: _encode(s) for b, s in statuses.items()},
                             ttl_seconds=max(10, int(4 * fresh_for)))
    if blob in statuses:
        return statuses[blob], listed_at
    # not listed: a copy started after the listing began, or none started yet
    return _own(rt, account, container, blob)


def _own(rt: Runtime, account: AccountInfo, container: str, blob: str) -> tuple[CopyStatus | None, float]:
    observed = time.time()
    return rt.cloud.storage.copy_status(account, container, blob), observed


def _listing_name(account: AccountInfo, container: str) -> str:
    return f"{account.name}/{container}"


def _encode(status: CopyStatus) -> str:
    return json.dumps([status.copy_id, status.state.value, status.copied, status.total, status.description])


def _decode(raw: str) -> CopyStatus:
    copy_id, state, copied, total, description = json.loads(raw)
    return CopyStatus(copy_id, CopyState(state), int(copied), int(total), description)
