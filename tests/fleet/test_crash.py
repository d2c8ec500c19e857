"""A worker killed mid-job (SIGKILL: no warm shutdown, nothing acknowledged or given back)
is replaced, and the job completes as if nothing happened: equal content, no second disk,
copy or snapshot, nothing left behind — here through kombu's own net, the visibility
timeout, shortened to 8 s. With the default settings a dead worker's messages come back
sooner, through ``diskferry.tasks.rescue``, once it has been silent for
``DISKFERRY_WORKER_LOST_SECONDS``: that is what the default run shows, at every point of a
job (``tests/fleet/test_kill_matrix.py``); these cases (``slow``) keep the net itself
proven.

How the messages come back (kombu's Redis transport, ``kombu/transport/redis.py``): a
delivered message stays in the broker's ``unacked`` hash, indexed by delivery time in
``unacked_index``, until the worker acknowledges it (``acks_late``: after the task ran; a
poll's countdown message: after its ETA). ``QoS.restore_visible`` puts back every message
delivered more than ``visibility_timeout`` seconds ago. Every worker runs it when its event
loop starts (``on_poll_init``) and then every ``unacked_restore_interval`` x
``unacked_restore_throttle`` seconds: kombu's 10 x 10 = 100 s, diskferry's 10 x 1 = 10 s
(``config.celeryconfig.RESTORE``). So with a visibility timeout V, a replacement started V
seconds after the kill takes the dead worker's messages at once (and without one, the
survivor's sweep would, within V + 10 s); nothing comes back while the dead worker could
still have been working on them.

What no setting can bring back: a message Redis handed to the worker (BRPOP) that the
worker had not yet written to ``unacked`` when it died is gone (kombu#305, kombu#1733). Its
copy's poll chain ends there; the job's watchdog (``diskferry.tasks.watchdog``) sends it again once no
redelivery can come any more (``tests/fleet/test_watchdog.py`` loses one on purpose).

This test's workers run with V = 8 s and polls every 0.5 s (the settings demand V >= 4 x
the poll interval); production keeps the 10-minute default.

The same holds in every phase, because no task waits while Azure works: a worker killed
while a job prepares, imports or cleans up holds only the countdown messages of tasks that
will check an operation again, and its replacement takes them and finishes the operations
(``test_a_fleet_killed_in_each_phase_is_replaced``).
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from diskferry.producer.localfleet import LocalFleet
from diskferry.state import JobStatus
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_same_content, copying, delta
from tests.fleet.conftest import ROOT, Fleet, running_fleet, vm_job
from tests.fleet.processes import children, end
from tests.waiting import wait_until

VISIBILITY = 8
POLL = 0.5
#: 1 MiB of data per disk at this rate: each copy takes ~10 s, so the kill lands mid-copy
BANDWIDTH = 100 * 1024


#: a short visibility timeout and fast polls; a poll lost in the BRPOP window is sent again by
#: the job's watchdog once it is V + 10 + 5 s overdue (well after the replacement took the dead
#: worker's messages)
OVERRIDES = {
    "DISKFERRY_VISIBILITY_TIMEOUT": str(VISIBILITY),
    "DISKFERRY_POLL_SECONDS": str(POLL),
    "DISKFERRY_WATCHDOG_SECONDS": "1",
    "DISKFERRY_WATCHDOG_GRACE_SECONDS": "5",
}


@pytest.fixture(params=[2], ids=["two-workers"])
def crash_fleet(request: pytest.FixtureRequest, emulator: EmulatorProcess, redis_url: str,
                tmp_path: Path) -> Iterator[Fleet]:
    """Workers of their own (their own Redis databases), with the settings above; two by
    default, one where a test kills the whole fleet."""
    with running_fleet(emulator, redis_url, tmp_path / "first", OVERRIDES, workers=request.param) as fleet:
        yield fleet


def _unacked(fleet: Fleet) -> dict[bytes, float]:
    """Delivered, unacknowledged messages: delivery tag -> delivery time."""
    broker = redis.Redis.from_url(fleet.settings.broker_url)
    try:
        rows = cast(list[tuple[bytes, float]], broker.zrange("unacked_index", 0, -1, withscores=True))
        return dict(rows)
    finally:
        broker.close()


def _broker_state(fleet: Fleet, killed: float) -> str:
    """What the broker holds, for a failure message: queues, unacked messages and their age."""
    broker = redis.Redis.from_url(fleet.settings.broker_url)
    try:
        queues = {q: broker.llen(q) for q in (fleet.settings.queue, fleet.settings.poll_queue)}
        unacked = {tag.decode(): round(at - killed, 2) for tag, at in _unacked(fleet).items()}
        mutex = broker.ttl("unacked_mutex")
        return f"queues {queues}; unacked (delivered s after the kill) {unacked}; unacked_mutex ttl {mutex}"
    finally:
        broker.close()


def _victim(fleet: Fleet) -> tuple[int, str]:
    """The index of the worker holding the most polls (countdown messages it has not run),
    and the name of the other one."""
    scheduled = fleet.app.control.inspect(timeout=2.0).scheduled() or {}
    held = {host: len(tasks) for host, tasks in scheduled.items()}
    victim = max(held, key=lambda h: held[h])
    assert held[victim] > 0 and len(held) == 2, scheduled
    (survivor,) = set(held) - {victim}
    return int(victim.split("-", 1)[0].removeprefix("worker")), survivor


def _held_by(fleet: Fleet, host: str) -> set[str] | None:
    """Ids of the tasks a live worker holds: running, reserved or waiting for their ETA
    (None when it did not answer all three questions)."""
    inspect = fleet.app.control.inspect(destination=[host], timeout=2.0, limit=1)
    active, reserved, scheduled = (q() or {} for q in (inspect.active, inspect.reserved, inspect.scheduled))
    if not all(host in reply for reply in (active, reserved, scheduled)):
        return None
    ids = {str(t["id"]) for t in [*active[host], *reserved[host]]}
    return ids | {str(t["request"]["id"]) for t in scheduled[host]}


def _orphans(fleet: Fleet, killed: float, survivor: str) -> set[bytes]:
    """Delivery tags of the messages delivered before the kill and not acknowledged, once
    none of them is the survivor's any more (it acknowledges its own within a poll interval;
    a poll chain has one message at a time, so the survivor cannot hold a dead one's id)."""
    broker = redis.Redis.from_url(fleet.settings.broker_url)
    try:
        tags = [tag for tag, at in _unacked(fleet).items() if at < killed]
        rows = cast(list[bytes | None], broker.hmget("unacked", tags)) if tags else []
    finally:
        broker.close()
    ids = {json.loads(row)[0]["headers"]["id"] for row in rows if row is not None}
    held = _held_by(fleet, survivor) if ids else None
    return set(tags) if held is not None and ids.isdisjoint(held) else set()


