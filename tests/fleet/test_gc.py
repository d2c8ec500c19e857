"""``diskferry gc``: a whole fleet and its Redis are lost mid-job; what the jobs left in Azure
(SAS grants on source disks and on job-made snapshots, staged VHDs in an operator's account,
a job-made staging account, snapshots) is found by its tags and removed — after a dry run
that removes nothing, and never while it is younger than ``--older-than``.

Its own local Azure (gc sweeps the whole subscription), Redis and workers."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.model import TAG_GRANT, Phase
from tests.conftest import Clients, clients_for
from tests.fleet.conftest import Fleet, running_fleet, vm_job
from tests.fleet.test_cli import diskferry
from tests.redisserver import RedisServer

SLOW = 64 * 1024  # bytes/s: 1 MiB copies run for ~16 s, long after the fleet is gone


def _copying(fleet: Fleet, job_id: str) -> None:
    deadline = time.monotonic() + 60
    while not all(d.phase is Phase.copying and d.bytes_copied > 0 for d in fleet.store.status(job_id).disks()):
        assert time.monotonic() < deadline, fleet.store.status(job_id)
        time.sleep(0.1)


def _operator_account(clients: Clients, rg: str) -> str:
    name = f"ops{uuid.uuid4().hex[:12]}"
    clients.resource.resource_groups.create_or_update(rg, {"location": "brazilsouth"})
    clients.storage.storage_accounts.begin_create(
        rg, name, {"location": "brazilsouth", "kind": "StorageV2", "sku": {"name": "Standard_LRS"}}).result()
    return name


def _grants(admin: AdminClient) -> list[dict[str, Any]]:
    return [i for i in admin.audit()["items"] if i["kind"] == "grant"]


def _left(admin: AdminClient, job_ids: Any) -> dict[str, list[tuple[str, str]]]:
    """What each job left, by identity: a staged blob's copy goes on in the local Azure (its
    progress and properties change between two looks), but it is the same blob."""
    return {j: sorted((i["kind"], i["id"]) for i in admin.leftovers(j)) for j in job_ids}


def _gc(fleet: Fleet, *args: str) -> tuple[int, list[dict[str, Any]]]:
    done = diskferry(fleet, "gc", "--json", *args)
    assert done.returncode in (0, 1), done.stderr + done.stdout
    return done.returncode, json.loads(done.stdout)["leftovers"]


def test_gc_removes_what_a_lost_fleet_left(spawn_emulator: Callable[[Path], EmulatorProcess],
                                           own_redis: Callable[..., RedisServer], tmp_path: Path) -> None:
    with spawn_emulator(tmp_path / "azure") as azure:
        clients, admin = clients_for(azure), azure.admin()
        redis_server = own_redis("--appendonly", "yes", "--appendfsync", "always")
        with running_fleet(azure, redis_server.url(), tmp_path / "workers") as fleet:
            rg = f"gc-{uuid.uuid4().hex[:6]}"
            fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                        "vms": [{"name": "a", "os_disk": 1, "data_disks": [1]}, {"name": "b", "os_disk": 1}]})
            # consistency none reads the disks themselves: VM a is stopped, its disks granted on
            clients.compute.virtual_machines.begin_deallocate(rg, "a").result()
            ops = _operator_account(clients, f"ops-{rg}")
            admin.set(lro_latency=0.0, copy_bandwidth=SLOW)
            by_disks = fleet.submit(vm_job(rg, ["a"], [{"region": "westeurope", "resource_group": f"we-{rg}"}],
                                           consistency="none"))
            by_snapshot = fleet.submit(vm_job(rg, ["b"], [{"region": "brazilsouth", "resource_group": f"br-{rg}",
                                                           "staging_account": ops}]))
            for job_id in (by_disks, by_snapshot):
                _copying(fleet, job_id)
            # the fleet and its Redis are lost: workers killed, Redis killed and replaced by an empty one
            for proc in fleet.workers.procs:
                proc.kill()
                proc.wait(10)
            redis_server.kill()
            shutil.rmtree(redis_server.workdir)
            redis_server.workdir.mkdir()
            redis_server.start()
            left_before = _left(admin, (by_disks, by_snapshot))
            assert all(left_before.values()), left_before
            assert len(_grants(admin)) == 3  # a's two disks, b's snapshot

            code, dry = _gc(fleet, "--dry-run", "--older-than", "0")
            assert code == 0
            kinds = {(d["job"], d["kind"]) for d in dry}
            # (a job-made account's blobs go with it)
            assert kinds == {(by_disks, "grant"), (by_disks, "account"), (by_snapshot, "snapshot"),
                             (by_snapshot, "blob")}, [(d["job"], d["kind"], d["id"]) for d in dry]
            assert {d["outcome"] for d in dry} == {"would remove"}
            assert {d["state"] for d in dry} == {"unknown"}
            assert _left(admin, left_before) == left_before  # nothing removed

            code, young = _gc(fleet, "--older-than", "1h")
            assert code == 0 and {d["outcome"] for d in young} == {"kept: younger than 3600 s"}
            assert _left(admin, left_before) == left_before

            code, swept = _gc(fleet, "--older-than", "0")
            assert code == 0, swept
            assert {d["outcome"] for d in swept} == {"removed"}, swept
            for job_id in (by_disks, by_snapshot):
                assert admin.leftovers(job_id) == [], job_id
            assert _grants(admin) == []
            for disk in clients.compute.disks.list_by_resource_group(rg):
                assert TAG_GRANT not in (disk.tags or {}), disk.tags
            # the operator's account is kept, emptied of the job's VHDs
            kept = fleet.cloud.storage.get_account(clients.subscription_id, f"ops-{rg}", ops)
            assert kept is not None and fleet.cloud.storage.list_blobs(kept, "diskferry-staging") == []
            # a second pass finds nothing
            assert _gc(fleet, "--older-than", "0") == (0, [])
        admin.close()
