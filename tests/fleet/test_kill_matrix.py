"""The kill matrix (issue "Proof of reliability", item 1): SIGKILL of a whole worker, or of
the pool child running a task, at exact points of a job, with the DEFAULT recovery settings
(visibility timeout 10 min, ``DISKFERRY_WORKER_LOST_SECONDS`` 15 s, watchdog grace 10 min;
only the fleet's test countdowns — polls every 0.3 s, the watchdog every 1 s — and the copy
bandwidth differ). Each case: the job ends ``succeeded``, every destination holds its
source's bytes, nothing is made twice, nothing is left behind, and the time from the kill to
the job's end is recorded (``tests.reliability``).

How a worker is stopped at an exact point, without sleeping and hoping:

* *held request*: the local Azure holds every call to one operation (``request_latency``)
  before doing it; the test waits until the emulator has counted the call — the task is then
  blocked inside it, in a pool child — and kills. The held call still completes on the
  server afterwards, as a call in flight may in Azure: the redelivered task must cope;
* *slow operation*: the local Azure keeps one long-running operation (``lro_latency_ops``)
  InProgress; once the job's records show it started, the worker holds only the countdown
  message of the task that will check it again — the case a visibility timeout used to stall;
* *mid-copy*: the copy bandwidth makes each copy last seconds; the worker holds the countdown
  of the copies' watcher (``diskferry.pipeline.copywatch``: the copies' tasks are parked).

A whole worker killed (of two; the one running the held call, or holding most of the job's
messages, as it recorded them for the rescue): the survivor gives back what it held once it
has been silent for ``DISKFERRY_WORKER_LOST_SECONDS`` (``diskferry.tasks.rescue``), not after
the visibility timeout. (A whole fleet killed and replaced: ``tests/fleet/test_crash.py``.)
A pool child killed: Celery's main process sees it die and
(``task_acks_late`` + ``task_reject_on_worker_lost``) requeues the message at once; the task
runs again under its own id and takes back the lock its dead run held.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from diskferry.config.celeryconfig import FINALIZE, WATCH_COPIES
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import Seeded
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from diskferry.producer.localfleet import LocalFleet
from diskferry.state import JobStatus
from diskferry.tasks import rescue
from tests.conftest import Clients, clients_for
from tests.fleet.checks import assert_clean, assert_image_content, assert_same_content, copying
from tests.fleet.conftest import ROOT, Fleet, running_fleet, vm_job
from tests.fleet.images import seed_image
from tests.fleet.processes import children, end
from tests.reliability import CaseRecord, record_case
from tests.waiting import wait_until

#: 1 MiB per disk at this rate: a copy lasts ~10 s, so a kill lands mid-copy
SLOW_COPY = 100 * 1024
FAST_COPY = 256 * 1024 * 1024
#: how long the local Azure holds a call or keeps an operation running: past the kill, and
#: over well before the rescue (15 s) brings the task back
HOLD = 4.0


@dataclass(frozen=True)
class Point:
    """Where a job is when its worker is killed, and how the test stops it there."""
    held_op: str | None = None          # a call the local Azure holds (the task is inside it)
    slow_op: str | None = None          # a long-running operation kept InProgress
    reached: Callable[[Fleet, str], bool] | None = None  # the job's records show it got there
    copy_bandwidth: float = FAST_COPY
    image: bool = False                 # the job replicates an image (a VM otherwise)
    #: the task whose held message the job needs next (the victim is the worker holding it)
    task: str = FINALIZE


def _importing(fleet: Fleet, job_id: str) -> bool:
    return any(d.phase is Phase.importing for d in fleet.store.status(job_id).disks())


def _cleaning(fleet: Fleet, job_id: str) -> bool:
    (source,) = fleet.store.status(job_id).sources
    return any(fleet.store.operation(job_id, f"delete|{source.key}|{d.key}") for d in source.targets[0].disks)


def _building_image(fleet: Fleet, job_id: str) -> bool:
    (source,) = fleet.store.status(job_id).sources
    return fleet.store.operation(job_id, f"image|{source.key}|{source.targets[0].key}") is not None


def _copying(fleet: Fleet, job_id: str) -> bool:
    copying(fleet, job_id)
    return True


POINTS = {
    "prepare-before-snapshot": Point(held_op="Microsoft.Compute/snapshots/write"),
    "prepare-after-snapshot": Point(held_op="Microsoft.Compute/snapshots/beginGetAccess/action"),
    "grant-to-copy": Point(held_op="blob.CopyBlob"),
    # a copy in flight is parked: its target's watcher holds the one countdown message
    "polling": Point(reached=_copying, copy_bandwidth=SLOW_COPY, task=WATCH_COPIES),
    "import-lro": Point(slow_op="Microsoft.Compute/disks/write", reached=_importing),
    "image-build": Point(held_op="Microsoft.Compute/images/write", image=True),
    "image-build-lro": Point(slow_op="Microsoft.Compute/images/write", reached=_building_image, image=True),
    "cleanup": Point(slow_op="Microsoft.Compute/snapshots/delete", reached=_cleaning),
    # a pool child is busy only inside a call (every task starts or checks, then re-enqueues):
    # the steps that wait on Azure lose their child at the call that polls or starts them
    "polling-call": Point(held_op="blob.ListBlobs", copy_bandwidth=SLOW_COPY, task=WATCH_COPIES),
    "import-call": Point(held_op="Microsoft.Compute/disks/write"),
    "cleanup-call": Point(held_op="Microsoft.Compute/snapshots/delete"),
}
#: the points only a pool child is killed at (a whole worker is killed in those steps above)
CHILD_ONLY = {"polling-call", "import-call", "cleanup-call"}

#: the default run: issue 7's clause (a whole worker in prepare, poll, finalize, cleanup) and
#: one pool child (and one local Azure restart, mid-import: below); the rest is marked slow
DEFAULT = {("worker", "prepare-before-snapshot"), ("worker", "polling"), ("worker", "import-lro"),
           ("worker", "cleanup"), ("child", "grant-to-copy")}
CASES = [("worker", p) for p in POINTS if p not in CHILD_ONLY] + [
    ("child", p) for p, point in POINTS.items() if point.held_op] + [
    ("fleet-restart", "polling"), ("fleet", "polling"), ("fleet", "import-lro")]


@pytest.fixture
def two_workers(emulator: EmulatorProcess, redis_url: str, tmp_path: Path) -> Iterator[Fleet]:
    """Two workers with the fleet's settings: recovery settings all at their defaults."""
    with running_fleet(emulator, redis_url, tmp_path / "first", workers=2) as fleet:
        yield fleet


