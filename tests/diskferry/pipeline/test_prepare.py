"""Prepare against the local Azure, step by step: a target is readied once per job, by one
pair at a time, and a run that comes back does not read again what an earlier run found."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from diskferry import naming
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.errors import Busy, DiskFailed, Throttled, Waiting
from diskferry.model import Job, Role, Source
from diskferry.pipeline import cleanup, layout, prepare, waits
from diskferry.pipeline.runtime import Runtime
from diskferry.producer.jobfile import parse
from diskferry.producer.planner import make_plan
from tests.diskferry.pipeline.runtimes import runtime_for
from tests.fleet.checks import delta

GROUP_READ = "Microsoft.Resources/subscriptions/resourceGroups/read"
SNAPSHOT_READ = "Microsoft.Compute/snapshots/read"
OPERATION_READ = "Microsoft.Resources/operations/read"
#: what the fleet learns the length of: grants of the fixture's region (francecentral)
GRANTS = waits.kind_of("grant", "francecentral")


@dataclass
class Planned:
    rt: Runtime
    job: Job


@pytest.fixture
def planned(emulator: EmulatorProcess, redis_db: Callable[[], str], admin: AdminClient) -> Iterator[Planned]:
    """Three one-disk VMs to one staged target, recorded, nothing prepared."""
    rg = f"prep-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                                                "vms": [{"name": f"vm{i}", "os_disk": 1} for i in range(3)]}))
    admin.set(lro_latency=0.0)
    rt = runtime_for(emulator, redis_db())
    spec = parse({"source": {"resource_group": rg, "vms": ["vm0", "vm1", "vm2"]},
                  "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    job = make_plan(spec, rt.cloud, rt.settings, job_id=naming.new_job_id()).job
    rt.store.create(job)
    yield Planned(rt, job)
    for source in job.sources:
        cleanup.cleanup_pair(rt, job, source, job.targets[0])


def test_a_target_is_readied_once_and_its_groups_read_once(planned: Planned, admin: AdminClient) -> None:
    rt, job = planned.rt, planned.job
    target = job.targets[0]
    before = admin.counters()
    for source in job.sources:
        assert prepare.prepare(rt, job.id, source.key, target.key).ok
    calls = delta(before, admin.counters())
    # the target's group (and the staging account's, the same here) read once for three pairs
    assert calls.get(GROUP_READ, 0) == 1, calls


def test_a_pair_that_finds_the_target_being_readied_waits_without_calling_azure(
        planned: Planned, admin: AdminClient) -> None:
    rt, job = planned.rt, planned.job
    source, target = job.sources[0], job.targets[0]
    ready = f"{target.key}|staged"
    with rt.store.lock(job.id, f"target|{ready}", 60, owner="another-worker") as taken:
        assert taken
        prepare.prepare_source(rt, job, source)  # the source's export is its own
        before = admin.counters()
        with pytest.raises(Busy) as err:
            prepare.prepare(rt, job.id, source.key, target.key, owner="this-task")
        assert err.value.code == "TargetBeingPrepared" and err.value.retry_after
        calls = delta(before, admin.counters())
        assert not any(name.startswith("Microsoft.") for name in calls), calls
    assert prepare.prepare(rt, job.id, source.key, target.key, owner="this-task").ok


def test_a_run_after_the_grant_was_recorded_does_not_read_the_snapshot_again(
        planned: Planned, admin: AdminClient) -> None:
    rt, job = planned.rt, planned.job
    source = job.sources[0]
    admin.set(lro_latency_ops={"Microsoft.Compute/snapshots/beginGetAccess/action": 3.0})
    with pytest.raises(Waiting):  # the snapshot is taken; its grant still runs
        prepare.prepare_source(rt, job, source)
    before = admin.counters()
    with pytest.raises(Waiting):
        prepare.prepare_source(rt, job, source)
    calls = delta(before, admin.counters())
    assert calls.get(SNAPSHOT_READ, 0) == 0, calls


def test_a_snapshot_is_looked_for_only_after_a_run_that_began_it_died(planned: Planned, admin: AdminClient) -> None:
    """The first run takes the snapshot without asking Azure whether it exists (its name holds the
    job's id); a run after one that died between beginning it and recording its operation asks,
    and does not take a second one."""
    rt, job = planned.rt, planned.job
    first, second = job.sources[0], job.sources[1]
    before = admin.counters()
    assert prepare.prepare_source(rt, job, first).get("prepared")
    calls = delta(before, admin.counters())
    assert calls.get(SNAPSHOT_READ, 0) == 0 and calls.get("Microsoft.Compute/snapshots/write", 0) == 1, calls
    # exported: nothing says it was begun any more (the record outlives the job)
    assert not any(k.startswith("snapshot_begun|") for k in rt.store.source_state(job.id, first.key))
    # a run died after taking the second source's snapshot, before recording its operation
    disk = second.disks[0]
    snapshot_id = layout.read_from(job, second, disk).id
    rt.store.update_source(job.id, second.key, **{f"snapshot_begun|{disk.key}": True})
    rt.cloud.compute.create_snapshot(snapshot_id, source_id=disk.resource_id, location=second.location,
                                     tags=layout.tags(job, Role.temporary))
    before = admin.counters()
    assert prepare.prepare_source(rt, job, second).get("prepared")
    calls = delta(before, admin.counters())
    assert calls.get(SNAPSHOT_READ, 0) == 1 and calls.get("Microsoft.Compute/snapshots/write", 0) == 0, calls


def test_an_operation_checked_lately_is_not_checked_again_before_it_is_due(
        planned: Planned, admin: AdminClient) -> None:
    """An operation is checked when Azure asks (its Retry-After), and runs that meet it before
    then (the source's other pair, the region's other pairs of a staging account) come back
    when it is due, without asking Azure: with 30 s operations each had checked it on its own,
    from its start and every quarter of its age (60 status reads per disk, docs/benchmarks.md)."""
    rt, job = planned.rt, planned.job
    source = job.sources[0]
    # Azure's answers ask for a check every 2 s (Retry-After, whole seconds) of an operation taking 5 s
    admin.set(lro_latency_ops={"Microsoft.Compute/snapshots/beginGetAccess/action": 5.0}, lro_retry_after=2.0)
    with pytest.raises(Waiting) as first:  # the grant starts; the step is back when Azure asked
        prepare.prepare_source(rt, job, source)
    assert first.value.retry_after is not None and 1.7 <= first.value.retry_after <= 2.0
    before = admin.counters()
    with pytest.raises(Waiting) as second:  # at once: the grant is not due yet
        prepare.prepare_source(rt, job, source)
    assert delta(before, admin.counters()).get(OPERATION_READ, 0) == 0
    # and the run comes back just after it is due: after the run that checks it, not with it (they
    # met on the source's lock at every due time, and the one refused came back 2 s later)
    assert second.value.retry_after is not None
    assert first.value.retry_after < second.value.retry_after <= first.value.retry_after + waits.FOLLOW_SECONDS
    time.sleep(first.value.retry_after + 0.1)
    before = admin.counters()
    with pytest.raises(Waiting) as third:  # due: checked once, still running; due again when Azure asks
        prepare.prepare_source(rt, job, source)
    assert delta(before, admin.counters()).get(OPERATION_READ, 0) == 1
    assert third.value.retry_after is not None and 1.7 <= third.value.retry_after <= 2.0
    time.sleep(3.0)
    assert prepare.prepare_source(rt, job, source).get("prepared")


def test_operations_of_a_kind_are_first_checked_once_as_long_as_the_last_took(
        planned: Planned, admin: AdminClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grants take about as long as each other, while Azure asks for a check every
    ``Retry-After``: the fleet's first grant is checked as Azure asks, the next ones first once
    as long as it took — one status read each, not one per Retry-After (and one task run less
    of every pair waiting for it, each time)."""
    rt, job = planned.rt, planned.job
    first, second, third = job.sources
    monkeypatch.setattr(waits, "PROBE_EVERY", 1 << 30)  # no operation is checked as Azure asks but the first
    admin.set(lro_latency_ops={"Microsoft.Compute/snapshots/beginGetAccess/action": 3.0}, lro_retry_after=1.0)
    reads_of_first, waits_of_first = _until_prepared(rt, job, first, admin)
    # as Azure asked: every second until it ended
    assert len(waits_of_first) >= 3 and all(w <= 1.0 for w in waits_of_first), waits_of_first
    took = rt.store.typical(GRANTS)
    assert took is not None and 3.0 <= took <= 6.0, took  # ended at 3 s, seen at the next check
    reads, waited = _until_prepared(rt, job, second, admin)
    # once, as long after its start as the first took (the countdown from this run's start)
    assert len(waited) == 1 and took - 0.5 <= waited[0] <= took, (waited, took)
    # the snapshots' status reads are alike; the first grant was read after each countdown and
    # once more when it ended, the second one once
    assert reads == reads_of_first - len(waits_of_first), (reads, reads_of_first, waits_of_first)
    # seen ended at its first check: it ended by then, nothing more is known
    assert rt.store.typical(GRANTS) == took

    # a probe is checked as Azure asks, and a length learned from a longer operation follows it
    monkeypatch.setattr(waits, "PROBE_EVERY", 1)
    admin.set(lro_latency_ops={"Microsoft.Compute/snapshots/beginGetAccess/action": 1.5}, lro_retry_after=1.0)
    _, waited = _until_prepared(rt, job, third, admin)
    assert all(w <= 1.0 for w in waited) and len(waited) >= 1, waited
    faster = rt.store.typical(GRANTS)
    assert faster is not None and 1.5 <= faster < took, (faster, took)


def test_a_run_that_only_follows_a_probe_comes_back_once_its_kind_would_have_ended(
        planned: Planned, admin: AdminClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe (an operation checked as Azure asks, to learn whether its kind got faster) is
    checked by one run at every Retry-After; a run that only meets it — the source's other
    pair — comes back once it would have ended as its kind's operations do, not after each of
    those checks (two task runs more per probed operation of 30 s, with Azure asking every 10 s)."""
    rt, job = planned.rt, planned.job
    source = job.sources[0]
    monkeypatch.setattr(waits, "PROBE_EVERY", 1)  # every operation is a probe
    rt.store.end_operation(job.id, "grant|earlier", GRANTS, 4.0, first_check=False)  # grants took 4 s
    admin.set(lro_latency_ops={"Microsoft.Compute/snapshots/beginGetAccess/action": 4.0}, lro_retry_after=1.0)
    with pytest.raises(Waiting) as checker:  # the grant starts; checked again when Azure asks
        prepare.prepare_source(rt, job, source)
    assert checker.value.retry_after is not None and checker.value.retry_after <= 1.0
    with pytest.raises(Waiting) as follower:  # another run meets it: back once 4 s passed
        prepare.prepare_source(rt, job, source)
    assert follower.value.retry_after is not None
    assert 3.0 <= follower.value.retry_after <= 4.0 + waits.FOLLOW_SECONDS, follower.value.retry_after
    time.sleep(checker.value.retry_after + 0.1)
    before = admin.counters()
    with pytest.raises(Waiting) as again:  # the probe is checked as Azure asks, whatever was learned
        prepare.prepare_source(rt, job, source)
    assert delta(before, admin.counters()).get(OPERATION_READ, 0) == 1
    assert again.value.retry_after is not None and again.value.retry_after <= 1.0
    time.sleep(4.0)
    assert prepare.prepare_source(rt, job, source).get("prepared")


def test_the_length_of_a_kind_is_learned_per_region(emulator: EmulatorProcess, redis_db: Callable[[], str],
                                                    admin: AdminClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """One region's grants may take three times another's: each region's length is learned
    apart, and a grant is first checked once its own region's grants took that long — neither
    early in the slower region (a task run more each) nor late in the faster one."""
    rg = f"regions-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate({"data_mib": 1, "resource_groups": [
        {"name": f"{rg}-fr", "location": "francecentral", "vms": [{"name": f"fr{i}", "os_disk": 1} for i in range(2)]},
        {"name": f"{rg}-we", "location": "westeurope", "vms": [{"name": f"we{i}", "os_disk": 1} for i in range(2)]},
    ]}))
    grant = "Microsoft.Compute/snapshots/beginGetAccess/action"
    admin.set(lro_latency=0.0, lro_latency_ops={f"{grant}@francecentral": 1.0, f"{grant}@westeurope": 3.0},
              lro_retry_after=0.5)
    monkeypatch.setattr(waits, "PROBE_EVERY", 1 << 30)  # no operation is checked as Azure asks but the first
    rt = runtime_for(emulator, redis_db())
    spec = parse({"sources": [{"resource_group": f"{rg}-fr", "vms": ["fr0", "fr1"]},
                              {"resource_group": f"{rg}-we", "vms": ["we0", "we1"]}],
                  "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    job = make_plan(spec, rt.cloud, rt.settings, job_id=naming.new_job_id()).job
    rt.store.create(job)
    fr0, fr1, we0, we1 = job.sources
    try:
        _until_prepared(rt, job, fr0, admin)
        _until_prepared(rt, job, we0, admin)
        fr = rt.store.typical(waits.kind_of("grant", "francecentral"))
        we = rt.store.typical(waits.kind_of("grant", "westeurope"))
        assert fr is not None and we is not None and 1.0 <= fr < 2.0 <= 3.0 <= we < 4.0, (fr, we)
        assert rt.store.typical("grant") is None  # no length across regions
        for source, took in ((fr1, fr), (we1, we)):
            _, waited = _until_prepared(rt, job, source, admin)
            # the grant started, checked once its region's length passed, found ended
            assert len(waited) == 1 and took - 0.5 <= waited[0] <= took, (source.name, waited, took)
    finally:
        for source in job.sources:
            cleanup.cleanup_pair(rt, job, source, job.targets[0])


def _until_prepared(rt: Runtime, job: Job, source: Source, admin: AdminClient) -> tuple[int, list[float]]:
    """Run ``source``'s export as its task would until it ends: (operation status reads, countdowns)."""
    before, waited = admin.counters(), []
    for _ in range(30):
        try:
            if prepare.prepare_source(rt, job, source).get("prepared"):
                return delta(before, admin.counters()).get(OPERATION_READ, 0), waited
        except Waiting as exc:
            waited.append(exc.retry_after or 0.0)
            time.sleep(exc.retry_after or 0.0)
    raise AssertionError(f"{source.key} not exported after {sum(waited):.1f} s")


def test_the_target_is_readied_while_the_source_is_exported(planned: Planned, admin: AdminClient) -> None:
    """The staging account is created alongside the source's snapshot and grant, not after
    them: one after the other, the first copies of a region started a whole operation later."""
    rt, job = planned.rt, planned.job
    source, target = job.sources[0], job.targets[0]
    admin.set(lro_latency_ops={"Microsoft.Compute/snapshots/beginGetAccess/action": 2.0,
                               "Microsoft.Storage/storageAccounts/write": 2.0})
    before = admin.counters()
    with pytest.raises(Waiting):  # the grant runs ...
        prepare.prepare(rt, job.id, source.key, target.key)
    calls = delta(before, admin.counters())
    # ... and the staging account's creation was started by the same run
    assert calls.get("Microsoft.Storage/storageAccounts/write", 0) == 1, calls
    assert target.staging is not None
    assert rt.store.operation(job.id, f"account|{target.staging.name}") is not None
    time.sleep(2.1)
    # both ended together: the next run finds the source exported and the target ready
    assert prepare.prepare(rt, job.id, source.key, target.key).ok


def test_a_throttled_source_readies_no_target_meanwhile(planned: Planned, admin: AdminClient) -> None:
    """Throttled, the source's export waits for the budget: the target's calls would spend it
    (or queue for it) first."""
    rt, job = planned.rt, planned.job
    source, target = job.sources[0], job.targets[0]
    admin.add_fault("Microsoft.Compute/snapshots/write", status=429, code="SubscriptionRequestsThrottled",
                    message="Number of write requests for subscription exceeded the limit.", retry_after=1, count=1)
    before = admin.counters()
    with pytest.raises(Throttled):
        prepare.prepare(rt, job.id, source.key, target.key)
    calls = delta(before, admin.counters())
    assert calls.get("Microsoft.Compute/snapshots/write", 0) == 1, calls
    assert not any(name.startswith("Microsoft.Storage/") or name == GROUP_READ for name in calls), calls


def test_a_premium_v2_disk_is_exported_from_an_incremental_snapshot_once_its_background_copy_ends(
        emulator: EmulatorProcess, redis_db: Callable[[], str], admin: AdminClient) -> None:
    """Azure takes only incremental snapshots of a Premium SSD v2 (or Ultra) disk, and refuses to
    export one until its background copy ends: the export waits for it without holding a worker
    slot, reading the snapshot when the copy's progress says it may have ended."""
    rg = f"prep-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                                                "vms": [{"name": "db", "os_disk": 1, "data_disks": [
                                                    {"size_gb": 2, "sku": "PremiumV2_LRS"}]}]}))
    admin.set(lro_latency=0.0, background_copy_seconds=4.0)
    rt = runtime_for(emulator, redis_db())
    spec = parse({"source": {"resource_group": rg, "vms": ["db"]},
                  "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    job = make_plan(spec, rt.cloud, rt.settings, job_id=naming.new_job_id()).job
    rt.store.create(job)
    source = job.sources[0]
    try:
        before, waited = admin.counters(), []
        for _ in range(20):
            try:
                state = prepare.prepare_source(rt, job, source)
                break
            except Waiting as exc:
                waited.append(exc.retry_after or 0.0)
                # status shows how far Azure's background copy is while prepare waits for it
                (shown,) = rt.store.status(job.id).sources
                if len(waited) > 1:
                    assert list(shown.background) == [source.disks[-1].key], shown
                    assert 0 < shown.background[source.disks[-1].key] < 100, shown
                time.sleep(exc.retry_after or 0.0)
        calls = delta(before, admin.counters())
        assert state.get("prepared"), state
        assert rt.store.status(job.id).sources[0].background == {}  # exported: nothing left of it
        assert all("error" not in state[prepare.export_field(d.key)] for d in source.disks), state
        # one snapshot each (the Premium SSD v2 disk's incremental: Azure refuses a full one)
        assert calls.get("Microsoft.Compute/snapshots/write", 0) == 2, calls
        # the background copy read a few times as its progress says, not every second for 4 s
        assert 2 <= len(waited) <= 4, waited
        assert calls.get(SNAPSHOT_READ, 0) <= len(waited) + 1, (calls, waited)
        disk = source.disks[-1]
        assert rt.store.operation(job.id, f"background|{source.key}|{disk.key}") is None
    finally:
        cleanup.cleanup_pair(rt, job, source, job.targets[0])


def test_a_background_wait_is_read_when_its_rate_says_and_fails_once_stalled(
        planned: Planned, monkeypatch: pytest.MonkeyPatch) -> None:
    """``waits.progressed``: read at once, then when the rate seen says it ends; not read
    before it is due; read by the time since the progress last moved when it does not move,
    and given up (the disk failed) once it has not moved for the deadline."""
    rt, job = planned.rt, planned.job
    clock = [1000.0]
    monkeypatch.setattr(waits, "time", SimpleNamespace(time=lambda: clock[0]))
    monkeypatch.setattr(waits, "OPERATION_DEADLINE_SECONDS", 100.0)
    answers: list[float | None] = []

    def read() -> float | None:
        return answers.pop(0)

    def wait(at: float, answer: float | None) -> bool:
        clock[0], answers[:] = at, [answer]
        return waits.progressed(rt, job.id, "background|x", "background copy of x", "sub", read)

    def countdown() -> float:
        retry = waits.still_running(rt, job.id, ["background|x"], "x").retry_after
        assert retry is not None
        return retry

    assert not wait(1000.0, 10.0)
    assert countdown() == pytest.approx(waits.MIN_CHECK_SECONDS)
    assert not waits.progressed(rt, job.id, "background|x", "x", "sub", read)  # not due: not read
    assert not wait(1010.0, 20.0)  # 1 % a second: 80 s to go
    assert countdown() == pytest.approx(80.0)
    assert not wait(1090.0, 20.0)  # stuck since 1010: a quarter of that
    assert countdown() == pytest.approx(20.0)
    with pytest.raises(DiskFailed) as err:
        wait(1111.0, 20.0)
    assert err.value.code == "OperationTimedOut"
    assert rt.store.operation(job.id, "background|x") is None
    assert not wait(1200.0, 50.0)
    assert wait(1201.5, None)  # ended: forgotten
    assert rt.store.operation(job.id, "background|x") is None
