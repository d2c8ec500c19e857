"""Copies into one staging container share their status reads: one List Blobs per round."""

from __future__ import annotations

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
from diskferry.pipeline import cleanup, copy, prepare
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
    # a long round, so that every poll below falls in the first listing's round
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

        def poll_all() -> list[DiskOutcome | Pending]:
            return [copy.advance(rt, job.id, source.key, target.key, k) for k in keys]

        assert all(isinstance(o, Pending) for o in poll_all())  # every copy started
        account = rt.staging_account(target)
        assert account is not None
        pending = _same_as_each_blob_read(rt, account, f"{job.id}/")
        assert len(pending) == len(keys) and {s.state for s in pending.values()} == {CopyState.pending}
        assert rt.cloud.storage.copy_statuses(account, "no-such-container", prefix="") == {}
        before = admin.counters()
        for _ in range(3):
            assert all(isinstance(o, Pending) for o in poll_all())
        calls = delta(before, admin.counters())
        # 12 polls of 4 copies: one listing, and one own read per copy started after it (none)
        assert (calls.get("blob.ListBlobs", 0), calls.get("blob.GetBlobProperties", 0)) == (1, 0)
        assert {rt.store.disk_state(job.id, source.key, target.key, k)["phase"] for k in keys} == {"copying"}
        # the shared listing holds no SAS (the copy source is never kept)
        raw = redis.Redis.from_url(url, decode_responses=True)
        stored = [v for key in raw.scan_iter(f"{rt.store.key(job.id)}:listing:*") for v in raw.hvals(key)]
        assert len(stored) == 1 + len(keys) and not any("sig=" in v or "http" in v for v in stored)
        # a round later, the polls see the copies end
        admin.set(copy_bandwidth=64 * 1024 * 1024)
        rt_short = runtime_for(emulator, url, DISKFERRY_POLL_LISTING_SECONDS="0.2",
                               DISKFERRY_VAULT_KEY=rt.settings.vault_key or "")
        wait_until(lambda: all(isinstance(o, DiskOutcome) and o.ok for o in
                               [copy.advance(rt_short, job.id, source.key, target.key, k) for k in keys]),
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