def _held(admin: AdminClient, op: str, before: int) -> bool:
    return admin.counters().get(op, 0) > before


def _reach(fleet: Fleet, admin: AdminClient, job_id: str, point: Point, before: dict[str, int]) -> None:
    if point.held_op is not None:
        held_op = point.held_op
        wait_until(lambda: _held(admin, held_op, before.get(held_op, 0)), 60,
                   lambda: f"no call to {held_op}: {fleet.store.status(job_id)}\n{fleet.workers.tail()}", interval=0.05)
    if point.reached is not None:
        reached = point.reached
        wait_until(lambda: reached(fleet, job_id), 60, lambda: f"the job never got there: {fleet.store.status(job_id)}",
                   interval=0.05)


def _active(fleet: Fleet) -> tuple[str, int]:
    """The worker (hostname) and pool child (pid) running a task now: the one blocked in the
    held call."""
    def running() -> tuple[str, int] | None:
        active = fleet.app.control.inspect(timeout=1.0).active() or {}
        found = [(host, int(t["worker_pid"])) for host, tasks in active.items() for t in tasks if t.get("worker_pid")]
        return found[0] if found else None

    return wait_until(running, 15, "no pool child runs a task", interval=0.1)


def _holdings(fleet: Fleet) -> dict[int, dict[bytes, str]]:
    """What each worker of the fleet (by index) holds, as it recorded it for the rescue
    (``diskferry:held:HOST/PID/START``: one key per worker process): tag -> task name."""
    broker = redis.Redis.from_url(fleet.settings.broker_url)
    try:
        keys = [k.decode() for k in cast(list[bytes], broker.keys(rescue.HELD_PREFIX + "*"))]
        out: dict[int, dict[bytes, str]] = {}
        for i, proc in enumerate(fleet.workers.procs):
            for key in keys:
                if key.split("/")[-2] == str(proc.pid):
                    tags = cast(list[bytes], broker.zrange(key, 0, -1))
                    rows = cast(list[bytes | None], broker.hmget("unacked", tags)) if tags else []
                    out[i] = {tag: _waiting_task(json.loads(row)[0]["headers"])
                              for tag, row in zip(tags, rows, strict=True) if row is not None}
        return out
    finally:
        broker.close()


