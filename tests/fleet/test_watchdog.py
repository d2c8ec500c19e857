"""A message the broker lost for good (kombu#305, kombu#1733: a worker killed between
BRPOP and recording the message as unacked) no longer hangs the job: the job's watchdog
sends a copy's task again with the task id and chord options it had, the chord counts
that disk once, and the job ends with equal content and nothing left behind.

The loss is made deterministic: the workers stop consuming a queue, the test takes the
message out of it, and the workers consume again. Nothing can bring that message back; only
the watchdog's re-send, once the task is overdue by the visibility timeout, kombu's sweep
interval and the grace, moves the job on.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from diskferry.config.celeryconfig import COPY_DISK, FINALIZE, PREPARE, WATCH_COPIES, WATCHDOG
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from diskferry.producer import api
from diskferry.producer.jobfile import parse
from diskferry.tasks.app import make_app
from tests.fleet.checks import assert_clean, assert_same_content, copying, delta
from tests.fleet.conftest import Fleet, running_fleet, vm_job
from tests.waiting import wait_until

VISIBILITY = 4
POLL = 0.5
#: 1 MiB of data per disk at this rate: each copy takes ~10 s, so the loss lands mid-copy
BANDWIDTH = 100 * 1024


@pytest.fixture
def watched_fleet(emulator: EmulatorProcess, redis_url: str, tmp_path: Path) -> Iterator[Fleet]:
    overrides = {
        "DISKFERRY_VISIBILITY_TIMEOUT": str(VISIBILITY),
        "DISKFERRY_POLL_SECONDS": str(POLL),
        "DISKFERRY_WATCHDOG_SECONDS": "1",
        "DISKFERRY_WATCHDOG_GRACE_SECONDS": "1",
    }
    with running_fleet(emulator, redis_url, tmp_path, overrides) as fleet:
        yield fleet


def _lose(fleet: Fleet, queue: str, wanted: Callable[[dict[str, Any]], bool], timeout: float = 15,
          then: Callable[[], object] | None = None) -> dict[str, Any]:
    """Take the next message of ``queue`` that ``wanted`` picks (by its headers) out of it
    while no worker consumes the queue (``then`` runs once they stopped); its headers."""
    replies = fleet.app.control.cancel_consumer(queue, reply=True, timeout=2.0)
    assert len(replies or []) == len(fleet.workers.procs), replies
    broker = redis.Redis.from_url(fleet.settings.broker_url)

    def take() -> dict[str, Any] | None:
        for raw in cast(list[bytes], broker.lrange(queue, 0, -1)):
            headers = cast(dict[str, Any], json.loads(raw)["headers"])
            if wanted(headers) and broker.lrem(queue, 1, raw) == 1:
                return headers
        return None

    try:
        if then is not None:
            then()
        return wait_until(take, timeout, lambda: f"no such message reached {queue}\n{fleet.workers.tail()}")
    finally:
        fleet.app.control.add_consumer(queue, reply=True, timeout=2.0)
        broker.close()


def _idle(fleet: Fleet) -> bool:
    """Nothing waits in the task queue and no worker holds a task: whatever a finished task
    sent (a chord's callback is sent before its header task is logged as succeeded) has run."""
    with redis.Redis.from_url(fleet.settings.broker_url) as broker:
        if broker.llen(fleet.settings.queue):
            return False
    workers = len(fleet.workers.procs)
    inspect = fleet.app.control.inspect(timeout=1.0, limit=workers)
    replies = [inspect.active() or {}, inspect.reserved() or {}]
    if any(len(reply) < workers for reply in replies):
        return False  # a worker that did not answer may hold anything
    return not any(tasks for reply in replies for tasks in reply.values())


def _runs(fleet: Fleet, task: str) -> int:
    """How many runs of ``task`` (a name, or ``name[id]``) succeeded, from the workers' logs."""
    done = re.compile(rf"\] Task {re.escape(task)}\S* succeeded in ")
    return sum(len(done.findall(log.read_text())) for log in fleet.workers.logs)


def _received(fleet: Fleet, task: str) -> int:
    """How many messages of ``task`` (``name[id]``) a worker received, from the workers' logs."""
    got = re.compile(rf"\] Task {re.escape(task)} received")
    return sum(len(got.findall(log.read_text())) for log in fleet.workers.logs)


def test_a_lost_copy_watcher_is_replaced_and_the_job_completes(watched_fleet: Fleet, admin: AdminClient) -> None:
    """The copies in flight are parked (``diskferry.pipeline.copywatch``); the one message that
    brings them back — their watcher's countdown — is lost. Once they are overdue, the watchdog
    sends each copy's task again (same id, same chord part); each parks again and, the old
    watcher being overdue too, one of them starts a new watcher."""
    fleet = watched_fleet
    rg = f"watch-{uuid.uuid4().hex[:6]}"
    (vm,) = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                        "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]}).items
    admin.set(copy_bandwidth=BANDWIDTH, lro_latency=0.0)
    before = admin.counters()
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]))
    job = fleet.store.job(job_id)
    source, target = job.sources[0], job.targets[0]
    wait_until(lambda: len(fleet.store.all_parked(job_id, target.key)) == len(source.disks), 30,
               lambda: f"the copies were not parked: {fleet.store.status(job_id)}\n{fleet.workers.tail()}")
    victim = source.disks[-1].key
    recorded = fleet.store.disk_state(job_id, source.key, target.key, victim)["poll"]
    # the pair's first copy keeps the chord's signature for every copy of the pair
    first = fleet.store.disk_state(job_id, source.key, target.key, source.disks[0].key)["poll"]
    assert recorded["group"] and "chord" not in recorded and first["chord"]["task"] == "diskferry.finalize"
    recorded = recorded | {"chord": first["chord"]}

    lost = _lose(fleet, fleet.settings.poll_queue, lambda headers: headers.get("task") == WATCH_COPIES)
    lost_at = time.time()
    # every message of the watcher but the lost one was received before it was sent
    received_before = _received(fleet, f"{WATCH_COPIES}[{lost['id']}]")

    status = fleet.wait(job_id, timeout=60)
    calls = delta(before, admin.counters())
    docs = {d.key: fleet.store.disk_state(job_id, source.key, target.key, d.key) for d in source.disks}

    assert status.phase is Phase.succeeded, status
    assert_same_content(fleet, vm, status)
    # every parked copy was sent again, once, and only once no redelivery could have come
    assert {k: int(d.get("resent") or 0) for k, d in docs.items()} == {d.key: 1 for d in source.disks}
    assert float(docs[victim]["poll_due"]) - lost_at > VISIBILITY
    # the lost watcher never ran again, and nothing is left parked
    assert _received(fleet, f"{WATCH_COPIES}[{lost['id']}]") == received_before
    assert fleet.store.all_parked(job_id, target.key) == []
    # each disk counted once in its chord: finalize ran once; one copy and one disk per disk
    assert _runs(fleet, FINALIZE) == 1
    assert calls.get("blob.CopyBlob") == len(source.disks)
    assert calls.get("Microsoft.Compute/disks/write") == len(source.disks)
    assert_clean(fleet, job_id)

    # a late duplicate of a counted part (the lost poll was only slow after all) finishes
    # with the recorded outcome and makes the chord run nothing again
    options = {k: recorded[k] for k in ("group_index", "chord", "root_id", "parent_id")}
    fleet.app.signature(COPY_DISK, args=(job_id, source.key, target.key, victim), immutable=True).apply_async(
        task_id=recorded["id"], group_id=recorded["group"], queue=fleet.settings.poll_queue, **options
    )
    polls = f"{COPY_DISK}[{recorded['id']}]"
    wait_until(lambda: _runs(fleet, polls) >= 2, 15, lambda: f"the duplicate did not run\n{fleet.workers.tail()}",
               interval=0.1)
    wait_until(lambda: _idle(fleet), 15, lambda: f"the workers did not settle\n{fleet.workers.tail()}", interval=0.2)
    assert _runs(fleet, polls) == 2  # the re-sent poll and the duplicate
    assert _runs(fleet, FINALIZE) == 1
    assert fleet.store.status(job_id).phase is Phase.succeeded


