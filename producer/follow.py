"""Following a job until it ends: snapshots of its record at an interval.

A follower of a job of thousands of disks must not re-read and rebuild the whole record
every second. :class:`Snapshot` reads the resolved job once, skips a round when the record's
``updated`` time has not moved, reads only the disks that may still change (not those
ended in a pair whose cleanup has run), and rebuilds only the disks whose stored JSON changed; a
change to a pair or a source (a few per pair over a whole job) re-reads everything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from diskferry.config.settings import Settings, get_settings
from diskferry.errors import NotFound
from diskferry.model import Disk, Job
from diskferry.state import (
    JobStatus,
    JobStore,
    TargetStatus,
    disk_field,
    disk_status,
    overall,
    record_fields,
    target_phase,
)


class Snapshot:
    """The latest :class:`JobStatus` of one job, brought up to date by :meth:`refresh`."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self._store = store
        self.job: Job = store.job(job_id)
        #: each disk field's resolved disk, and where its status sits in ``status``
        self._disks: dict[str, Disk] = {
            disk_field(source.key, target.key, disk.key): disk
            for source in self.job.sources for target in self.job.targets for disk in source.disks
        }
        self._where: dict[str, tuple[TargetStatus, int]] = {}
        self.status = JobStatus(job_id, 0.0, 0.0, overall([]))
        #: stored JSON per field, as last read
        self._raw: dict[str, str | None] = {}
        #: disks rebuilt by the last refresh (what a view needs to redraw)
        self.changed = 0
        self._full()

    def _full(self) -> None:
        # status and stored JSON from one read: a change between two reads would otherwise be
        # in the JSON kept for comparison but never in the status
        raw = self._store.raw_fields(self.job.id, record_fields(self.job))
        if raw["meta"] is None:
            raise NotFound("JobNotFound", f"no job {self.job.id} (unknown, or expired)")
        self.status = self._store.from_raw(self.job, raw)
        self._raw = raw
        self._where = {
            disk_field(src.key, tgt.key, d.key): (tgt, i)
            for src in self.status.sources for tgt in src.targets for i, d in enumerate(tgt.disks)
        }
        self.changed = len(self.status.disks())

    def _pair_fields(self) -> list[str]:
        fields = []
        for src in self.status.sources:
            fields.append(f"src|{src.key}")
            fields += [f"tgt|{src.key}|{tgt.key}" for tgt in src.targets]
        return fields

    def _open_disks(self) -> list[str]:
        """The disks whose field may still change: all but those ended in a pair whose cleanup
        has run (finalize and cleanup write to ended disks too)."""
        return [disk_field(d.source, d.target, d.key) for tgt in self.status.targets() for d in tgt.disks
                if not (d.phase.terminal and tgt.cleaned)]

    def refresh(self) -> bool:
        """Read what may have changed; whether anything did."""
        updated = self._store.updated(self.job.id)
        if updated is None:
            raise NotFound("JobNotFound", f"no job {self.job.id} (unknown, or expired)")
        if updated == self.status.updated:
            self.changed = 0
            return False
        pairs = self._pair_fields()
        raw = self._store.raw_fields(self.job.id, pairs + self._open_disks())
        if any(raw[name] != self._raw.get(name) for name in pairs):
            self._full()
            return True
        self._rebuild_disks(raw)
        self.status.updated = updated
        return True

    def _rebuild_disks(self, raw: dict[str, str | None]) -> None:
        changed = [name for name, value in raw.items() if name.startswith("disk|") and value != self._raw.get(name)]
        touched: dict[str, TargetStatus] = {}
        for name in changed:
            tgt, i = self._where[name]
            old = tgt.disks[i]
            where = self.job.target(old.target)
            tgt.disks[i] = disk_status(old.source, old.target, self._disks[name], raw[name], where)
            self._raw[name] = raw[name]
            touched[f"tgt|{old.source}|{old.target}"] = tgt
        for name, tgt in touched.items():
            tgt.phase = target_phase(json.loads(self._raw.get(name) or "{}"), tgt.disks)
        if touched:
            for src in self.status.sources:
                src.phase = overall([t.phase for t in src.targets])
            self.status.phase = overall([t.phase for t in self.status.targets()])
        self.changed = len(changed)


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

    Stops early (after yielding the latest snapshot) when ``timeout`` passes. The same
    object is yielded each time, brought up to date (see :class:`Snapshot`).
    """
    settings = settings or get_settings()
    store = store or JobStore.from_url(settings.state_url, settings.job_ttl_seconds)
    deadline = None if timeout is None else time.monotonic() + timeout
    snapshot = Snapshot(store, job_id)
    while True:
        status = snapshot.status
        yield status
        if (status.done and status.cleaned) or (deadline is not None and time.monotonic() >= deadline):
            return
        time.sleep(interval)
        snapshot.refresh()