def _waiting_task(headers: dict[str, Any]) -> str:
    """A message's task name, marked ``+eta`` when it waits for its countdown (a re-check the
    job needs next), not a run that is ending (its retry was sent, its ack is on its way)."""
    eta = headers.get("eta")
    waiting = eta is not None and datetime.fromisoformat(eta).timestamp() > time.time()
    return f"{headers['task']}+eta" if waiting else str(headers["task"])


def _holders(holdings: dict[int, dict[bytes, str]], task: str) -> list[int]:
    return [i for i, held in holdings.items() if task in held.values()]


def _settled(fleet: Fleet, task: str) -> dict[int, dict[bytes, str]]:
    """What the workers hold once a worker holds a ``task`` message waiting for its countdown."""
    def held() -> dict[int, dict[bytes, str]] | None:
        holdings = _holdings(fleet)
        return holdings if _holders(holdings, task) else None

    return wait_until(held, 10, lambda: f"no worker holds a {task} message: {_holdings(fleet)}", interval=0.02)


def _kill(fleet: Fleet, victim: str, point: Point) -> tuple[dict[int, str], set[bytes]]:
    """SIGKILL a whole worker — the one running the held call, or the one holding most of the
    job's messages — or the pool child running a task; or stop the whole fleet as a restart
    does (SIGTERM: warm shutdown, which gives back what it holds). Returns the killed
    worker's pool (to be reaped) and the messages it held."""
    if victim == "child":
        os.kill(_active(fleet)[1], signal.SIGKILL)
        return {}, set()
    if victim == "fleet-restart":
        held = _unacked(fleet)
        fleet.workers.stop()
        return {}, held
    holdings = _holdings(fleet) if victim == "fleet" or point.held_op else _settled(fleet, point.task + "+eta")
    if victim == "fleet":  # every worker at once: the replacement rescues, once it has beaten 15 s
        pools: dict[int, str] = {}
        for worker in fleet.workers.procs:
            pools |= children(worker.pid)
            os.kill(worker.pid, signal.SIGKILL)
        for worker in fleet.workers.procs:
            worker.wait(10)
        return pools, {tag for held in holdings.values() for tag in held}
    if point.held_op is not None:
        host = _active(fleet)[0]
        index = int(host.split("-", 1)[0].removeprefix("worker"))
    else:
        index = _holders(holdings, point.task + "+eta")[0]
    worker = fleet.workers.procs[index]
    pool = children(worker.pid)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    return pool, set(holdings.get(index, {}))


