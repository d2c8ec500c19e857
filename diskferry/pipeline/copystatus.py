"""The copy statuses of a job's blobs in a staging container: one listing per container and round.

Read one Get Blob Properties each, 2,000 copies into two staging containers make Azure's
status calls grow with disks. Instead a copy watcher (:mod:`.copywatch`) lists the job's blobs
there with their copy properties (one List Blobs ``include=copy`` per 5,000 blobs) under a short
lock and stores each copy's status in Redis for ``DISKFERRY_POLL_LISTING_SECONDS``, so that the
watcher of another target sharing the container reads it there. Status calls per round grow
with containers, not with copies.

Stored per copy: its id, state, bytes and description — never the copy source, which holds the
source's SAS. Crash-safe by construction: the listing is a cache with a short TTL (a worker
killed while listing leaves a lock that expires), and no status older than a copy's start is
used for it (``not_before``).
"""

from __future__ import annotations

import json
import time

from diskferry.cloud import AccountInfo, CopyState, CopyStatus
from diskferry.pipeline import polling
from diskferry.pipeline.runtime import Runtime

#: a worker killed while listing holds the listing lock no longer than this
LISTING_LOCK_SECONDS = 30


def listing(rt: Runtime, job_id: str, account: AccountInfo, container: str,
            not_before: float, owner: str | None = None) -> tuple[dict[str, CopyStatus], float] | None:
    """Every copy status of the job's blobs in ``container`` and when they were listed, from a
    listing taken at ``not_before`` or later (the stored one if it is fresh enough, else a new
    one); None when another worker is taking it right now (ask again in a moment).

    ``owner`` (the watcher's task id) holds the lock while it lists: the redelivery of a round
    whose worker died mid-listing takes it back at once. Without it, that round's copies went
    unwatched until the lock expired (the kill matrix's child-polling-call took 29.6 s)."""
    fresh_for = min(rt.settings.poll_listing_seconds, polling.PollPolicy.of(rt.settings).floor)
    name = _listing_name(account, container)
    now = time.time()
    stored = rt.store.listing(job_id, name)
    if stored is not None and stored[0] >= not_before and now - stored[0] <= fresh_for:
        return {b: _decode(raw) for b, raw in stored[1].items()}, stored[0]
    with rt.store.lock(job_id, f"listing|{name}", LISTING_LOCK_SECONDS, owner) as taken:
        if not taken:
            return None
        listed_at = time.time()
        statuses = rt.cloud.storage.copy_statuses(account, container, prefix=f"{job_id}/")
        rt.store.put_listing(job_id, name, listed_at, {b: _encode(s) for b, s in statuses.items()},
                             ttl_seconds=max(10, int(4 * max(fresh_for, 1))))
    return statuses, listed_at


def _listing_name(account: AccountInfo, container: str) -> str:
    return f"{account.name}/{container}"


def _encode(status: CopyStatus) -> str:
    return json.dumps([status.copy_id, status.state.value, status.copied, status.total, status.description,
                       status.completed])


def _decode(raw: str) -> CopyStatus:
    copy_id, state, copied, total, description, *rest = json.loads(raw)
    return CopyStatus(copy_id, CopyState(state), int(copied), int(total), description,
                      completed=rest[0] if rest else None)
