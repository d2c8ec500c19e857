"""Following a job until it ends: snapshots of its record at an interval."""

from __future__ import annotations

import time
from collections.abc import Iterator

from diskferry.config.settings import Settings, get_settings
from diskferry.state import JobStatus, JobStore


def follow(
    job_id: str,
    *,
    interval: float = 1.0,
    settings: Settings | None = None,
    store: JobStore | None = None,
    timeout: float | None = None,
) -> Iterator[JobStatus]:
    """Yield the job's status every ``interval`` seconds; the last one is terminal and
    cleaned (every disk has an outcome and every cleanup has run to its end).

    Stops early (after yielding the latest snapshot) when ``timeout`` passes.
    """
    settings = settings or get_settings()
    store = store or JobStore.from_url(settings.state_url, settings.job_ttl_seconds)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = store.status(job_id)
        yield status
        if (status.done and status.cleaned) or (deadline is not None and time.monotonic() >= deadline):
            return
        time.sleep(interval)