@pytest.mark.parametrize(("victim", "where"), [
    pytest.param(v, p, id=f"{v}-{p}", marks=() if (v, p) in DEFAULT else pytest.mark.slow) for v, p in CASES
])
def test_a_job_survives_a_kill(two_workers: Fleet, admin: AdminClient, clients: Clients, tmp_path: Path,
                               request: pytest.FixtureRequest, victim: str, where: str) -> None:
    fleet, point = two_workers, POINTS[where]
    rg = f"kill-{uuid.uuid4().hex[:6]}"
    source, doc = _source(fleet, rg, point.image)
    admin.set(copy_bandwidth=point.copy_bandwidth, lro_latency=0.0,
              lro_latency_ops={point.slow_op: HOLD} if point.slow_op else {},
              request_latency={point.held_op: HOLD} if point.held_op else {})
    before = admin.counters()
    started = time.monotonic()
    job_id = fleet.submit(doc)
    _reach(fleet, admin, job_id, point, before)

    pool, held = _kill(fleet, victim, point)
    killed = time.monotonic()
    admin.set(request_latency={})  # the redelivered task's calls go through
    replacement = LocalFleet(fleet.env, fleet.settings, tmp_path / "replacement", workers=1, cwd=ROOT)
    try:
        status = _follow(fleet, job_id, replacement if victim.startswith("fleet") else None)
    finally:
        end(pool)
    recovered = time.monotonic() - killed

    assert status.phase is Phase.succeeded, status
    if victim != "child":
        assert held, "the stopped worker held no message: the case proves nothing"
        # given back (by the survivor, once the dead one was silent for worker_lost_seconds):
        # all of them, also those the job did not need to end (its watchdog's next round)
        wait_until(lambda: held.isdisjoint(_unacked(fleet)), 30, "the stopped worker's messages were not taken back")
    _assert_made_once(fleet, clients, source, status, rg, image=point.image)
    assert_clean(fleet, job_id)
    print(f"\n{victim} killed at {where} {killed - started:.1f} s after submit; job done {recovered:.1f} s later")
    record_case(CaseRecord(matrix="kill", case=f"{victim}-{where}", outcome=status.phase.value,
                           recovery_seconds=round(recovered, 1), nodeid=request.node.nodeid,
                           details={"victim": victim, "point": where, "worker_lost_seconds":
                                    fleet.settings.worker_lost_seconds,
                                    "visibility_timeout": fleet.settings.visibility_timeout}))


def _source(fleet: Fleet, rg: str, image: bool) -> tuple[Seeded, dict[str, Any]]:
    """A VM with two disks, or an image of two, and the job that replicates it to westeurope."""
    targets = [{"region": "westeurope", "resource_group": f"we-{rg}"}]
    if image:
        return seed_image(fleet, rg, "golden", 1, [1]), {"source": {"resource_group": rg, "images": ["golden"]},
                                                         "targets": targets}
    (vm,) = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                        "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]}).items
    return vm, vm_job(rg, ["app"], targets)


def _assert_made_once(fleet: Fleet, clients: Clients, source: Seeded, status: JobStatus, rg: str, *,
                      image: bool) -> None:
    """Every destination holds its source's bytes, and exists once."""
    if image:
        (target,) = status.targets()
        assert target.image_id is not None, status
        assert_image_content(fleet, source, target.image_id)
        images = [i for i in clients.compute.images.list_by_resource_group(f"we-{rg}")
                  if (i.tags or {}).get("diskferry-job") == status.id]
        assert len(images) == 1, [i.name for i in images]
        return
    assert_same_content(fleet, source, status)
    made = [d for d in clients.compute.disks.list() if (d.tags or {}).get("diskferry-job") == status.id]
    assert len(made) == 2, [d.name for d in made]


def _unacked(fleet: Fleet) -> set[bytes]:
    """Delivery tags of the messages workers hold (delivered, not yet acknowledged)."""
    broker = redis.Redis.from_url(fleet.settings.broker_url)
    try:
        return set(cast(list[bytes], broker.hkeys("unacked")))
    finally:
        broker.close()


