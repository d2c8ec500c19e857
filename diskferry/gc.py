"""``diskferry gc``: remove what lost or ended jobs left behind, found in Azure by its tags.

A job cleans up after itself; this is for when it could not: its fleet and Redis were
lost mid-job, its record expired, or its cleanup failed. Everything temporary that
diskferry makes carries ``diskferry-job`` and ``diskferry-role=temporary`` (a staged blob:
its name starts with the job id), and a source disk or snapshot it granted on carries
``diskferry-grant`` until the SAS is revoked (:func:`.pipeline.grants.mark_grant`). So gc
needs nothing but Azure and the job records that still exist:

* the subscription's disks and snapshots: a ``diskferry-grant`` mark (revoke, unmark), a
  temporary snapshot or disk (revoke, delete);
* its storage accounts: a temporary (job-made) staging account (delete, with its blobs), and
  staged VHDs in any other account's staging container (abort a pending copy, delete);
* its network interfaces: one a job made for a VM it rebuilds (a result, tagged with the job)
  that no VM holds — the VM was refused or never made, and the job could not delete it.

A leftover is removed only when its job is **ended** (every disk has an outcome and every
cleanup ran), **cancelled**, or **unknown** to this Redis (expired or lost) — never while
its job runs — and only when it is older than ``older_than`` seconds: a job unknown here may
belong to another fleet's Redis, and a young leftover may be one a running job makes now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from diskferry import claims
from diskferry.cloud import AccountInfo, CopyState
from diskferry.cloud.operations import Operation
from diskferry.errors import DiskferryError, NotFound, RetryLater, Waiting
from diskferry.model import TAG_GRANT, TAG_JOB, TAG_ROLE, Role
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import grants
from diskferry.pipeline.runtime import Runtime
from diskferry.pipeline.waits import until_done

log = logging.getLogger(__name__)


class Kind(StrEnum):
    """What was left: in the order gc removes them (grants before what they read)."""

    grant = "grant"  #: a SAS on a source disk or snapshot (marked ``diskferry-grant``)
    blob = "blob"  #: a staged VHD (or a copy still pending into one)
    snapshot = "snapshot"  #: a temporary snapshot (and any SAS on it)
    disk = "disk"  #: a temporary disk (one an image was to be built from)
    account = "account"  #: a staging account the job created
    nic = "nic"  #: a NIC made for a rebuilt VM that no VM holds


class JobState(StrEnum):
    running = "running"
    ended = "ended"
    cancelled = "cancelled"
    unknown = "unknown"  #: no record here: expired, lost with its Redis, or another fleet's


@dataclass
class Leftover:
    kind: Kind
    #: ARM id; for a blob, ``{account id}/{container}/{blob}``
    id: str
    job: str
    #: epoch seconds, when Azure says
    created: float | None
    state: JobState = JobState.unknown
    #: what gc did: "removed", "would remove" (dry run), "kept: ..." or "failed: ..."
    outcome: str = ""


def _epoch(value: str | datetime | None) -> float | None:
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when.timestamp()


def find(rt: Runtime, subscription_id: str) -> list[Leftover]:
    """Everything temporary that diskferry left in the subscription, whatever its job's state."""
    found = [*_disklike(rt, subscription_id), *_storage(rt, subscription_id), *_nics(rt, subscription_id)]
    order = list(Kind)
    return sorted(found, key=lambda left: (order.index(left.kind), left.id))


def _disklike(rt: Runtime, subscription_id: str) -> Iterator[Leftover]:
    for info, created in rt.cloud.compute.list_disklike(subscription_id):
        if TAG_GRANT in info.tags:
            yield Leftover(Kind.grant, info.id, info.tags[TAG_GRANT], _epoch(created))
        if info.tags.get(TAG_ROLE) == Role.temporary.value and TAG_JOB in info.tags:
            kind = Kind.snapshot if "/snapshots/" in info.id.lower() else Kind.disk
            yield Leftover(kind, info.id, info.tags[TAG_JOB], _epoch(created))


def _storage(rt: Runtime, subscription_id: str) -> Iterator[Leftover]:
    for account in rt.cloud.storage.list_accounts(subscription_id):
        if account.tags.get(TAG_ROLE) == Role.temporary.value and TAG_JOB in account.tags:
            yield Leftover(Kind.account, account.id, account.tags[TAG_JOB], _epoch(account.created))
            continue  # its blobs go with it
        try:
            blobs = rt.cloud.storage.list_blob_times(account, STAGING_CONTAINER)
        except DiskferryError as exc:  # an account gc may not read (no listKeys right): not ours to judge
            log.warning("gc: cannot list %s in %s: %s", STAGING_CONTAINER, account.name, exc)
            continue
        for name, created in blobs:
            job_id = name.split("/", 1)[0]
            yield Leftover(Kind.blob, f"{account.id}/{STAGING_CONTAINER}/{name}", job_id, _epoch(created))


