"""Parked copies are looked at by their target's watcher: one listing per round, progress in the
record, a wake for each copy that ended (and only those), one watcher per target."""

from __future__ import annotations

import dataclasses
import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from diskferry import naming
from diskferry.cloud import CopyState
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.errors import ConnectionFailed, DiskFailed, RetryLater
from diskferry.model import Job
from diskferry.naming import STAGING_CONTAINER
from diskferry.pipeline import cleanup, copy, copywatch, polling, prepare
from diskferry.pipeline.outcome import DiskOutcome, Pending, held_by
from diskferry.pipeline.runtime import Runtime
from diskferry.producer.jobfile import parse
from diskferry.producer.planner import make_plan
from tests.conftest import Clients
from tests.diskferry.pipeline.runtimes import runtime_for
from tests.fleet.checks import delta
from tests.waiting import wait_until

WATCHER = "watcher-1"
#: a watcher is presumed lost after this long without a round
STALE = 60.0


@pytest.fixture
def started(emulator: EmulatorProcess, redis_db: Callable[[], str], clients: Clients,
            admin: AdminClient) -> Iterator[tuple[Runtime, Job]]:
    """A job whose one VM's four disks are being copied to one target, each copy parked."""
    rg = f"watch-{uuid.uuid4().hex[:6]}"
    seed(emulator.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                                                "vms": [{"name": "app", "os_disk": 1, "data_disks": [1, 1, 1]}]}))
    rt = runtime_for(emulator, redis_db(), DISKFERRY_POLL_LISTING_SECONDS="0.1", DISKFERRY_POLL_FLOOR_SECONDS="0.5")
    spec = parse({"source": {"resource_group": rg, "vms": ["app"]},
                  "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]})
    job = make_plan(spec, rt.cloud, rt.settings, job_id=naming.new_job_id()).job
    rt.store.create(job)
    source, target = job.sources[0], job.targets[0]
    try:
        assert prepare.prepare(rt, job.id, source.key, target.key).ok
        admin.set(copy_bandwidth=64 * 1024, lro_latency=0.0)
        for i, disk in enumerate(source.disks):
            assert isinstance(copy.advance(rt, job.id, source.key, target.key, disk.key), Pending)
            rt.store.update_disk(job.id, source.key, target.key, disk.key, poll={"id": f"task-{i}"})
            new = copywatch.park(rt, job.id, source.key, target.key, disk.key, time.time(), new_watcher=WATCHER,
                                 stale_after=STALE, first_round=time.time())
            assert new == (WATCHER if i == 0 else None)  # the first park starts the watcher, once
        yield rt, job
    finally:
        admin.set(copy_bandwidth=0)
        cleanup.cleanup_pair(rt, job, source, target)
        assert admin.leftovers(job.id) == []
        rt.store.delete(job.id)
        for group in (rg, f"br-{rg}"):
            clients.resource.resource_groups.begin_delete(group).result()


def test_a_round_lists_once_records_progress_and_wakes_only_ended_copies(
        started: tuple[Runtime, Job], admin: AdminClient) -> None:
    rt, job = started
    source, target = job.sources[0], job.targets[0]
    keys = [d.key for d in source.disks]
    before = admin.counters()
    found = copywatch.look(rt, job.id, target.key, WATCHER)
    assert isinstance(found, copywatch.Round) and found.looked == len(keys) and found.wake == []
    calls = delta(before, admin.counters())
    assert (calls.get("blob.ListBlobs", 0), calls.get("blob.GetBlobProperties", 0)) == (1, 0)
    for key in keys:
        state = rt.store.disk_state(job.id, source.key, target.key, key)
        assert state["phase"] == "copying" and state["bytes_copied"] < state["bytes_total"]
        assert state["sample_time"] > state["started"] and state["poll_due"] > time.time()
    # a round before any copy is due looks at none and asks Azure nothing
    before = admin.counters()
    found = copywatch.look(rt, job.id, target.key, WATCHER)
    assert isinstance(found, copywatch.Round) and found.looked == 0 and 0 < found.next_in <= copywatch.LONGEST_ROUND
    assert delta(before, admin.counters()).get("blob.ListBlobs", 0) == 0

    # one staged blob vanishes; the rest end: each is woken, with its own task's record
    gone = keys[0]
    account = rt.staging_account(target)
    assert account is not None
    blob = naming.staged_blob(job.id, source.key, target.key, gone)
    rt.cloud.storage.abort_copy(account, STAGING_CONTAINER, blob,
                                rt.cloud.storage.copy_status(account, STAGING_CONTAINER, blob).copy_id)  # type: ignore[union-attr]
    rt.cloud.storage.delete_blob(account, STAGING_CONTAINER, blob)
    admin.set(copy_bandwidth=64 * 1024 * 1024)

    wait_until(lambda: {s.state for s in rt.cloud.storage.copy_statuses(account, STAGING_CONTAINER,
                                                                         f"{job.id}/").values()} == {CopyState.success},
               30, "the copies did not end")
    ended = time.time()
    started_at = min(float(rt.store.disk_state(job.id, source.key, target.key, k)["started"]) for k in keys)
    found = copywatch.look(rt, job.id, target.key, WATCHER, now=time.time() + 3600)
    assert isinstance(found, copywatch.Round) and found.looked == 0
    woken = {w.disk: w for w in found.wake}
    assert woken[gone].reason == "missing"
    assert {woken[k].reason for k in keys[1:]} == {"success"}
    assert {k: w.poll["id"] for k, w in woken.items()} == {k: f"task-{i}" for i, k in enumerate(keys)}
    # a success is recorded by the round that saw it, with when it was seen
    for key in keys[1:]:
        state = rt.store.disk_state(job.id, source.key, target.key, key)
        assert state["phase"] == "copied" and ended <= state["copied_at"] <= time.time()
        # and when Azure says it ended (x-ms-copy-completion-time: whole seconds)
        assert started_at - 1 <= state["copy_completed"] <= state["copied_at"]
    # woken, not forgotten: a wake that is lost is sent again later, until the task ends the copy
    assert rt.store.next_parked(job.id, target.key) is not None
    found = copywatch.look(rt, job.id, target.key, WATCHER)
    assert isinstance(found, copywatch.Round) and found.wake == []
    # a wake its round did not say it sent (Redis went away, the worker died) is sent again soon
    soon = time.time() + 3600 + copywatch.UNSENT_WAKE_SECONDS + 1
    found = copywatch.look(rt, job.id, target.key, WATCHER, now=soon)
    assert isinstance(found, copywatch.Round) and {w.disk for w in found.wake} == set(keys)
    # once sent, only after WAKE_AGAIN_SECONDS (its task may wait behind a long queue)
    copywatch.sent(rt, job.id, target.key, found.wake, now=soon)
    found = copywatch.look(rt, job.id, target.key, WATCHER, now=soon + copywatch.UNSENT_WAKE_SECONDS + 1)
    assert isinstance(found, copywatch.Round) and found.wake == []
    found = copywatch.look(rt, job.id, target.key, WATCHER, now=soon + copywatch.WAKE_AGAIN_SECONDS + 1)
    assert isinstance(found, copywatch.Round) and {w.disk for w in found.wake} == set(keys)
    for key in keys:
        copywatch.unpark(rt, job.id, source.key, target.key, key)
    # nothing parked: the watcher goes, and the next park starts a new one
    assert rt.store.watcher_next(job.id, target.key, WATCHER, time.time() + 1) == 0
    assert copywatch.park(rt, job.id, source.key, target.key, keys[1], time.time(), new_watcher="watcher-2",
                          stale_after=STALE, first_round=time.time()) == "watcher-2"
    copywatch.unpark(rt, job.id, source.key, target.key, keys[1])


def test_one_watcher_per_target_and_a_lost_one_is_replaced(started: tuple[Runtime, Job]) -> None:
    rt, job = started
    source, target = job.sources[0], job.targets[0]
    disk = source.disks[0].key
    floor = polling.PollPolicy.of(rt.settings).floor
    assert rt.store.watcher_next(job.id, target.key, WATCHER, time.time() + floor / 2) == 1
    # a park while the watcher's next round is due within the floor: no second watcher
    assert copywatch.park(rt, job.id, source.key, target.key, disk, time.time(), new_watcher="other",
                          stale_after=STALE, first_round=time.time()) is None
    # the watcher planned a long wait (nothing else due) and a copy parks due now (woken and
    # started again): a watcher for it now, and the one that waits stops when it comes
    assert rt.store.watcher_next(job.id, target.key, WATCHER, time.time() + copywatch.LONGEST_ROUND) == 1
    assert copywatch.park(rt, job.id, source.key, target.key, disk, time.time(), new_watcher="sooner",
                          stale_after=STALE, first_round=time.time()) == "sooner"
    assert copywatch.look(rt, job.id, target.key, WATCHER) is None
    assert rt.store.watcher_next(job.id, target.key, "sooner", time.time() + floor / 2) == 1
    assert rt.store.watcher_next(job.id, target.key, WATCHER, time.time() + 5) == -1
    # (for the rest of this test WATCHER takes the watch back: "sooner" is lost)
    rt.store.watcher_next(job.id, target.key, "sooner", time.time() - STALE - 1)
    assert copywatch.park(rt, job.id, source.key, target.key, disk, time.time(), new_watcher=WATCHER,
                          stale_after=STALE, first_round=time.time()) == WATCHER
    assert rt.store.watcher_next(job.id, target.key, WATCHER, time.time() + floor / 2) == 1
    # the watcher's round is overdue by more than any redelivery takes: its message was lost
    assert rt.store.watcher_next(job.id, target.key, WATCHER, time.time() - STALE - 1) == 1
    assert copywatch.park(rt, job.id, source.key, target.key, disk, time.time(), new_watcher="other",
                          stale_after=STALE, first_round=time.time()) == "other"
    # the old one, should it come back after all, finds itself replaced and stops
    assert copywatch.look(rt, job.id, target.key, WATCHER) is None
    assert rt.store.watcher_next(job.id, target.key, WATCHER, time.time() + 5) == -1
    assert copywatch.look(rt, job.id, target.key, "other") is not None


def test_a_cancel_wakes_every_parked_copy_once(started: tuple[Runtime, Job]) -> None:
    rt, job = started
    source, target = job.sources[0], job.targets[0]
    copywatch.look(rt, job.id, target.key, WATCHER)  # every copy looked at: none is due now
    rt.store.request_cancel(job.id, discard=False)
    found = copywatch.look(rt, job.id, target.key, WATCHER)
    assert isinstance(found, copywatch.Round) and {w.disk for w in found.wake} == {d.key for d in source.disks}
    assert {w.reason for w in found.wake} == {"cancel"}
    found = copywatch.look(rt, job.id, target.key, WATCHER)
    assert isinstance(found, copywatch.Round) and found.wake == []


def test_a_duplicate_of_the_watchers_message_stops_and_a_lost_round_is_taken_over(started: tuple[Runtime, Job]) -> None:
    rt, job = started
    target = job.targets[0]
    planned = time.time() + 0.5
    assert rt.store.watcher_next(job.id, target.key, WATCHER, planned) == 1
    # the message of the round it planned goes on
    assert isinstance(copywatch.look(rt, job.id, target.key, WATCHER, planned=planned), copywatch.Round)
    # another one of its messages (a duplicate delivery, or the one left when Redis died before
    # the planned round's message was sent) does no round: it comes back once that round is late
    # enough to be taken over
    assert copywatch.look(rt, job.id, target.key, WATCHER, planned=planned - 15) == \
        copywatch.Recheck(planned + copywatch.TAKE_OVER_SECONDS)
    # ... and then stops if the planned round ran meanwhile (the watcher went on: a duplicate) ...
    went_on = planned + 10
    assert rt.store.watcher_next(job.id, target.key, WATCHER, went_on) == 1
    check = planned + copywatch.TAKE_OVER_SECONDS
    assert copywatch.look(rt, job.id, target.key, WATCHER, now=check, planned=check, checking=True) is None
    # ... or takes it over if it did not (its message was never sent, or lost), whatever the
    # clock of the worker it comes back to says
    check = went_on + copywatch.TAKE_OVER_SECONDS
    assert isinstance(copywatch.look(rt, job.id, target.key, WATCHER, now=check - 5, planned=check, checking=True),
                      copywatch.Round)
    # any of its messages takes over a round late enough
    late = went_on + copywatch.TAKE_OVER_SECONDS + 1
    assert isinstance(copywatch.look(rt, job.id, target.key, WATCHER, now=late, planned=planned - 15),
                      copywatch.Round)


def test_a_staging_account_deleted_under_the_job_fails_its_copies_instead_of_waiting_for_ever(
        started: tuple[Runtime, Job], clients: Clients, admin: AdminClient) -> None:
    """In Azure a deleted account's blob host name stops resolving: its calls fail to connect, as
    in a blip (the local Azure drops them alike). Each such failure asks ARM, which says the
    account is gone: the round wakes every copy, and a woken copy fails its disk."""
    rt, job = started
    source, target = job.sources[0], job.targets[0]
    assert target.staging is not None
    assert rt.staging_account(target) is not None  # cached by this process, as in a worker
    clients.storage.storage_accounts.delete(target.staging.resource_group, target.staging.name)
    found = copywatch.look(rt, job.id, target.key, WATCHER)
    assert isinstance(found, copywatch.Round)
    assert sorted((w.disk, w.reason) for w in found.wake) == sorted((d.key, "missing") for d in source.disks)
    disk = source.disks[0]
    outcome = copy.advance(rt, job.id, source.key, target.key, disk.key)
    assert isinstance(outcome, DiskOutcome) and not outcome.ok and outcome.code == "StagingAccountNotFound"
    state = rt.store.disk_state(job.id, source.key, target.key, disk.key)
    assert state["phase"] == "failed" and state["error"]["code"] == "StagingAccountNotFound"


def test_a_connection_failure_to_a_staging_account_that_exists_is_only_a_blip(
        started: tuple[Runtime, Job]) -> None:
    rt, job = started
    source, target = job.sources[0], job.targets[0]
    account = rt.staging_account(target)
    assert account is not None and target.staging is not None
    with socket.socket() as closed:  # bound, never listening: a connection to it is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        rt._accounts[target.staging.name] = dataclasses.replace(
            account, blob_endpoint=f"https://127.0.0.1:{port}/{account.name}/", created="elsewhere")
        with pytest.raises(ConnectionFailed) as failed:
            copywatch.look(rt, job.id, target.key, WATCHER)
    # ARM, asked, said the account is there: nothing failed, and the account was read afresh
    assert rt.staging_account(target) == account
    for disk in source.disks:
        assert rt.store.disk_state(job.id, source.key, target.key, disk.key)["phase"] == "copying"
    # what the watcher's task records of it (``diskferry.tasks.copywatch``) shows in the status
    rt.store.hold_watcher(job.id, target.key, held_by("watch", failed.value, time.time()))
    assert [h.code for h in rt.store.status(job.id).watchers_held.values()] == ["ConnectionError"]
    found = copywatch.look(rt, job.id, target.key, WATCHER)
    # the next round lists again (a copy may have ended meanwhile: only that wakes its task),
    # and nothing holds the watcher up any more
    assert isinstance(found, copywatch.Round) and all(w.reason == "success" for w in found.wake)
    assert rt.store.status(job.id).watchers_held == {}


def test_a_staging_account_locked_mid_copy_is_reached_with_entra_id(
        started: tuple[Runtime, Job], clients: Clients, admin: AdminClient) -> None:
    """A policy turns off shared-key access on the staging account mid-copy (Azure Policy's
    'modify' effect does): the listing that meets the refusal comes back later (not failed),
    and from then on the fleet reaches the account with Microsoft Entra ID; the copies go on.
    Without a blob data role for its principal, each copy fails its disk with Azure's reason and
    the role to grant (end to end: the fault matrix's ``locked-norole`` run)."""
    rt, job = started
    source, target = job.sources[0], job.targets[0]
    assert target.staging is not None
    accounts = clients.storage.storage_accounts
    group, name = target.staging.resource_group, target.staging.name
    account = rt.staging_account(target)
    assert account is not None and account.shared_key
    accounts.update(group, name, {"properties": {"allowSharedKeyAccess": False}})
    try:
        with pytest.raises(RetryLater) as refused:
            copywatch.look(rt, job.id, target.key, WATCHER)
        assert refused.value.code == "KeyBasedAuthenticationNotPermitted"
        found = copywatch.look(rt, job.id, target.key, WATCHER, checking=True)
        assert isinstance(found, copywatch.Round) and found.wake == [], found
        statuses = rt.cloud.storage.copy_statuses(account, STAGING_CONTAINER, prefix=f"{job.id}/")
        assert len(statuses) == len(source.disks)
        # a process that reads the account afresh sees it refuse keys, and never sends one
        assert rt.staging_account(target, fresh=True).shared_key is False  # type: ignore[union-attr]

        admin.set(blob_data_role=False)
        disk = source.disks[0]
        outcome = copy.advance(rt, job.id, source.key, target.key, disk.key)
        assert isinstance(outcome, DiskOutcome) and not outcome.ok
        assert outcome.code == "AuthorizationPermissionMismatch"
        with pytest.raises(DiskFailed) as err:
            rt.cloud.storage.copy_statuses(account, STAGING_CONTAINER, prefix=f"{job.id}/")
        assert err.value.code == "AuthorizationPermissionMismatch"
        # Azure's words, as it wrote them (not its XML), and what the operator can do about it
        assert "This request is not authorized to perform this operation using this permission." in err.value.message
        assert "Storage Blob Data Contributor" in err.value.message, err.value.message
    finally:  # the fixture's cleanup deletes the staged blobs
        admin.set(blob_data_role=True)
        accounts.update(group, name, {"properties": {"allowSharedKeyAccess": True}})