def test_a_prepare_lost_before_it_ever_ran_is_sent_again(watched_fleet: Fleet, admin: AdminClient) -> None:
    """The pair's first message — prepare, carrying the rest of the chain — never reaches a
    worker: the watchdog sends it again, as submitted (same id, same chain and errback)."""
    fleet = watched_fleet
    rg = f"lostprep-{uuid.uuid4().hex[:6]}"
    (vm,) = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                        "vms": [{"name": "app", "os_disk": 1, "data_disks": []}]}).items
    admin.set(copy_bandwidth=256 * 1024 * 1024, lro_latency=0.0)
    submitted: list[str] = []
    doc = vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}])

    lost = _lose(fleet, fleet.settings.queue, lambda headers: headers.get("task") == PREPARE,
                 then=lambda: submitted.append(fleet.submit(doc)))
    (job_id,) = submitted
    status = fleet.wait(job_id, timeout=60)

    job = fleet.store.job(job_id)
    pair = fleet.store.target_state(job_id, job.sources[0].key, job.targets[0].key)
    assert status.phase is Phase.succeeded, status
    assert lost["id"] == pair["prepare"]["id"] and pair["prepare_resent"] == 1
    assert _runs(fleet, f"{PREPARE}[{lost['id']}]") == 1
    # the record says succeeded a moment before the worker logs finalize's end
    wait_until(lambda: _runs(fleet, FINALIZE) >= 1, 10, lambda: f"finalize did not run\n{fleet.workers.tail()}",
               interval=0.1)
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_a_lost_finalize_is_sent_again(watched_fleet: Fleet, admin: AdminClient) -> None:
    """Finalize, waiting for Azure to import, re-enqueues itself; that message is lost: the
    watchdog sends finalize again with its id and errback, and the pair ends and is cleaned."""
    fleet = watched_fleet
    rg = f"lostfin-{uuid.uuid4().hex[:6]}"
    (vm,) = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                        "vms": [{"name": "app", "os_disk": 1, "data_disks": []}]}).items
    admin.set(copy_bandwidth=256 * 1024 * 1024, lro_latency=0.0,
              lro_latency_ops={"Microsoft.Compute/disks/write": 3.0})
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]))
    job = fleet.store.job(job_id)
    source, target = job.sources[0], job.targets[0]
    wait_until(lambda: fleet.store.target_state(job_id, source.key, target.key).get("finalize_due"), 30,
               lambda: f"finalize never waited for the import: {fleet.store.status(job_id)}")

    lost = _lose(fleet, fleet.settings.queue, lambda headers: headers.get("task") == FINALIZE)
    status = fleet.wait(job_id, timeout=60)

    pair = fleet.store.target_state(job_id, source.key, target.key)
    assert status.phase is Phase.succeeded, status
    assert lost["id"] == pair["finalize"]["id"] and pair["finalize_resent"] >= 1
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_a_lost_watchdog_is_sent_again_by_the_polls(watched_fleet: Fleet, admin: AdminClient) -> None:
    """The watchdog's own message is lost while copies run: a poll finds it overdue and sends it
    again with its id, and it sees the job to its end."""
    fleet = watched_fleet
    rg = f"lostdog-{uuid.uuid4().hex[:6]}"
    (vm,) = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                        "vms": [{"name": "app", "os_disk": 1, "data_disks": []}]}).items
    admin.set(copy_bandwidth=40 * 1024, lro_latency=0.0)  # 1 MiB in ~25 s: polls outlive the loss
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]))
    copying(fleet, job_id)
    watchdog_id = fleet.store.job_meta(job_id)["watchdog"]["id"]

    lost = _lose(fleet, fleet.settings.poll_queue, lambda headers: headers.get("task") == WATCHDOG)
    status = fleet.wait(job_id, timeout=90)

    assert lost["id"] == watchdog_id
    assert status.phase is Phase.succeeded, status
    wait_until(lambda: _runs(fleet, f"{WATCHDOG}[{watchdog_id}]") == 1, 15,
               lambda: f"the watchdog never came back to see the job end\n{fleet.workers.tail()}", interval=0.2)
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_a_job_in_which_nothing_moves_ends_failed_and_cleaned(emulator: EmulatorProcess, redis_url: str,
                                                              admin: AdminClient, tmp_path: Path) -> None:
    """Its tasks wait in a queue no worker serves: nothing moves, and after
    DISKFERRY_STALL_SECONDS its watchdog fails it, naming why, and cleans up."""
    overrides = {"DISKFERRY_WATCHDOG_SECONDS": "1", "DISKFERRY_STALL_SECONDS": "3"}
    with running_fleet(emulator, redis_url, tmp_path, overrides) as fleet:
        rg = f"stall-{uuid.uuid4().hex[:6]}"
        fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                    "vms": [{"name": "app", "os_disk": 1, "data_disks": []}]})
        admin.set(lro_latency=0.0)
        idle = dataclasses.replace(fleet.settings, queue=f"nobody-{rg}")
        app = make_app(idle)
        job_id = api.submit_job(parse(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}])),
                                settings=idle, cloud=fleet.cloud, store=fleet.store, app=app)
        status = fleet.wait(job_id, timeout=30)

        assert status.phase is Phase.failed, status
        assert {d.error.code for d in status.disks() if d.error} == {"Stalled"}
        assert all(d.phase is Phase.failed for d in status.disks())
        assert_clean(fleet, job_id)
        api.release_results(app)
