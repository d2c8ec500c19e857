"""A failing disk is reported with Azure's code and message; the rest of the job completes,
and cleanup leaves nothing behind."""

from __future__ import annotations

import uuid

import pytest

from diskferry.emulator.admin_client import AdminClient
from diskferry.errors import JobFailed
from diskferry.model import Phase
from tests.fleet.checks import assert_clean, assert_same_content
from tests.fleet.conftest import Fleet, vm_job


def test_one_failing_copy_is_isolated(fleet: Fleet, fast_copies: AdminClient) -> None:
    rg = f"fail-{uuid.uuid4().hex[:6]}"
    vm = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                     "vms": [{"name": "app", "os_disk": 1, "data_disks": [1, 1]}]}).items[0]
    fast_copies.set(copy_bandwidth=2 * 1024 * 1024)  # long enough for the fault to bite mid-copy
    fast_copies.add_fault("blob.CopyBlob", kind="copy", at_percent=40, count=1, status=500,
                          code="InternalError", message="The copy failed (injected).")
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"},
                                               {"region": "westeurope", "resource_group": f"we-{rg}"}]))
    status = fleet.wait(job_id)

    assert status.phase is Phase.failed
    failed = [d for d in status.disks() if d.phase is Phase.failed]
    assert len(failed) == 1, status
    assert failed[0].error is not None
    assert failed[0].error.code == "InternalError"
    assert "injected" in failed[0].error.message
    assert failed[0].result_id is None
    ok = [d for d in status.disks() if d.phase is Phase.succeeded]
    assert len(ok) == 5
    bad_target = next(t for t in status.targets() if t.key == failed[0].target)
    assert bad_target.phase is Phase.failed and bad_target.error is not None
    assert bad_target.error.code == "DisksFailed"
    good_target = next(t for t in status.targets() if t.key != failed[0].target)
    assert good_target.phase is Phase.succeeded
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_a_missing_vm_refuses_the_job(fleet: Fleet) -> None:
    rg = f"none-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "real", "os_disk": 1}]})
    before = [j.id for j in fleet.store.list(1000)]
    with pytest.raises(JobFailed) as err:
        fleet.submit(vm_job(rg, ["real", "ghost"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]))
    assert "source.vms[1] ghost" in err.value.message
    assert err.value.code == "ResourceNotFound"
    assert [j.id for j in fleet.store.list(1000)] == before