def _replaced(fleet: Fleet, job_id: str, killed: float, tmp_path: Path, answering: int) -> JobStatus:
    """Start one replacement worker (once the dead one's messages are due back: the caller
    waits out the visibility timeout) and follow the job to its end with it."""
    replacement = LocalFleet(fleet.env, fleet.settings, tmp_path / "replacement", workers=1, cwd=ROOT)
    with replacement.start(fleet.app):
        wait_until(lambda: len(fleet.app.control.ping(timeout=1.0) or []) >= answering, 30,
                   f"fewer than {answering} workers answer")
        try:
            return fleet.wait(job_id, timeout=45)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{_broker_state(fleet, killed)}\n{replacement.tail()}") from None


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_job_completes(crash_fleet: Fleet, admin: AdminClient,
                                                           clients: Clients, tmp_path: Path) -> None:
    fleet = crash_fleet
    rg = f"crash-{uuid.uuid4().hex[:6]}"
    (vm,) = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                        "vms": [{"name": "app", "os_disk": 1, "data_disks": [1, 1, 1]}]}).items
    admin.set(copy_bandwidth=BANDWIDTH, lro_latency=0.0)
    before = admin.counters()
    started = time.monotonic()
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"},
                                               {"region": "brazilsouth", "resource_group": f"br-{rg}"}]))
    copying(fleet, job_id)

    index, survivor = _victim(fleet)
    victim = fleet.workers.procs[index]
    pool = children(victim.pid)
    os.kill(victim.pid, signal.SIGKILL)
    killed, kill_at = time.time(), time.monotonic() - started
    victim.wait(10)
    try:
        orphans = wait_until(lambda: _orphans(fleet, killed, survivor), 15,
                             lambda: f"the killed worker held no message: the test proves nothing\n"
                             f"{_broker_state(fleet, killed)}", interval=0.2)
        # the one fixed wait: the dead worker's messages are due back only once the
        # visibility timeout has passed since their delivery
        time.sleep(max(0.0, killed + VISIBILITY + 0.2 - time.time()))
        replaced_at = time.monotonic() - started
        status = _replaced(fleet, job_id, killed, tmp_path, answering=2)  # the survivor answers too
        took = time.monotonic() - started
    finally:
        end(pool)
    calls = delta(before, admin.counters())

    assert status.phase is Phase.succeeded, status
    assert orphans.isdisjoint(_unacked(fleet)), "the dead worker's messages were not taken back"
    assert_same_content(fleet, vm, status)
    # nothing made twice: one snapshot and one grant per disk, one copy and one disk per
    # disk and region, one staging account per region
    assert calls.get("Microsoft.Compute/snapshots/write") == 4
    assert calls.get("Microsoft.Compute/snapshots/beginGetAccess/action") == 4
    assert calls.get("blob.CopyBlob") == 8
    assert calls.get("Microsoft.Compute/disks/write") == 8
    assert calls.get("Microsoft.Storage/storageAccounts/delete") == 2
    made = [d for d in clients.compute.disks.list() if (d.tags or {}).get("diskferry-job") == job_id]
    assert len(made) == 8
    print(f"\nworker{index} killed {kill_at:.1f} s after submit holding {len(orphans)} messages; replacement "
          f"started at {replaced_at:.1f} s; job done at {took:.1f} s")
    assert_clean(fleet, job_id)