def _nics(rt: Runtime, subscription_id: str) -> Iterator[Leftover]:
    """A rebuilt VM's NIC is a result while its VM holds it; without one it is of no use
    (Azure gives a NIC no creation time: the age filter does not apply to it)."""
    for nic in rt.cloud.network.list_nics(subscription_id):
        if TAG_JOB in nic.tags and nic.vm_id is None:
            yield Leftover(Kind.nic, nic.id, nic.tags[TAG_JOB], None)


def job_state(rt: Runtime, job_id: str) -> JobState:
    try:
        status = rt.store.status(job_id)
    except NotFound:
        return JobState.unknown
    if not claims.ended(status):
        return JobState.running
    return JobState.cancelled if rt.store.cancel_request(job_id) is not None else JobState.ended


def collect(rt: Runtime, subscription_id: str, *, older_than: float, dry_run: bool,
            now: float | None = None) -> list[Leftover]:
    """Find the leftovers and remove those whose job is over and that are old enough; each
    says what was done. One that cannot be removed is reported and the others go on."""
    now = time.time() if now is None else now
    states: dict[str, JobState] = {}
    found = find(rt, subscription_id)
    for left in found:
        left.state = states.setdefault(left.job, job_state(rt, left.job))
        if left.state is JobState.running:
            left.outcome = "kept: its job is running"
        elif left.created is not None and now - left.created < older_than:
            left.outcome = f"kept: younger than {older_than:.0f} s"
        elif dry_run:
            left.outcome = "would remove"
        else:
            left.outcome = _remove(rt, left)
    return found


def _remove(rt: Runtime, left: Leftover) -> str:
    try:
        _REMOVERS[left.kind](rt, left)
    except DiskferryError as exc:
        log.warning("gc: %s %s: %s", left.kind.value, left.id, exc)
        return f"failed: {exc.code}: {exc.message}"
    return "removed"


def _finish(rt: Runtime, op: Operation | None) -> None:
    """gc runs in the CLI: it may wait for what it started."""
    if op is not None and not rt.cloud.compute.wait(op).done:
        raise RetryLater("OperationInProgress", f"{op.what} has not ended")


def _revoke_grant(rt: Runtime, left: Leftover) -> None:
    _finish(rt, rt.cloud.compute.revoke(left.id))
    until_done(lambda: grants.unmark_grant(rt, left.job, left.id) or _tagging(left))


def _tagging(left: Leftover) -> bool:
    raise Waiting("OperationInProgress", f"untag {left.id}", retry_after=0.5)


def _delete_disklike(rt: Runtime, left: Leftover) -> None:
    _finish(rt, rt.cloud.compute.revoke(left.id))  # Azure refuses to delete a disk or snapshot with an active SAS
    _finish(rt, rt.cloud.compute.delete(left.id))


def _delete_blob(rt: Runtime, left: Leftover) -> None:
    account_id, _, rest = left.id.partition(f"/{STAGING_CONTAINER}/")
    account = _account(rt, account_id)
    if account is None:
        return
    status = rt.cloud.storage.copy_status(account, STAGING_CONTAINER, rest)
    if status is not None and status.state is CopyState.pending and status.copy_id:
        rt.cloud.storage.abort_copy(account, STAGING_CONTAINER, rest, status.copy_id)
    rt.cloud.storage.delete_blob(account, STAGING_CONTAINER, rest)


def _delete_account(rt: Runtime, left: Leftover) -> None:
    account = _account(rt, left.id)
    if account is not None:
        parts = left.id.split("/")
        rt.cloud.storage.delete_account(parts[2], account.resource_group, account.name)


def _delete_nic(rt: Runtime, left: Leftover) -> None:
    rt.cloud.network.delete(left.id)  # gone already: done


def _account(rt: Runtime, account_id: str) -> AccountInfo | None:
    parts = account_id.split("/")  # /subscriptions/{s}/resourceGroups/{rg}/providers/.../storageAccounts/{a}
    return rt.cloud.storage.get_account(parts[2], parts[4], parts[-1])


_REMOVERS: dict[Kind, Callable[[Runtime, Leftover], None]] = {
    Kind.grant: _revoke_grant,
    Kind.snapshot: _delete_disklike,
    Kind.disk: _delete_disklike,
    Kind.blob: _delete_blob,
    Kind.account: _delete_account,
    Kind.nic: _delete_nic,
}

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> float:
    """``90s``, ``30m``, ``6h``, ``2d`` (or bare seconds) as seconds; ValueError otherwise."""
    raw = text.strip().lower()
    unit = _UNITS.get(raw[-1:]) if raw else None
    number = raw[:-1] if unit else raw
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not an age (e.g. 90s, 30m, 6h, 2d)") from None
    if value < 0:
        raise ValueError(f"{text!r}: an age cannot be negative")
    return value * (unit or 1)
