"""``diskferry cancel``: a running job stops, nothing temporary is left, a VM the job
deallocated runs again, and what the job made is kept — or deleted with ``--discard``.
With its fleet gone, the producer does the whole cancellation itself."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import Phase
from diskferry.producer import api
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, job_disks, power_state
from tests.fleet.conftest import Fleet, running_fleet, vm_job
from tests.fleet.test_cli import diskferry

FAST, SLOW = 64 * 1024 * 1024, 64 * 1024  # bytes/s: brazilsouth copies at once, westeurope takes ~16 s


def _start(fleet: Fleet, admin: AdminClient) -> tuple[str, str]:
    """A deallocating job of one VM (2 disks) to brazilsouth (fast) and westeurope (slow),
    followed until brazilsouth is done and westeurope is copying."""
    rg = f"cancel-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]})
    admin.set(lro_latency=0.0, copy_bandwidth=SLOW, copy_bandwidth_pairs={"francecentral>brazilsouth": FAST})
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"},
                                               {"region": "westeurope", "resource_group": f"we-{rg}"}],
                                 consistency="deallocate"))
    deadline = time.monotonic() + 60
    while True:
        status = fleet.store.status(job_id)
        by_region = {t.region: t for t in status.targets()}
        copying = [d for d in by_region["westeurope"].disks if d.phase is Phase.copying and d.bytes_copied > 0]
        if by_region["brazilsouth"].phase is Phase.succeeded and len(copying) == 2:
            return job_id, rg
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def _assert_cancelled(fleet: Fleet, clients: Clients, job_id: str, rg: str, *, kept: bool) -> None:
    status = fleet.store.status(job_id)
    assert status.phase is Phase.cancelled, status
    by_region = {t.region: t for t in status.targets()}
    assert by_region["westeurope"].phase is Phase.cancelled
    assert {d.phase for d in by_region["westeurope"].disks} == {Phase.cancelled}
    assert all(d.error is not None and d.error.code == "JobCancelled" for d in by_region["westeurope"].disks)
    assert {d.phase for d in by_region["brazilsouth"].disks} == {Phase.succeeded}
    made = {d.id.lower() for d in job_disks(clients, job_id)}
    brazil = {str(d.result_id).lower() for d in by_region["brazilsouth"].disks}
    assert made == (brazil if kept else set())
    assert power_state(clients, rg, "app") == "PowerState/running"
    assert_clean(fleet, job_id)
    # the source is free again: claims were released with the source's cleanup
    job = fleet.store.job(job_id)
    assert fleet.store.claim_holder(job.sources[0].resource_id) is None


def test_cancel_stops_a_running_job_and_keeps_what_it_made(fleet: Fleet, admin: AdminClient,
                                                          clients: Clients) -> None:
    job_id, rg = _start(fleet, admin)
    before = admin.counters().get("blob.AbortCopyBlob", 0)
    done = diskferry(fleet, "cancel", job_id, "--json")
    admin.set(copy_bandwidth=256 * 1024 * 1024, copy_bandwidth_pairs={})

    assert done.returncode == 0, done.stderr + done.stdout
    doc = json.loads(done.stdout)
    assert doc["ok"] is True and doc["job"]["phase"] == "cancelled"
    assert admin.counters().get("blob.AbortCopyBlob", 0) - before == 2  # both pending copies aborted
    _assert_cancelled(fleet, clients, job_id, rg, kept=True)

    # resumed, the cancelled pair runs again (the VM deallocated again, then started) and the job succeeds
    assert api.resume_job(job_id, settings=fleet.settings, app=fleet.app) == 1
    status = fleet.wait(job_id)
    assert status.phase is Phase.succeeded, status
    assert power_state(clients, rg, "app") == "PowerState/running"
    assert_clean(fleet, job_id)


def test_cancel_an_unknown_job_is_bad_input(fleet: Fleet) -> None:
    done = diskferry(fleet, "cancel", "nosuchjob000")
    assert done.returncode == 2
    assert "no job 'nosuchjob000'" in done.stderr + done.stdout


@pytest.fixture
def lost_fleet(emulator: EmulatorProcess, redis_url: str, tmp_path: Path) -> Iterator[Fleet]:
    """A fleet of its own (Redis DBs 13-15), which the test stops."""
    base = redis_url.rsplit("/", 1)[0]
    dbs = {"DISKFERRY_BROKER_URL": f"{base}/13", "DISKFERRY_RESULT_BACKEND": f"{base}/14",
           "DISKFERRY_STATE_URL": f"{base}/15"}
    for url in dbs.values():
        with redis.Redis.from_url(url) as client:
            client.flushdb()
    with running_fleet(emulator, redis_url, tmp_path / "workers", dbs) as started:
        yield started


def test_cancel_with_discard_when_the_fleet_is_gone(lost_fleet: Fleet, admin: AdminClient, clients: Clients) -> None:
    fleet = lost_fleet
    job_id, rg = _start(fleet, admin)
    for proc in fleet.workers.procs:
        proc.kill()
        proc.wait(10)
    started = time.monotonic()
    status = api.cancel_job(job_id, discard=True, wait_seconds=30, settings=fleet.settings, app=fleet.app)
    took = time.monotonic() - started
    admin.set(copy_bandwidth=256 * 1024 * 1024, copy_bandwidth_pairs={})

    assert status.cleaned and not status.cleanup_errors(), status
    assert took < 30, "no worker answered: the producer should not have waited for one"
    _assert_cancelled(fleet, clients, job_id, rg, kept=False)
