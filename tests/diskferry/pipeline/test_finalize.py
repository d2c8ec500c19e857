"""Finalize against the local Azure, step by step: while a pair's imports run, its source's
temporary snapshot is already deleted once every copy of it has ended — not after the last
import, one operation more at the end of the job. A disk of the destination's name that the
job did not make is left as it is, and the job's disk fails saying so."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest

from diskferry import naming
from diskferry.cloud import ResourceId
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.errors import RetryLater, Waiting
from diskferry.model import Job, Phase
from diskferry.pipeline import copy, finalize, grants, layout, prepare
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
DISK_READ = "Microsoft.Compute/disks/read"
REVOKE = "Microsoft.Compute/snapshots/endGetAccess/action"


def _planned(emulator: EmulatorProcess, redis_url: str, admin: AdminClient, prefix: str,
             targets: dict[str, str]) -> tuple[str, Runtime, Job]:
    """A VM of one disk in francecentral (its resource group), planned to ``targets`` (region ->
    prefix of its resource group, ``<prefix>-<the source's group>``), its record created;
    operations instant."""
    rg = f"{prefix}-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                                                "vms": [{"name": "app", "os_disk": 1}]}))
    admin.set(lro_latency=0.0)
    rt = runtime_for(emulator, redis_url, DISKFERRY_POLL_LISTING_SECONDS="0")
    spec = parse({"source": {"resource_group": rg, "vms": ["app"]},
                  "targets": [{"region": region, "resource_group": f"{group}-{rg}"}
                              for region, group in targets.items()]})
    job = make_plan(spec, rt.cloud, rt.settings, job_id=naming.new_job_id()).job
    rt.store.create(job)
    return rg, rt, job


def _two_targets(emulator: EmulatorProcess, redis_url: str, admin: AdminClient, prefix: str
                 ) -> tuple[str, Runtime, Job]:
    """The VM planned to brazilsouth and westeurope (``br-`` and ``we-`` groups)."""
    return _planned(emulator, redis_url, admin, prefix, {"brazilsouth": "br", "westeurope": "we"})


def test_a_snapshot_is_deleted_while_its_pairs_import(emulator: EmulatorProcess, redis_db: Callable[[], str],
                                                      clients: Clients, admin: AdminClient) -> None:
    rg, rt, job = _two_targets(emulator, redis_db(), admin, "fin")
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
        before = start = admin.counters()
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
        # an import's PUT is its own guard against a disk of the name it did not make: no read first
        assert delta(start, admin.counters()).get(DISK_READ, 0) == 0
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


def _one_disk_job(emulator: EmulatorProcess, redis_url: str, admin: AdminClient, region: str,
                  group: str) -> tuple[Runtime, Job, ResourceId]:
    """The VM planned to ``region`` alone (resource group ``group-``); and its disk's destination."""
    _, rt, job = _planned(emulator, redis_url, admin, "taken", {region: group})
    source = job.sources[0]
    return rt, job, ResourceId.parse(layout.destination(job, source, job.targets[0], source.disk("os")).id)


def _squat(clients: Clients, dest: ResourceId, group_location: str, location: str) -> Any:
    """Someone else's empty disk of the destination's name."""
    clients.resource.resource_groups.create_or_update(dest.resource_group, {"location": group_location})
    return clients.compute.disks.begin_create_or_update(dest.resource_group, dest.name, {
        "location": location, "tags": {"owner": "someone"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 2}}).result()


def _untouched(clients: Clients, dest: ResourceId, squatter: Any) -> bool:
    kept = clients.compute.disks.get(dest.resource_group, dest.name)
    return bool((kept.id, kept.tags, kept.disk_size_gb, kept.creation_data.create_option) == (
        squatter.id, {"owner": "someone"}, 2, "Empty"))


@contextmanager
def _removed_after(rt: Runtime, job: Job, dest: ResourceId, clients: Clients) -> Iterator[None]:
    try:
        yield
    finally:
        rt.store.delete(job.id)
        for group in (job.sources[0].resource_group, dest.resource_group):
            clients.resource.resource_groups.begin_delete(group).result()


@pytest.mark.parametrize("where", ["same region", "another region"])
def test_a_disk_of_the_destination_name_not_made_by_the_job_fails_the_disk_untouched(
        emulator: EmulatorProcess, redis_db: Callable[[], str], clients: Clients, admin: AdminClient,
        where: str) -> None:
    """A disk named as the import's destination, made by someone else between the plan and the
    import (the plan only warns of one that is there already): the import's PUT is refused by
    Azure, which changes nothing, and the disk fails as ``DiskAlreadyExists``; the other disk
    is neither changed nor deleted, and the job leaves nothing behind."""
    rt, job, dest = _one_disk_job(emulator, redis_db(), admin, "westeurope", "we")
    source, target = job.sources[0], job.targets[0]
    with _removed_after(rt, job, dest, clients):
        assert prepare.prepare(rt, job.id, source.key, target.key).ok
        wait_until(partial(_copy_ended, rt, job.id, source.key, target.key), 20, "the copy did not end")
        squatter = _squat(clients, dest, "westeurope", "westeurope" if where == "same region" else "brazilsouth")

        outcome = finalize.finalize(rt, job.id, source.key, target.key)

        assert not outcome.ok
        disk = rt.store.status(job.id).disks()[0]
        assert disk.phase is Phase.failed and disk.error is not None
        assert disk.error.code == "DiskAlreadyExists"
        assert disk.error.message.startswith(f"disk {dest.name} exists and is not this job's")
        assert disk.result_id is None
        assert _untouched(clients, dest, squatter)
        assert admin.leftovers(job.id) == []


def test_a_same_region_copy_onto_a_disk_it_did_not_make_fails_the_disk_untouched(
        emulator: EmulatorProcess, redis_db: Callable[[], str], clients: Clients, admin: AdminClient) -> None:
    """The same for a target in the source's region, whose disk is a ``Copy`` of the snapshot."""
    rt, job, dest = _one_disk_job(emulator, redis_db(), admin, "francecentral", "fc")
    source, target = job.sources[0], job.targets[0]
    with _removed_after(rt, job, dest, clients):
        squatter = _squat(clients, dest, "francecentral", "francecentral")
        assert prepare.prepare(rt, job.id, source.key, target.key).ok

        copied = copy.advance(rt, job.id, source.key, target.key, "os")

        assert isinstance(copied, DiskOutcome) and (copied.ok, copied.code) == (False, "DiskAlreadyExists")
        assert not finalize.finalize(rt, job.id, source.key, target.key).ok
        disk = rt.store.status(job.id).disks()[0]
        assert disk.phase is Phase.failed and disk.result_id is None
        assert _untouched(clients, dest, squatter)
        assert admin.leftovers(job.id) == []


def test_a_revoke_refused_at_the_copies_end_is_started_while_the_imports_run(
        emulator: EmulatorProcess, redis_db: Callable[[], str], clients: Clients, admin: AdminClient) -> None:
    """The revoke that the last copy's end starts is refused (a 429: the fleet's ARM budget
    spent as a job's copies end together) and forgotten, as the copy's task must not wait for
    it. The finalize run that starts the imports starts it instead, so that the snapshot's
    deletion follows it while they run — not revoke and deletion in a row after the imports."""
    rg, rt, job = _two_targets(emulator, redis_db(), admin, "rev")
    source = job.sources[0]
    try:
        for target in job.targets:
            assert prepare.prepare(rt, job.id, source.key, target.key).ok
        admin.add_fault(REVOKE, status=429, code="TooManyRequests", count=1)
        for target in job.targets:
            wait_until(partial(_copy_ended_or_refused, rt, job.id, source.key, target.key), 20, "the copy did not end")
        assert rt.store.operation(job.id, grants.revoke_op(source, source.disk("os"))) is None  # forgotten
        admin.set(lro_latency_ops={DISK_WRITE: 3.0, REVOKE: 1.0, SNAPSHOT_DELETE: 1.0})
        first, second = job.targets
        before = admin.counters()
        with pytest.raises(Waiting):  # importing; the revoke starts alongside
            finalize.finalize(rt, job.id, source.key, first.key)
        assert delta(before, admin.counters()).get(REVOKE, 0) == 1
        time.sleep(1.2)
        with pytest.raises(Waiting):  # the other pair, importing still, sees the revoke ended: the delete starts
            finalize.finalize(rt, job.id, source.key, second.key)
        assert delta(before, admin.counters()).get(SNAPSHOT_DELETE, 0) == 1
        for target in job.targets:
            outcome = wait_until(partial(_finalized, rt, job.id, source.key, target.key), 20, "not finalized")
            assert outcome is not None and outcome.ok
        assert delta(before, admin.counters()).get(REVOKE, 0) == 1  # once
        assert admin.leftovers(job.id) == []
    finally:
        admin.set(lro_latency_ops={})
        admin.clear_faults()
        rt.store.delete(job.id)
        for group in (rg, f"br-{rg}", f"we-{rg}"):
            clients.resource.resource_groups.begin_delete(group).result()


def _copy_ended_or_refused(rt: Runtime, job_id: str, source: str, target: str) -> bool:
    """The copy ended (its run's revoke, refused, is not waited for: the next run finds it ended)."""
    try:
        return _copy_ended(rt, job_id, source, target)
    except RetryLater:
        return False


def test_a_snapshot_whose_deletion_is_refused_for_good_fails_no_pair(
        emulator: EmulatorProcess, redis_db: Callable[[], str], clients: Clients, admin: AdminClient) -> None:
    """Azure refuses to delete the source's snapshot for good (a resource group locked against
    deletes): the finalize that releases it early leaves it to the source's cleanup, which says
    what is left. Both pairs succeed: their disks are made."""
    rg, rt, job = _two_targets(emulator, redis_db(), admin, "lock")
    source = job.sources[0]
    try:
        for target in job.targets:
            assert prepare.prepare(rt, job.id, source.key, target.key).ok
        for target in job.targets:
            wait_until(partial(_copy_ended, rt, job.id, source.key, target.key), 20, "the copy did not end")
        admin.add_fault(SNAPSHOT_DELETE, status=409, code="ScopeLocked", count=-1,
                        message="The scope cannot perform delete operation because of a lock")
        for target in job.targets:
            outcome = wait_until(partial(_finalized, rt, job.id, source.key, target.key), 20, "not finalized")
            assert outcome is not None and outcome.ok
        status = rt.store.status(job.id)
        assert [d.phase for d in status.disks()] == [Phase.succeeded] * 2
        assert [code for _, error in status.cleanup_errors() for code in [error.code]] == ["ScopeLocked"]
    finally:
        admin.clear_faults()
        rt.store.delete(job.id)
        for group in (rg, f"br-{rg}", f"we-{rg}"):
            clients.resource.resource_groups.begin_delete(group).result()
