"""Copies into one staging container share their status reads: one List Blobs per round, read
with ElementTree, saying what each blob's own read says."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
import redis

from diskferry import naming
from diskferry.cloud import AccountInfo, CopyState, CopyStatus, storage
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import cleanup, copy, copystatus, prepare
from diskferry.pipeline.outcome import DiskOutcome, Pending
from diskferry.pipeline.runtime import Runtime
from diskferry.producer.jobfile import parse
from diskferry.producer.planner import make_plan
from tests.conftest import Clients
from tests.diskferry.pipeline.runtimes import runtime_for
from tests.fleet.checks import delta
from tests.waiting import wait_until


def _same_as_each_blob_read(rt: Runtime, account: AccountInfo, prefix: str) -> dict[str, CopyStatus]:
    """The listing (read with ElementTree) says what each blob's own Get Blob Properties (read by
    the SDK) says."""
    listed = rt.cloud.storage.copy_statuses(account, STAGING_CONTAINER, prefix=prefix)
    assert listed == {b: rt.cloud.storage.copy_status(account, STAGING_CONTAINER, b) for b in listed}
    return listed


def test_copies_into_one_container_share_one_listing_per_round(
        emulator: EmulatorProcess, redis_db: Callable[[], str], clients: Clients, admin: AdminClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    rg = f"listing-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                                                "vms": [{"name": "app", "os_disk": 1, "data_disks": [1, 1, 1]}]}))
    url = redis_db()
    # a long round, so that every read below falls in the first listing's round
    rt = runtime_for(emulator, url, DISKFERRY_POLL_LISTING_SECONDS="30", DISKFERRY_POLL_FLOOR_SECONDS="30")
    spec = parse({"source": {"resource_group": rg, "vms": ["app"]},
                  "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    job = make_plan(spec, rt.cloud, rt.settings, job_id=naming.new_job_id()).job
    rt.store.create(job)
    source, target = job.sources[0], job.targets[0]
    keys = [d.key for d in source.disks]
    try:
        assert prepare.prepare(rt, job.id, source.key, target.key).ok
        admin.set(copy_bandwidth=128 * 1024, lro_latency=0.0)
        started = time.time()
        assert all(isinstance(copy.advance(rt, job.id, source.key, target.key, k), Pending) for k in keys)
        account = rt.staging_account(target)
        assert account is not None
        pending = _same_as_each_blob_read(rt, account, f"{job.id}/")
        assert len(pending) == len(keys) and {s.state for s in pending.values()} == {CopyState.pending}
        assert rt.cloud.storage.copy_statuses(account, "no-such-container", prefix="") == {}
        before = admin.counters()
        rounds = [copystatus.listing(rt, job.id, account, STAGING_CONTAINER, not_before=started) for _ in range(3)]
        calls = delta(before, admin.counters())
        # three reads of the round: one listing, the others from its cache
        assert (calls.get("blob.ListBlobs", 0), calls.get("blob.GetBlobProperties", 0)) == (1, 0)
        seen = [None if r is None else (r[1], {b: (s.copy_id, s.state, s.copied, s.total) for b, s in r[0].items()})
                for r in rounds]
        assert seen[0] is not None and seen == [seen[0]] * 3 and set(seen[0][1]) == set(pending)
        # a copy started after the listing: the cache says nothing about it, a new listing is taken
        before = admin.counters()
        assert copystatus.listing(rt, job.id, account, STAGING_CONTAINER, not_before=time.time()) is not None
        assert delta(before, admin.counters()).get("blob.ListBlobs", 0) == 1
        # a watcher whose worker died while it listed left the lock held in its name: the round's
        # redelivery (the same task id) lists at once; any other caller is told to come back
        with rt.store.lock(job.id, f"listing|{account.name}/{STAGING_CONTAINER}", 30, owner="watcher-1") as held:
            assert held
            later = time.time()
            assert copystatus.listing(rt, job.id, account, STAGING_CONTAINER, later, owner="watcher-2") is None
            assert copystatus.listing(rt, job.id, account, STAGING_CONTAINER, later, owner="watcher-1") is not None
        # the shared listing holds no SAS (the copy source is never kept)
        raw = redis.Redis.from_url(url, decode_responses=True)
        stored = [v for key in raw.scan_iter(f"{rt.store.key(job.id)}:listing:*") for v in raw.hvals(key)]
        assert len(stored) == 1 + len(keys) and not any("sig=" in v or "http" in v for v in stored)
        # the copies end: each one's own run sees it and marks its disk copied
        admin.set(copy_bandwidth=64 * 1024 * 1024)
        wait_until(lambda: all(isinstance(o, DiskOutcome) and o.ok for o in
                               [copy.advance(rt, job.id, source.key, target.key, k) for k in keys]),
                   60, "the copies did not end")
        assert {rt.store.disk_state(job.id, source.key, target.key, k)["phase"] for k in keys} == {
            Phase.copied.value}
        monkeypatch.setattr(storage, "LIST_PAGE", 3)  # two pages, the second after a NextMarker
        done = _same_as_each_blob_read(rt, account, f"{job.id}/")
        assert len(done) == len(keys) and {s.state for s in done.values()} == {CopyState.success}
        assert all(s.copied == s.total > 0 for s in done.values())
    finally:
        cleanup.cleanup_pair(rt, job, source, target)
        assert admin.leftovers(job.id) == []
        rt.store.delete(job.id)
        for group in (rg, f"br-{rg}"):
            clients.resource.resource_groups.begin_delete(group).result()
