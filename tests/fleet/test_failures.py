"""A failing disk is reported with Azure's code and message; the rest of the job completes,
and cleanup leaves nothing behind. A copy that Azure fails transiently is restarted, within
the budget (``DISKFERRY_COPY_RESTARTS``)."""

from __future__ import annotations

import uuid

import pytest

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import Seeded
from diskferry.errors import JobFailed
from diskferry.model import Phase
from tests.fleet.checks import assert_clean, assert_same_content
from tests.fleet.conftest import Fleet, vm_job

#: a copy failure that no restart mends
PERMANENT = {"count": 1, "status": 412, "code": "ConditionNotMet",
             "message": "The source blob was modified during the copy (injected)."}


def submit_with_copy_fault(fleet: Fleet, admin: AdminClient, data_disks: list[int], *, count: int, status: int,
                           code: str, message: str) -> tuple[Seeded, str]:
    """A VM (OS + ``data_disks``) replicated to brazilsouth and westeurope while the first
    ``count`` Copy Blob calls fail at 40 % with ``status code "message"``."""
    rg = f"fault-{uuid.uuid4().hex[:6]}"
    vm = fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                     "vms": [{"name": "app", "os_disk": 1, "data_disks": data_disks}]}).items[0]
    admin.set(copy_bandwidth=2 * 1024 * 1024)  # long enough for the fault to bite mid-copy
    admin.add_fault("blob.CopyBlob", kind="copy", at_percent=40, count=count, status=status, code=code,
                    message=message)
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"},
                                               {"region": "westeurope", "resource_group": f"we-{rg}"}]))
    return vm, job_id


def test_one_failing_copy_is_isolated(fleet: Fleet, fast_copies: AdminClient) -> None:
    # a failure no restart can mend (a transient one would be restarted)
    vm, job_id = submit_with_copy_fault(fleet, fast_copies, [1, 1], **PERMANENT)
    status = fleet.wait(job_id)

    assert status.phase is Phase.failed
    failed = [d for d in status.disks() if d.phase is Phase.failed]
    assert len(failed) == 1, status
    assert failed[0].error is not None
    assert failed[0].error.code == "ConditionNotMet"
    assert failed[0].restarts == 0
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


def test_copies_failed_transiently_are_restarted_and_the_job_succeeds(fleet: Fleet, fast_copies: AdminClient) -> None:
    # the first three Copy Blob calls fail at 40 %, as Azure says when it is busy
    vm, job_id = submit_with_copy_fault(fleet, fast_copies, [1], count=3, status=503, code="ServerBusy",
                                        message="The server is busy.")
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded, status
    restarts = [d.restarts for d in status.disks()]
    assert sum(restarts) == 3 and max(restarts) <= fleet.settings.copy_restarts, status
    reasons = {r for d in status.disks() for r in d.restart_reasons}
    assert reasons == {'ServerBusy: 503 ServerBusy "The server is busy."'}
    assert_same_content(fleet, vm, status)
    assert_clean(fleet, job_id)


def test_a_copy_failing_transiently_beyond_the_budget_fails_with_azures_reason(fleet: Fleet,
                                                                               fast_copies: AdminClient) -> None:
    rg = f"down-{uuid.uuid4().hex[:6]}"
    fleet.seed({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                "vms": [{"name": "app", "os_disk": 1}]})
    fast_copies.set(copy_bandwidth=4 * 1024 * 1024)
    fast_copies.add_fault("blob.CopyBlob", kind="copy", at_percent=40, count=-1, status=500,
                                 code="OperationTimedOut", message="Operation could not be completed within the "
                                 "specified time.")
    try:
        job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]))
        status = fleet.wait(job_id)
    finally:
        fast_copies.clear_faults()

    (disk,) = status.disks()
    budget = fleet.settings.copy_restarts
    assert status.phase is Phase.failed and disk.phase is Phase.failed, status
    assert disk.restarts == budget and disk.error is not None
    assert disk.error.code == "OperationTimedOut"
    assert f"after {budget} restarts" in disk.error.message
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