def _started(azure: EmulatorProcess) -> bool:
    """Start it; False while its old ports are still held by the killed one's orphaned
    connections (FIN-WAIT-1 until the workers' side closes them), which SO_REUSEADDR does not
    cover."""
    try:
        azure.start()
    except RuntimeError:
        azure.stop()
        return False
    return True


def _follow(fleet: Fleet, job_id: str, replacement: LocalFleet | None) -> JobStatus:
    """Follow the job to its end (with a replacement worker, when the whole worker died)."""
    if replacement is None:
        return fleet.wait(job_id, timeout=60)
    with replacement.start(fleet.app):
        try:
            return fleet.wait(job_id, timeout=60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{replacement.tail()}") from None


#: how the local Azure goes away mid-job: (the point, seconds it stays down)
OUTAGES = {
    "azure-restart-mid-copy": ("polling", 0.0),
    "azure-restart-mid-lro": ("import-lro", 0.0),
    "azure-down-30s": ("polling", 30.0),
}


@pytest.fixture
def own_azure(emulator: EmulatorProcess, tmp_path: Path) -> Iterator[EmulatorProcess]:
    """A local Azure of the test's own (serving the session's certificate), to kill and restart."""
    azure = EmulatorProcess(tmp_path / "azure", tls_from=emulator.state_dir).start()
    try:
        yield azure
    finally:
        azure.stop()


@pytest.mark.parametrize("case", [pytest.param(c, marks=() if c == "azure-restart-mid-lro" else pytest.mark.slow)
                                  for c in OUTAGES])
def test_a_job_survives_the_local_azure_going_away(own_azure: EmulatorProcess, emulator: EmulatorProcess,
                                                   redis_url: str, tmp_path: Path, request: pytest.FixtureRequest,
                                                   case: str) -> None:
    """The local Azure killed (SIGKILL) mid-job and started again on its state, on the same
    ports: what it had made and the copies it was running survive, as they do in Azure; the
    workers retry what failed meanwhile and the job completes."""
    where, down = OUTAGES[case]
    point = POINTS[where]
    with running_fleet(own_azure, redis_url, tmp_path / "workers", workers=1) as fleet:
        rg = f"az-{uuid.uuid4().hex[:6]}"
        (vm,) = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                            "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]}).items
        knobs = {"copy_bandwidth": point.copy_bandwidth, "lro_latency": 0.0,
                 "lro_latency_ops": {point.slow_op: HOLD} if point.slow_op else {}}
        own_azure.admin().set(**knobs)
        started = time.monotonic()
        job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": f"we-{rg}"}]))
        _reach(fleet, own_azure.admin(), job_id, point, {})

        assert own_azure.proc is not None
        own_azure.proc.kill()
        own_azure.proc.wait(10)
        stopped = time.monotonic()
        own_azure.stop()
        time.sleep(down)  # the outage itself: what the case is about
        restarted = EmulatorProcess(own_azure.state_dir, tls_from=emulator.state_dir, ports=own_azure.bound_ports())
        wait_until(lambda: _started(restarted), 60, f"the local Azure did not bind its ports again: "
                   f"{restarted.log_path}", interval=0.5)
        try:
            restarted.admin().set(**knobs)
            status = fleet.wait(job_id, timeout=90)
            recovered = time.monotonic() - stopped

            assert status.phase is Phase.succeeded, status
            assert_same_content(fleet, vm, status)
            made = [d for d in clients_for(restarted).compute.disks.list()
                    if (d.tags or {}).get("diskferry-job") == job_id]
            assert len(made) == 2, [d.name for d in made]
            assert_clean(fleet, job_id)
        finally:
            restarted.stop()
    print(f"\nlocal Azure killed at {where} {stopped - started:.1f} s after submit, down {down:.0f} s; "
          f"job done {recovered:.1f} s after the kill")
    record_case(CaseRecord(matrix="kill", case=case, outcome=status.phase.value, recovery_seconds=round(recovered, 1),
                           nodeid=request.node.nodeid, details={"point": where, "down_seconds": down}))
