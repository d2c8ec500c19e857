"""Every task may run twice (acks_late: a redelivered message runs again). Running a whole
job's canvases a second time must create nothing: no disk, copy, snapshot or grant."""

from __future__ import annotations

import uuid

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from diskferry.tasks.canvas import job_canvases
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, delta
from tests.fleet.conftest import Fleet, vm_job
from tests.fleet.images import seed_image
from tests.waiting import wait_until


def test_running_a_job_again_creates_nothing(fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    rg = f"again-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "app", "os_disk": 1, "data_disks": [1]}]})
    seed_image(fleet, rg, "golden", 1, [])
    doc = vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"},
                               {"region": "francecentral", "resource_group": f"fc-{rg}"}])
    doc["source"]["images"] = ["golden"]
    job_id = fleet.submit(doc)
    first = fleet.wait(job_id)
    assert first.phase is Phase.succeeded, first
    made = sorted(d.id for d in clients.compute.disks.list() if (d.tags or {}).get("diskferry-job") == job_id)
    # run again once the job is over and forgotten (its results gone, its task ids dropped from
    # the record), as a canvas delivered again later would be
    pairs = [(s.key, t.key) for s, t in fleet.store.job(job_id).pairs()]
    wait_until(lambda: not any(fleet.store.target_state(job_id, s, t).get("finalize") for s, t in pairs), 30,
               lambda: f"job {job_id} was not forgotten")

    before = fast_copies.counters()
    job = fleet.store.job(job_id)
    results = [canvas.apply_async() for canvas in job_canvases(fleet.app, fleet.settings, job)]
    for result in results:
        assert result.get(timeout=60)["ok"] is True
    calls = delta(before, fast_copies.counters())

    creations = [op for op in calls if op.endswith("/write") or "beginGetAccess" in op or op == "blob.CopyBlob"
                 or op.endswith("/deallocate/action")]
    assert creations == [], calls
    again = fleet.store.status(job_id)
    assert again.phase is Phase.succeeded
    assert [d.result_id for d in again.disks()] == [d.result_id for d in first.disks()]
    assert sorted(d.id for d in clients.compute.disks.list()
                  if (d.tags or {}).get("diskferry-job") == job_id) == made
    assert_clean(fleet, job_id)