def _in_preparing(fleet: Fleet, job_id: str) -> bool:
    (source,) = fleet.store.status(job_id).sources
    return any(fleet.store.operation(job_id, f"snapshot|{source.key}|{d.key}") for d in source.targets[0].disks)


def _in_importing(fleet: Fleet, job_id: str) -> bool:
    return any(d.phase is Phase.importing for d in fleet.store.status(job_id).disks())


def _in_cleanup(fleet: Fleet, job_id: str) -> bool:
    (source,) = fleet.store.status(job_id).sources
    return any(fleet.store.operation(job_id, f"delete|{source.key}|{d.key}") for d in source.targets[0].disks)


#: phase -> (the Azure operation made slow there, how to tell the job is in it)
PHASES = {
    "prepare": ("Microsoft.Compute/snapshots/write", _in_preparing),
    "finalize": ("Microsoft.Compute/disks/write", _in_importing),
    "cleanup": ("Microsoft.Compute/snapshots/delete", _in_cleanup),
}


@pytest.mark.parametrize("crash_fleet", [1], ids=["one-worker"], indirect=True)
@pytest.mark.parametrize("phase", [pytest.param(p, marks=pytest.mark.slow) for p in PHASES])
def test_a_fleet_killed_in_each_phase_is_replaced(crash_fleet: Fleet, admin: AdminClient, clients: Clients,
                                                  tmp_path: Path, phase: str) -> None:
    fleet = crash_fleet
    slow, reached = PHASES[phase]
    rg = f"crash{phase[:3]}-{uuid.uuid4().hex[:6]}"
    (vm,) = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                        "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]}).items
    # the slow operation outlasts the kill; it has ended when the replacement checks it
    admin.set(copy_bandwidth=256 * 1024 * 1024, lro_latency=0.0, lro_latency_ops={slow: VISIBILITY / 2})
    started = time.monotonic()
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
    deadline = time.monotonic() + 60
    while not reached(fleet, job_id):
        assert time.monotonic() < deadline, f"the job never reached {phase}: {fleet.store.status(job_id)}"
        time.sleep(0.05)

    (victim,) = fleet.workers.procs
    pool = children(victim.pid)
    os.kill(victim.pid, signal.SIGKILL)  # the whole fleet: nothing survives to sweep
    killed, kill_at = time.time(), time.monotonic() - started
    victim.wait(10)
    try:
        orphans = {tag for tag, at in _unacked(fleet).items() if at < killed}
        assert orphans, f"the killed worker held no message in {phase}: the test proves nothing"
        time.sleep(max(0.0, killed + VISIBILITY + 0.2 - time.time()))
        status = _replaced(fleet, job_id, killed, tmp_path, answering=1)
        took = time.monotonic() - started
    finally:
        end(pool)

    assert status.phase is Phase.succeeded, status
    assert orphans.isdisjoint(_unacked(fleet)), "the dead worker's messages were not taken back"
    assert_same_content(fleet, vm, status)
    made = [d for d in clients.compute.disks.list() if (d.tags or {}).get("diskferry-job") == job_id]
    assert len(made) == 2  # nothing made twice
    print(f"\nkilled in {phase} {kill_at:.1f} s after submit, holding {len(orphans)} messages; job done at "
          f"{took:.1f} s (visibility timeout {VISIBILITY} s)")
    assert_clean(fleet, job_id)
