"""Finalize against the local Azure, step by step: while a pair's imports run, its source's
temporary snapshot is already deleted once every copy of it has ended — not after the last
import, one operation more at the end of the job."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import partial

import pytest

from diskferry import naming
from diskferry.cloud import ResourceId
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.errors import Waiting
from diskferry.pipeline import copy, finalize, layout, prepare
from diskferry.pipeline.outcome import DiskOutcome, PairOutcome
from diskferry.pipeline.runtime import Runtime
from diskferry.producer.jobfile import parse
from diskferry.producer.planner import make_plan
from tests.conftest import Clients
from tests.diskferry.pipeline.runtimes import runtime_for
from tests.fleet.checks import delta
from tests.waiting import wait_until

SNAPSHOT_DELETE = "Microsoft.Compute/snapshots/delete"
DISK_WRITE = "Microsoft.Compute/disks/write"


def test_a_snapshot_is_deleted_while_its_pairs_import(emulator: EmulatorProcess, redis_db: Callable[[], str],
                                                      clients: Clients, admin: AdminClient) -> None:
    rg = f"fin-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                                                "vms": [{"name": "app", "os_disk": 1}]}))
    admin.set(lro_latency=0.0)
    rt = runtime_for(emulator, redis_db(), DISKFERRY_POLL_LISTING_SECONDS="0")
    spec = parse({"source": {"resource_group": rg, "vms": ["app"]},
                  "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"},
                              {"region": "westeurope", "resource_group": f"we-{rg}"}]})
    job = make_plan(spec, rt.cloud, rt.settings, job_id=naming.new_job_id()).job
    rt.store.create(job)
    source = job.sources[0]
    snapshot = ResourceId.parse(layout.snapshot_id(job, source, source.disk("os")))
    try:
        for target in job.targets:
            assert prepare.prepare(rt, job.id, source.key, target.key).ok
        for target in job.targets:  # both copies run to their end (1 MiB at full speed)
            wait_until(partial(_copy_ended, rt, job.id, source.key, target.key), 20, "the copy did not end")
        # the imports take 3 s; a snapshot's delete 1 s
        admin.set(lro_latency_ops={f"{DISK_WRITE}": 3.0, SNAPSHOT_DELETE: 1.0})
        first, second = job.targets
        before = admin.counters()
        with pytest.raises(Waiting):  # importing; the snapshot's SAS is revoked, its delete starts
            finalize.finalize(rt, job.id, source.key, first.key)
        assert delta(before, admin.counters()).get(SNAPSHOT_DELETE, 0) == 1
        time.sleep(1.2)
        with pytest.raises(Waiting):  # the other pair, importing still, sees the delete ended
            finalize.finalize(rt, job.id, source.key, second.key)
        assert snapshot.name not in {s.name for s in clients.compute.snapshots.list_by_resource_group(
            snapshot.resource_group)}
        # the imports end; the source's cleanup deletes nothing twice
        before = admin.counters()
        for target in job.targets:
            outcome = wait_until(partial(_finalized, rt, job.id, source.key, target.key), 20, "not finalized")
            assert outcome is not None and outcome.ok
        assert delta(before, admin.counters()).get(SNAPSHOT_DELETE, 0) == 0
        assert admin.leftovers(job.id) == []
    finally:
        admin.set(lro_latency_ops={})
        rt.store.delete(job.id)
        for group in (rg, f"br-{rg}", f"we-{rg}"):
            clients.resource.resource_groups.begin_delete(group).result()


def _copy_ended(rt: Runtime, job_id: str, source: str, target: str) -> bool:
    return isinstance(copy.advance(rt, job_id, source, target, "os"), DiskOutcome)


def _finalized(rt: Runtime, job_id: str, source: str, target: str) -> PairOutcome | None:
    try:
        return finalize.finalize(rt, job_id, source, target)
    except Waiting:
        return None
