"""``plan`` resolves everything and creates nothing; invalid job files enqueue nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis

from diskferry.emulator.admin_client import AdminClient
from diskferry.errors import JobFileError
from diskferry.producer import api
from tests.conftest import Clients
from tests.fleet.checks import delta
from tests.fleet.conftest import Fleet, vm_job
from tests.fleet.images import seed_image


def test_plan_lists_every_step_and_creates_nothing(fleet: Fleet, admin: AdminClient, clients: Clients) -> None:
    rg = f"plan-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "app", "os_disk": 1, "data_disks": [2]}]})
    seed_image(fleet, rg, "golden", 1, [1])
    doc = {"source": {"resource_group": rg, "vms": ["app"], "images": ["golden"]},
           "targets": [{"region": "brazilsouth", "resource_group": f"br-{rg}"},
                       {"region": "francecentral", "resource_group": f"fc-{rg}", "zone": 1}]}
    audit_before = admin.audit()
    before = admin.counters()
    plan = api.plan_job(api.jobfile.parse(doc), settings=fleet.settings, cloud=fleet.cloud)
    calls = delta(before, admin.counters())

    writes = [op for op in calls if not op.endswith("/read") and op != "oauth2.token"]
    assert writes == [], calls
    assert admin.audit()["counts"] == audit_before["counts"]
    actions = [s.action for s in plan.steps]
    # VM: 2 snapshots + 2 grants; image: its own snapshots are granted directly (2 grants)
    assert actions.count("snapshot") == 2 and actions.count("grant") == 4
    assert actions.count("copy") == 4 and actions.count("import") == 4  # brazilsouth only
    assert actions.count("clone") == 4  # francecentral: same region
    assert actions.count("image") == 2
    assert actions.count("staging-account") == 1 and actions.count("delete-account") == 1
    assert actions.count("resource-group") == 2
    assert actions.count("revoke") == 4 and actions.count("delete-snapshot") == 2
    copy = next(s for s in plan.steps if s.action == "copy" and s.source == plan.job.sources[0].key)
    assert copy.size_bytes == 1024**3 + 512  # the OS disk as a fixed VHD
    assert plan.total_bytes > 0
    assert plan.to_json()["steps"][0]["action"] == "snapshot"


def test_invalid_job_file_enqueues_nothing(fleet: Fleet, tmp_path: Path) -> None:
    broker = redis.Redis.from_url(fleet.settings.broker_url)
    path = tmp_path / "job.yaml"
    path.write_text("source: {resource_group: rg, vms: [a]}\ntargets:\n  - region: brazilsouth\n")
    jobs_before = [j.id for j in fleet.store.list(1000)]
    with pytest.raises(JobFileError) as err:
        api.submit_job(api.load_jobfile(path), settings=fleet.settings, store=fleet.store, app=fleet.app)
    assert err.value.field == "targets[0].resource_group"
    assert [j.id for j in fleet.store.list(1000)] == jobs_before
    assert broker.llen(fleet.settings.queue) == 0
    broker.close()


def test_plan_names_a_missing_staging_account(fleet: Fleet) -> None:
    rg = f"plans-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "app", "os_disk": 1}]})
    doc = vm_job(rg, ["app"], [{"region": "westeurope", "resource_group": "x", "staging_account": "nosuchacct"}])
    with pytest.raises(api.JobFailed) as err:
        api.plan_job(api.jobfile.parse(doc), settings=fleet.settings, cloud=fleet.cloud)
    assert err.value.code == "StagingAccountNotFound"
    assert "targets[0].staging_account" in err.value.message
