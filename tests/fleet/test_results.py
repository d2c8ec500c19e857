"""A job over leaves only its record: its tasks' and chords' Celery results are removed."""

from __future__ import annotations

import json
import uuid

import redis

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.fleet.conftest import Fleet, vm_job
from tests.waiting import wait_until


def test_a_job_over_leaves_no_celery_results(fleet: Fleet, fast_copies: AdminClient) -> None:
    rg = f"results-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}, {"name": "db", "os_disk": 1}]})
    job_id = fleet.submit(vm_job(rg, ["app", "db"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"},
                                                     {"region": "westeurope", "resource_group": f"we-{rg}"}]))
    # the ids the record names while the job runs (dropped once its results are forgotten)
    tasks: set[str] = set()
    groups: set[str] = set()

    def over() -> bool:
        named = fleet.store.task_ids(job_id)
        tasks.update(named[0])
        groups.update(named[1])
        return fleet.store.status(job_id).phase.terminal

    wait_until(over, 120, lambda: f"job {job_id} still runs", interval=0.2)
    assert fleet.wait(job_id).phase is Phase.succeeded
    # every prepare, copy and finalize, and one chord per pair
    assert len(tasks) == 4 + 6 + 4 and len(groups) == 4, (tasks, groups)
    backend = fleet.app.backend
    results = redis.Redis.from_url(fleet.settings.result_backend)
    keys = [backend.get_key_for_task(t) for t in tasks] + [backend.get_key_for_group(g, ".c") for g in groups]

    def gone() -> bool:
        return not results.exists(*keys)

    wait_until(gone, 30, lambda: f"results left: {[k for k in keys if results.exists(k)]}", interval=0.5)
    # the record stays, with every outcome; once its results are forgotten, without
    # the ids and due times it needed while the job ran
    status = fleet.store.status(job_id)
    assert status.phase is Phase.succeeded and len(status.disks()) == 6
    wait_until(lambda: "watchdog" not in fleet.store.meta(job_id) and fleet.store.task_ids(job_id) == (set(), set()),
               30, lambda: f"the record still names tasks: {fleet.store.task_ids(job_id)}")
    record = fleet.store.raw_fields(job_id, [f"tgt|{s.key}|{t.key}" for s, t in fleet.store.job(job_id).pairs()])
    for raw in record.values():
        assert raw is not None
        doc = json.loads(raw)
        assert doc["phase"] == "succeeded" and doc["cleaned"] is True
        assert not {"prepare", "finalize", "cleanup", "chords", "prepare_due"} & doc.keys(), doc
    status = fleet.store.status(job_id)
    assert status.phase is Phase.succeeded and all(d.result_id for d in status.disks())
