"""Waiting for Azure without waiting: a step starts an operation, records it, and comes back.

:func:`awaited` is how every step meets a long-running operation (snapshot, grant, import,
image, delete, revoke, deallocate, start): the first run starts it and records it in the job
record under a name derived from the job (``snapshot|<source>|<disk>``); each later run checks
it once. The step raises :class:`~diskferry.errors.Waiting` while any of its operations is in
flight, and its task comes back after a countdown that grows with the operation's age — no
worker slot is held while Azure works, and every task stays short (which is what lets the
Redis visibility timeout be minutes).

Azure says when to look again (``Retry-After`` on the operation's first answer and on each
status answer while it runs; ARM's guidance: 10 s to 10 min), and that is when it is checked:
a 30 s import is checked three or four times, not fifteen. Without one, a quarter of the
operation's age. A check that finds the operation running records when it is due again
(``Operation.due``):
every run that meets the operation before then — the step's own, or another pair's waiting for
the same snapshot, grant or staging account — comes back at that time without asking Azure.
With operations that take 30 s, two pairs of a source and a region's pairs of a staging
account each checked them on their own: 60 operation status reads per disk (docs/benchmarks.md).

Several runs waiting for one operation (a source's pairs for its snapshot and grant, a
region's pairs for its staging account) would all come back at the same due time, and all but
the first would find the step's lock taken (``Busy``) and come back once more, 2 s later: a
third of the prepare runs with 30 s operations. So the run that checks an operation comes back
when it is due, and a run that only met it (checked by another run, before this one took its
lock) comes back ``FOLLOW_SECONDS`` after that, once the check is done and recorded.

Operations of one kind take about as long as each other (a thousand snapshots, a thousand
imports), and Azure's ``Retry-After`` (10 s, say) knows nothing of that: a 30 s snapshot was
checked three or four times, each check a task run of every pair waiting for it. So the fleet
learns how long each kind takes in each region (:func:`kind_of`; ``JobStore.end_operation``,
kept in Redis for every worker and job: a job's operations start together, before any of them
ended), and an operation is first checked once that long has passed, never sooner than Azure
asked: one check each, when the operations are alike. One that runs longer is checked again
as Azure asks, as before; one that ends sooner is seen late by at most the difference. An
operation checked once the length passed and found ended says only that it ended by then: so
one in ``PROBE_EVERY`` (by its name) is checked as Azure asks, whatever was learned, and the
length follows at once any that took less — a length learned from a slow operation, or before
Azure got faster, is not kept.
A run that only follows a probe's checks (the source's other pair) comes back once the probe
would have ended as its kind's operations do, not after each check (``Operation.expected``).

A run after a crash finds the recorded operation and checks it instead of starting another;
a crash between starting and recording starts it again, which every operation here allows
(PUTs by name, grants, revokes, deletes and power actions are idempotent in effect).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from diskferry.cloud.operations import Checked, Operation
from diskferry.errors import Busy, DiskFailed, DiskferryError, OperationFailed, RetryLater, Waiting
from diskferry.pipeline.runtime import Runtime

T = TypeVar("T")
#: an operation still running after this long is given up (Azure's own LROs time out sooner)
OPERATION_DEADLINE_SECONDS = 6 * 3600
#: the countdown between two checks: a quarter of the operation's age, within these bounds
MIN_CHECK_SECONDS = 1.0
MAX_CHECK_SECONDS = 30.0
#: the longest wait Azure's ``Retry-After`` is followed for (ARM's RPC: 10 s to 10 min)
MAX_ASKED_SECONDS = 600.0
#: a run that met an operation another run checks comes back this long after it is due
FOLLOW_SECONDS = 1.0
#: one operation in this many is checked as Azure asks, not once the learned length passed
PROBE_EVERY = 8


def kind_of(name: str, region: str = "") -> str:
    """The kind of a job's operation, whose length the fleet learns: ``snapshot``, ``grant``,
    ``import`` ... (its name's first part: ``snapshot|<source>|<disk>``), in its region
    (``import@brazilsouth``) when Azure names it: one region's imports may take twice another's,
    and one length for both had the slower region's checked early and the faster's seen late."""
    kind = name.split("|", 1)[0]
    return f"{kind}@{region}" if region else kind


def probes(name: str) -> bool:
    """Whether the operation ``name`` is checked as Azure asks, to learn how long its kind takes
    (one in ``PROBE_EVERY``, the same for every run of the step)."""
    return zlib.crc32(name.encode()) % PROBE_EVERY == 0


def awaited(rt: Runtime, job_id: str, name: str, start: Callable[[], Operation | None], *,
            result: bool = False) -> Checked:
    """The job's operation ``name``, started with ``start`` unless one is recorded, then
    checked once if it is due (``Operation.due``). ``start`` returning None means there is
    nothing to do (what it would act on is gone): done. An ended operation is forgotten; a
    failed one too, raising its error.
    ``result``: the caller reads what the operation made (``Checked.body``: a grant's SAS);
    no other step does, and each skipped final GET is an ARM read the job does not spend."""
    doc = rt.store.operation(job_id, name)
    if doc is None:
        op = start()
        if op is None or op.done:
            return Checked(True, op.body if op else None)
        # first checked when Azure asked, or once as long as this kind's operations take, if later
        learned = min(rt.store.typical(kind_of(name, op.region)) or 0.0, MAX_ASKED_SECONDS)
        if probes(name):
            op = replace(op, checked=time.time(), expected=op.started + learned)
        else:
            op = replace(op, checked=time.time(), due=max(op.due, op.started + learned))
        rt.store.put_operation(job_id, name, op.to_json())
        # asked to wait less than a countdown's floor (the local Azure's instant operations
        # ask 1 ms): checked at once, as the step would be back no sooner
        not_before = MIN_CHECK_SECONDS
    else:
        op = Operation.from_json(doc)
        not_before = 0.0
    if op.due - time.time() > not_before:
        # Azure asked to wait (its Retry-After), or it was checked lately (by this step or
        # another pair's): not due yet
        return Checked(False)
    try:
        checked = rt.cloud.check(op, result=result)
    except OperationFailed:
        rt.store.drop_operation(job_id, name)  # over: the next run starts a new one
        raise
    except RetryLater:
        raise  # Azure did not answer: check the same operation again later
    except DiskferryError:
        rt.store.drop_operation(job_id, name)
        raise
    if checked.done:
        # it took at most this long (it ended since the check before): what the fleet learns
        rt.store.end_operation(job_id, name, kind_of(name, op.region), op.age(),
                               first_check=op.checked - op.started < MIN_CHECK_SECONDS / 2)
    elif op.age() > OPERATION_DEADLINE_SECONDS:
        rt.store.drop_operation(job_id, name)
        raise DiskFailed("OperationTimedOut", f"{op.what} has not ended after {op.age() / 3600:.1f} h")
    else:
        now = time.time()
        due = now + _check_after(op.age(now), checked.retry_after)
        rt.store.put_operation(job_id, name, replace(op, due=due, checked=now).to_json())
    return checked


def progressed(rt: Runtime, job_id: str, name: str, what: str, subscription_id: str,
               read: Callable[[], float | None]) -> bool:
    """Whether something Azure does in the background, reporting only its progress on the
    resource (a snapshot's background copy: ``completionPercent``), has ended; read with
    ``read`` (None once it has, else the percentage done) only when due, as an operation is
    checked. The next read comes when the rate seen between the last two says it ends (within
    ``MIN_CHECK_SECONDS`` and ``MAX_ASKED_SECONDS``), else after a quarter of the time since the
    progress last moved (up to ``MAX_CHECK_SECONDS``): an hour-long background copy is read a
    few times, not every few seconds. Progress that has not moved for
    ``OPERATION_DEADLINE_SECONDS`` fails the disk. Kept under ``name`` among the job's
    operations (``started``: when the progress last moved), so that :func:`still_running`
    brings the step back when the read is due."""
    doc = rt.store.operation(job_id, name)
    before = None if doc is None else Operation.from_json(doc)
    now = time.time()
    if before is not None and before.due > now + MIN_CHECK_SECONDS / 2:
        return False
    percent = read()
    if percent is None:
        if before is not None:
            rt.store.drop_operation(job_id, name)
        return True
    if before is None or before.progress is None or percent > before.progress:
        moved = now
        countdown = MIN_CHECK_SECONDS
        if before is not None and before.progress is not None and now > before.checked:
            rate = (percent - before.progress) / (now - before.checked)
            countdown = min(MAX_ASKED_SECONDS, max(MIN_CHECK_SECONDS, (100.0 - percent) / rate))
    else:
        moved = before.started
        if now - moved > OPERATION_DEADLINE_SECONDS:
            rt.store.drop_operation(job_id, name)
            raise DiskFailed("OperationTimedOut", f"{what} has not moved for {(now - moved) / 3600:.1f} h "
                             f"(at {percent:g} %)")
        countdown = _check_after(now - moved)
    op = Operation(what, subscription_id, token="", started=moved, due=now + countdown, checked=now,
                   progress=percent)
    rt.store.put_operation(job_id, name, op.to_json())
    return False


def _check_after(age: float, asked: float | None = None) -> float:
    """The countdown to the next check of an operation ``age`` seconds old: what Azure asked
    (``Retry-After``, up to ``MAX_ASKED_SECONDS``), else a quarter of its age; within bounds."""
    if asked:
        return min(MAX_ASKED_SECONDS, max(MIN_CHECK_SECONDS, asked))
    return min(MAX_CHECK_SECONDS, max(MIN_CHECK_SECONDS, age / 4))


def still_running(rt: Runtime, job_id: str, names: list[str], what: str, *, since: float | None = None) -> Waiting:
    """The error that brings a step back once its operations ``names`` may have ended.
    ``since``: when this run took the lock under which it checks them; an operation last checked
    before then was checked by another run, which this one follows (``FOLLOW_SECONDS``)."""
    now = time.time()
    ops = [Operation.from_json(doc) for n in names if (doc := rt.store.operation(job_id, n))]
    # when the first is due: as its last check recorded, else by its age; a run that follows
    # another's checks, once it ended as its kind's operations do
    waits = [_follow(op, now) if since is not None and op.checked < since
             else (op.due - now if op.due else _check_after(op.age(now))) for op in ops]
    countdown = min(MAX_ASKED_SECONDS, max(MIN_CHECK_SECONDS, min(waits, default=0.0)))
    return Waiting("OperationInProgress", f"{what}: Azure is still working", retry_after=countdown)


def _follow(op: Operation, now: float) -> float:
    """The countdown of a run that met ``op`` checked by another run: after that run's next
    check, or — for a probe, checked as Azure asks (every 10 s, say) — once it ends as its
    kind's operations do, rather than after each of its checks (two runs of the source's other
    pair for each probed snapshot or grant of 30 s, before)."""
    due = max(op.due, op.expected) if op.due else max(now + _check_after(op.age(now)), op.expected)
    return due - now + FOLLOW_SECONDS


def until_done(step: Callable[[], T], timeout: float = 900.0) -> T:
    """Run a step again and again until Azure has finished what it started and nobody else holds
    the work: for callers that may wait (the CLI's cancel, gc), never for a task."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return step()
        except (Waiting, Busy) as exc:
            if time.monotonic() > deadline:
                raise
            time.sleep(min(exc.retry_after or 1.0, 5.0))
