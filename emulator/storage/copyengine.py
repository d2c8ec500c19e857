"""The asynchronous Copy Blob engine: pending copies that progress at a set bandwidth.

Each copy is a :class:`CopyJob` driven by one timer on the event loop. A tick grants the
copy ``bandwidth * elapsed`` bytes, takes that much of the source's *allocated* ranges
(empty pages cost nothing, so a 1 TiB sparse disk holding little copies in seconds and the
destination is exactly as sparse as the source), and hands the byte moving to a small
thread pool; the range map of the destination is only touched by that one in-flight
chunk while the copy runs. ``x-ms-copy-progress`` is the source offset up to which
everything has been copied, so it grows monotonically to the total.

Bandwidth: a copy moves at most its own rate (``copy_bandwidth``, per region pair
``copy_bandwidth_pairs``), and the copies in flight into one destination account share that
account's aggregate (``account_bandwidth``), those between one region pair the pair's
(``pair_bandwidths``), in equal parts. Every tick reads the settings, so a change applies to
copies already running.

Every tick re-verifies the source (a revoked or expired SAS, or a deleted source, fails
the copy as Azure does; :class:`copysource.Recheck` keeps that cheap), and checks the
``copy`` fault rule that the starting call drew.

The destination blob document (the store's own instance) is updated in memory at every
tick, so reads see live progress; the documents whose progress moved are written to SQLite
in one transaction every ``FLUSH_EVERY`` seconds by one flusher, not per tick.

The destination's range map is not saved while the copy runs: the destination starts
empty and receives exactly the source's allocated ranges, in order, so its map is the
source's ranges below the progress — which is only ever advanced once those bytes are in
the data file. A restarted emulator rebuilds the map from the progress it finds and
resumes from there; the map is saved when the copy ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from diskferry.emulator import clock
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.faults import FaultRule, pair_key
from diskferry.emulator.pages import Content, PageFile
from diskferry.emulator.storage import copysource, model
from diskferry.emulator.storage.copysource import CopySource, Recheck

Doc = dict[str, Any]
log = logging.getLogger(__name__)

#: shortest time between two ticks of one copy (seconds)
MIN_TICK = 0.2
#: ticks per second the engine aims at in total; more copies → each ticks less often
TICKS_PER_SECOND = 500.0
#: smallest piece worth a trip to the worker threads (slow copies save their budget up)
MIN_CHUNK = 64 * 1024
#: how often pending copies' documents are written to SQLite (seconds)
FLUSH_EVERY = 2.0
#: largest piece one copy moves per tick; bounds memory with many copies in flight
MAX_CHUNK = 16 * 1024 * 1024


@dataclass
class CopyJob:
    id: str
    doc: Doc
    source: CopySource
    source_etag: str | None
    content: Content
    dest: PageFile
    total: int
    #: allocated source ranges still to copy, in order
    plan: deque[tuple[int, int]]
    #: the source offset up to which everything is copied (the reported progress)
    copied: int
    region_pair: tuple[str, str]
    #: progress at which an injected fault fails the copy, and how it reports it
    fail_at: int | None = None
    fail_description: str = ""
    last_tick: float = field(default_factory=time.monotonic)
    carry: float = 0.0
    busy: bool = False
    #: "running", or why it stops: "aborted", "cancelled" (blob deleted)
    state: str = "running"
    handle: asyncio.TimerHandle | None = None
    #: the source's verification, repeated at every tick
    check: Recheck = field(init=False)

    def __post_init__(self) -> None:
        self.check = Recheck(self.source)

    @property
    def key(self) -> str:
        return model.blob_key(self.doc["account"], self.doc["container"], self.doc["name"])

    @property
    def account(self) -> str:
        """The destination storage account."""
        return str(self.doc["account"])

    @property
    def pair(self) -> str:
        return pair_key(*self.region_pair)


class CopyEngine:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.jobs: dict[str, CopyJob] = {}
        #: copies in flight per destination account and per region pair (they share those)
        self._per_account: Counter[str] = Counter()
        self._per_pair: Counter[str] = Counter()
        self._dirty: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="blobcopy")
        self._flusher: asyncio.Task[None] | None = None
        self._stopped = False

    # -- lifecycle ----------------------------------------------------------------------------
    def start_background(self) -> None:
        self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())
        for doc in list(self.emu.store.values(model.BLOB_KIND)):
            copy = doc.get("copy") or {}
            if copy.get("status") == "pending":
                try:
                    self._resume(doc)
                except (OSError, KeyError, ValueError) as exc:  # a damaged leftover must not stop the server
                    log.warning("copy %s cannot resume: %s", copy.get("id"), exc)
                    self._conclude_doc(doc, "failed", '500 InternalError "Copy failed."')

    async def stop(self) -> None:
        self._stopped = True
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        for job in self.jobs.values():
            if job.handle is not None:
                job.handle.cancel()
        self._pool.shutdown(wait=True)
        # no chunk is in flight now: the progress flushed is where a restart resumes
        self.flush()

    # -- starting -------------------------------------------------------------------------------
    def start(
        self,
        doc: Doc,
        source: CopySource,
        content: Content,
        source_doc: Doc | None,
        regions: tuple[str, str],
        fault: FaultRule | None,
    ) -> CopyJob:
        """Start copying ``content`` into ``doc`` (a new blob sized like the source, empty).

        ``regions`` is (source region, destination region), for the bandwidth; ``fault`` a
        ``copy`` rule drawn by the starting call.
        """
        job = CopyJob(
            id=str(uuid.uuid4()),
            doc=doc,
            source=source,
            source_etag=source_doc["properties"]["etag"] if source_doc else None,
            content=content,
            dest=self.emu.pages(doc["x"]["data"]),
            total=content.size,
            plan=deque(content.ranges()),
            copied=0,
            region_pair=regions,
        )
        if fault is not None:
            job.fail_at = int(job.total * min(max(fault.at_percent, 0.0), 100.0) / 100.0)
            job.fail_description = f'{fault.status} {fault.code} "{fault.message}"'
        doc["copy"] = {
            "id": job.id,
            "status": "pending",
            "source": source.url,
            "progress": f"0/{job.total}",
            "completion_time": None,
            "status_description": None,
        }
        doc["x"]["copy_source"] = source.to_doc()
        doc["x"]["copy_source_etag"] = job.source_etag
        doc["x"]["copy_regions"] = list(regions)
        doc["x"]["copy_fail_at"] = job.fail_at
        doc["x"]["copy_fail_description"] = job.fail_description
        model.put_blob(self.emu, doc)
        self._register(job)
        return job

    def _resume(self, doc: Doc) -> None:
        """Continue a copy a previous run left pending, from its last saved progress."""
        x = doc["x"]
        copy = doc["copy"]
        source = CopySource.from_doc(x["copy_source"])
        try:
            content, _, _ = source.verify(self.emu)
        except AzureError as err:
            with contextlib.suppress(FileNotFoundError):
                self.emu.pages(x["data"]).resize(0)
            self._conclude_doc(doc, "failed", copysource.failure_description(err))
            return
        # every allocated source range below the saved progress is in the data file (see the
        # module docstring); the destination's map may not say so yet
        shown = int(str(copy["progress"]).split("/", 1)[0])
        dest = self.emu.pages(x["data"])
        dest.mark_written(content.ranges(0, shown))
        job = CopyJob(
            id=copy["id"],
            doc=doc,
            source=source,
            source_etag=x.get("copy_source_etag"),
            content=content,
            dest=dest,
            total=content.size,
            plan=deque(content.ranges(shown)),
            copied=shown,
            region_pair=(x["copy_regions"][0], x["copy_regions"][1]),
            fail_at=x.get("copy_fail_at"),
            fail_description=x.get("copy_fail_description", ""),
        )
        self._register(job)

    def _register(self, job: CopyJob) -> None:
        self.jobs[job.id] = job
        self._per_account[job.account] += 1
        self._per_pair[job.pair] += 1
        self._schedule(job, 0.01)

    # -- control from blob calls -------------------------------------------------------------------
    def job_for(self, doc: Doc) -> CopyJob | None:
        copy = doc.get("copy") or {}
        return self.jobs.get(copy.get("id", ""))

    def abort(self, doc: Doc) -> None:
        """Abort Copy Blob: status aborted, the destination left empty (zero length)."""
        job = self.job_for(doc)
        if job is not None:
            job.state = "aborted"
            self._stop(job)
            if not job.busy:
                self._truncate(job)
        self._conclude_doc(doc, "aborted", None)

    def forget(self, doc: Doc) -> None:
        """The destination blob is being deleted: stop its copy without a trace."""
        job = self.job_for(doc)
        if job is not None:
            job.state = "cancelled"
            self._stop(job)

    def _stop(self, job: CopyJob) -> None:
        if job.handle is not None:
            job.handle.cancel()
            job.handle = None
        if self.jobs.pop(job.id, None) is not None:
            self._per_account[job.account] -= 1
            self._per_pair[job.pair] -= 1
        self._dirty.discard(job.key)

    # -- the ticking ---------------------------------------------------------------------------------
    def _schedule(self, job: CopyJob, delay: float | None = None) -> None:
        if self._stopped:
            return
        if delay is None:
            delay = self._round()
        job.handle = asyncio.get_running_loop().call_later(delay, self._tick, job)

    def _round(self) -> float:
        """The time between two ticks of a copy: the more copies, the longer."""
        return max(MIN_TICK, len(self.jobs) / TICKS_PER_SECOND)

    def _tick(self, job: CopyJob) -> None:
        job.handle = None
        if job.state != "running":
            return
        now = time.monotonic()
        elapsed, job.last_tick = now - job.last_tick, now
        try:
            content, _, source_doc = job.check.verify(self.emu)
        except AzureError as err:
            self._fail(job, copysource.failure_description(err))
            return
        if source_doc is not None and job.source_etag and source_doc["properties"]["etag"] != job.source_etag:
            self._fail(job, '412 ConditionNotMet "The source blob was modified during the copy."')
            return
        job.content = content

        bandwidth = self.bandwidth(job)
        budget = job.carry + bandwidth * elapsed
        limit = job.fail_at if job.fail_at is not None else job.total
        head = job.plan[0] if job.plan else None
        needed = min(MIN_CHUNK, min(head[1], limit) - head[0]) if head is not None else 0
        if head is not None and head[0] < limit and budget < needed:
            job.carry = budget  # too little to move yet: save it up (empty pages still count)
            # back when there is enough, if that is sooner than the next round of ticks: a copy's
            # last piece moved on time, not up to a round late (4 s with 2,000 copies in flight:
            # copies of 300 s took up to 304). Each such tick moves data; ticks that move data
            # keep to the rounds, so the engine ticks at most twice as often as it did.
            self._advance(job, max(job.copied, head[0]),
                          delay=(needed - budget) / bandwidth if bandwidth > 0 else None)
            return
        pieces: list[tuple[int, int]] = []
        take = int(min(budget, MAX_CHUNK))
        while job.plan and take > 0:
            s, e = job.plan[0]
            if s >= limit:
                break
            n = min(e, limit, s + take) - s
            pieces.append((s, s + n))
            take -= n
            if s + n >= e:
                job.plan.popleft()
            else:
                job.plan[0] = (s + n, e)
        moved = sum(e - s for s, e in pieces)
        job.carry = min(budget - moved, bandwidth * 2 * MIN_TICK) if moved < budget else 0.0
        # everything before the next allocated range is copied (empty pages cost nothing)
        progress = max(job.copied, min(job.plan[0][0], limit) if job.plan else limit)
        if not pieces:
            self._advance(job, progress)
            return
        job.busy = True
        future = asyncio.get_running_loop().run_in_executor(self._pool, _transfer, job.content, job.dest, pieces)
        future.add_done_callback(lambda f: self._transferred(job, f, progress))

    def bandwidth(self, job: CopyJob) -> float:
        """The bytes/s ``job`` may move now: its own rate, or its equal share of its
        destination account's or region pair's aggregate when that is lower."""
        settings = self.emu.faults.settings
        rate = settings.bandwidth_for(*job.region_pair)
        shared = (
            (settings.account_bandwidth_for(job.account), self._per_account[job.account]),
            (settings.pair_bandwidth_for(job.pair), self._per_pair[job.pair]),
        )
        for total, copies in shared:
            if total > 0:
                rate = min(rate, total / max(1, copies))
        return rate

    def _transferred(self, job: CopyJob, future: asyncio.Future[None], progress: int) -> None:
        job.busy = False
        if self._stopped:
            return
        if job.state == "aborted":
            self._truncate(job)
            return
        if job.state == "cancelled":
            self.emu.drop_pages(job.dest.id)
            return
        if future.exception() is not None:
            log.warning("copy %s: %s", job.id, future.exception())
            self._fail(job, '500 InternalError "Copy failed."')
            return
        self._advance(job, progress)

    def _advance(self, job: CopyJob, progress: int, delay: float | None = None) -> None:
        """Record ``progress``; end the copy, or tick it again (within ``delay`` seconds, if
        sooner than its round)."""
        if progress != job.copied:
            job.copied = progress
            job.doc["copy"]["progress"] = f"{progress}/{job.total}"
            self._dirty.add(job.key)
        if job.fail_at is not None and progress >= job.fail_at:
            self._fail(job, job.fail_description)
        elif progress >= job.total and not job.plan:
            self._succeed(job)
        else:
            self._schedule(job, None if delay is None else min(self._round(), max(MIN_TICK, delay)))

    # -- endings ------------------------------------------------------------------------------------
    def _succeed(self, job: CopyJob) -> None:
        self._stop(job)
        job.dest.save()
        self._conclude_doc(job.doc, "success", None)

    def _fail(self, job: CopyJob, description: str) -> None:
        """A failed copy leaves an empty destination, as an aborted one does (never called
        while a chunk is in flight: ticks and chunk completions alternate)."""
        self._stop(job)
        self._truncate(job)
        self._conclude_doc(job.doc, "failed", description)

    def _truncate(self, job: CopyJob) -> None:
        with contextlib.suppress(FileNotFoundError):  # the blob was replaced or deleted meanwhile
            job.dest.resize(0)

    def _conclude_doc(self, doc: Doc, status: str, description: str | None) -> None:
        copy = doc["copy"]
        copy["status"] = status
        copy["completion_time"] = clock.now()
        copy["status_description"] = description
        if status != "success":
            doc["properties"]["content_length"] = 0
        model.touch(doc)
        for k in [k for k in doc["x"] if k.startswith("copy_")]:
            del doc["x"][k]
        model.put_blob(self.emu, doc)

    # -- persistence ----------------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the documents of copies that progressed since the last flush (one
        transaction: this runs on the event loop, between requests)."""
        dirty, self._dirty = self._dirty, set()
        docs = ((key, self.emu.store.get(model.BLOB_KIND, key)) for key in sorted(dirty))
        self.emu.store.put_many(model.BLOB_KIND, [(key, doc) for key, doc in docs if doc is not None])

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            self.flush()


def _transfer(source: Content, dest: PageFile, pieces: list[tuple[int, int]]) -> None:
    """Move ``pieces`` of ``source`` into ``dest`` at the same offsets (a worker thread;
    the map is saved when the copy ends)."""
    for s, e in pieces:
        dest.copy_range(source, s, e)
