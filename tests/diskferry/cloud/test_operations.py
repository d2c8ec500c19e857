"""Long-running operations started and then checked, against the local Azure over HTTPS:
nothing waits in the caller, a failed operation carries Azure's code, and what is kept of an
operation between task runs holds no credential and no SAS."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pytest
import redis

from diskferry.cloud import Cloud
from diskferry.cloud.budget import Budget
from diskferry.cloud.compute import access_sas
from diskferry.cloud.errors import retry_after
from diskferry.cloud.operations import Checked, Operation, region_of
from diskferry.config.settings import Settings
from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.seed import SeedSpec, seed
from diskferry.emulator.testing import EmulatorProcess
from diskferry.errors import DiskFailed, OperationFailed, RetryLater


def _vm_disk(emulator: EmulatorProcess, rg: str) -> str:
    seed(emulator.env, SeedSpec.model_validate({"resource_group": rg, "location": "francecentral", "data_mib": 1,
                                                 "vms": [{"name": "vm", "os_disk": 1, "data_disks": []}]}))
    sub = emulator.env["AZURE_SUBSCRIPTION_ID"]
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/vm-osdisk"


def _until_done(cloud: Cloud, op: Operation) -> tuple[Checked, int]:
    """Check as later task runs would (from what is stored of it), coming back after the
    countdown a throttled check asks for."""
    checks = 0
    while True:
        checks += 1
        try:
            checked = cloud.check(Operation.from_json(op.to_json()))
        except RetryLater as exc:
            time.sleep(exc.retry_after or 0.2)
            continue
        if checked.done:
            return checked, checks
        time.sleep(0.2)


def test_a_snapshot_is_started_and_checked_until_it_exists(cloud: Cloud, admin: AdminClient,
                                                           emulator: EmulatorProcess, rg: str) -> None:
    disk_id = _vm_disk(emulator, rg)
    admin.set(lro_latency=1.0)
    snapshot_id = disk_id.replace("/disks/vm-osdisk", "/snapshots/snap-1")

    started = time.monotonic()
    op = cloud.compute.create_snapshot(snapshot_id, source_id=disk_id, location="francecentral", tags={"k": "v"})
    assert time.monotonic() - started < 1.0  # nothing waited for the operation
    assert not op.done

    assert op.region == "francecentral"  # as its status URL names it, and kept between runs
    assert Operation.from_json(op.to_json()).region == "francecentral"
    checked, checks = _until_done(cloud, op)
    assert checks > 1
    assert checked.body is not None and checked.body["name"] == "snap-1"
    found = cloud.compute.find_disk(snapshot_id)
    assert found is not None and found.provisioning_state == "Succeeded"


def test_an_ended_operation_whose_result_is_not_wanted_costs_no_final_read(cloud: Cloud, admin: AdminClient,
                                                                         emulator: EmulatorProcess, rg: str) -> None:
    disk_id = _vm_disk(emulator, rg)
    admin.set(lro_latency=0.3)
    op = cloud.compute.create_snapshot(disk_id.replace("/disks/vm-osdisk", "/snapshots/snap-nobody"),
                                       source_id=disk_id, location="francecentral", tags={})
    time.sleep(0.5)  # it has ended
    before = admin.counters()
    checked = cloud.check(Operation.from_json(op.to_json()), result=False)
    after = admin.counters()
    assert checked.done and checked.body is None
    # the status request, and no read of the snapshot
    status = "Microsoft.Resources/operations/read"
    assert after.get(status, 0) - before.get(status, 0) == 1
    assert after.get("Microsoft.Compute/snapshots/read", 0) == before.get("Microsoft.Compute/snapshots/read", 0)
    # one that failed still says how, with Azure's words
    failing = _failing_snapshot(cloud, admin, emulator, rg, "InternalDiskManagementError", "no (injected).")
    time.sleep(0.5)
    with pytest.raises(DiskFailed, match="no"):
        cloud.check(Operation.from_json(failing.to_json()), result=False)


def test_a_grant_keeps_its_sas_out_of_what_is_stored(cloud: Cloud, admin: AdminClient,
                                                     emulator: EmulatorProcess, rg: str) -> None:
    disk_id = _vm_disk(emulator, rg)
    vm_id = disk_id.replace("/disks/vm-osdisk", "/virtualMachines/vm")
    cloud.compute.wait(cloud.compute.deallocate_vm(vm_id))
    admin.set(lro_latency=0.5)

    op = cloud.compute.grant_read(disk_id, 3600)
    stored = base64.b64decode(op.to_json()["token"]).decode()
    checked, _ = _until_done(cloud, op)

    sas = access_sas(checked.body, "grant")
    assert "sig=" in sas
    assert "sig=" not in stored and "accessSAS" not in stored
    assert "authorization" not in stored.lower() and "bearer" not in stored.lower()
    revoking = cloud.compute.revoke(disk_id)
    assert revoking is not None
    assert cloud.compute.wait(revoking).done


def _failing_snapshot(cloud: Cloud, admin: AdminClient, emulator: EmulatorProcess, rg: str, code: str,
                      message: str) -> Operation:
    """A snapshot started whose operation will end Failed with ``code`` after 0.3 s."""
    disk_id = _vm_disk(emulator, rg)
    admin.set(lro_latency=0.3)
    admin.add_fault("Microsoft.Compute/snapshots/write", kind="lro", code=code, message=message)
    return cloud.compute.create_snapshot(disk_id.replace("/disks/vm-osdisk", "/snapshots/snap-failing"),
                                         source_id=disk_id, location="francecentral", tags={})


def test_a_failed_operation_raises_azures_code(cloud: Cloud, admin: AdminClient,
                                               emulator: EmulatorProcess, rg: str) -> None:
    op = _failing_snapshot(cloud, admin, emulator, rg, "InternalDiskManagementError",
                           "Snapshot creation failed (injected).")

    with pytest.raises(DiskFailed) as failed:
        _until_done(cloud, op)

    assert failed.value.code == "InternalDiskManagementError"
    assert "Snapshot creation failed (injected)." in failed.value.message


def test_an_operation_failed_transiently_is_over_and_says_so(cloud: Cloud, admin: AdminClient,
                                                             emulator: EmulatorProcess, rg: str) -> None:
    """A transient code on a *failed* operation (not on an unanswered status request): the
    caller must start a new one, not check this one again."""
    op = _failing_snapshot(cloud, admin, emulator, rg, "InternalExecutionError",
                           "An internal execution error occurred. Please retry later. (injected)")

    time.sleep(0.5)  # it has ended (0.3 s)
    with pytest.raises(OperationFailed) as failed:
        cloud.check(Operation.from_json(op.to_json()))

    assert isinstance(failed.value, RetryLater) and failed.value.code == "InternalExecutionError"


def test_deleting_what_is_gone_ends_at_once(cloud: Cloud, admin: AdminClient, emulator: EmulatorProcess,
                                            rg: str) -> None:
    admin.set(lro_latency=1.0)
    sub = emulator.env["AZURE_SUBSCRIPTION_ID"]
    op = cloud.compute.delete(f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/none")
    # Azure answers 204 No Content: nothing to check later
    assert op is not None and op.done


def _budgeted_snapshot(admin: AdminClient, emulator: EmulatorProcess, rg: str, redis_db: Callable[[], str],
                       name: str, lro_latency: float) -> tuple[Cloud, Operation]:
    """A snapshot started by clients as a worker's are: paced by the fleet's budget, with no
    retry sleeps in azure-core."""
    settings = Settings.from_env(emulator.env)
    budget = Budget(redis.Redis.from_url(redis_db()), settings.arm_budget, "test")
    cloud = Cloud(settings.azure, budget=budget)
    disk_id = _vm_disk(emulator, rg)
    admin.set(lro_latency=lro_latency)
    return cloud, cloud.compute.create_snapshot(disk_id.replace("/disks/vm-osdisk", f"/snapshots/{name}"),
                                                source_id=disk_id, location="francecentral", tags={})


def test_a_throttled_status_check_is_throttled_and_checked_again(admin: AdminClient, emulator: EmulatorProcess,
                                                                 rg: str, redis_db: Callable[[], str]) -> None:
    """As a worker's clients are: paced by the fleet's budget, with no retry sleeps in azure-core."""
    cloud, op = _budgeted_snapshot(admin, emulator, rg, redis_db, "snap-429", lro_latency=0.5)
    admin.add_fault("Microsoft.Resources/operations/read", status=429, code="SubscriptionRequestsThrottled",
                    message="Number of read requests exceeded the limit (injected).", retry_after=3)

    with pytest.raises(RetryLater) as throttled:
        cloud.check(op)

    assert throttled.value.code == "SubscriptionRequestsThrottled" and throttled.value.retry_after == 3
    # every worker now holds back for the Retry-After (the budget learnt it) ...
    with pytest.raises(RetryLater) as held:
        cloud.check(op)
    assert held.value.code == "ArmBudgetExceeded"
    checked, _ = _until_done(cloud, op)  # ... then the same operation, checked again, ends
    assert checked.body is not None and checked.body["name"] == "snap-429"


def test_a_throttled_final_read_of_an_ended_operation_is_throttled_not_failed(
        admin: AdminClient, emulator: EmulatorProcess, rg: str, redis_db: Callable[[], str]) -> None:
    """The operation has ended; the read of what it made is answered 429. azure-core marks the
    operation Failed when any of its requests is refused: that must not end it as failed (a
    finalize whose import's last read was throttled failed its pair; seen in the throttled
    fleet benchmark)."""
    cloud, op = _budgeted_snapshot(admin, emulator, rg, redis_db, "snap-final", lro_latency=0.2)
    time.sleep(0.5)  # it has ended
    admin.add_fault("Microsoft.Compute/snapshots/read", status=429, code="SubscriptionRequestsThrottled",
                    message="Number of read requests exceeded the limit (injected).", retry_after=1, count=1)

    with pytest.raises(RetryLater) as throttled:
        cloud.check(Operation.from_json(op.to_json()))

    assert not isinstance(throttled.value, OperationFailed)
    assert throttled.value.code == "SubscriptionRequestsThrottled"
    checked, _ = _until_done(cloud, op)  # the same operation, checked again, ends with what it made
    assert checked.body is not None and checked.body["name"] == "snap-final"


def test_an_operation_says_when_to_check_it_again(cloud: Cloud, admin: AdminClient, emulator: EmulatorProcess,
                                                  rg: str) -> None:
    """Azure's Retry-After, on the first answer and on a status answer while it runs, is what
    the operation keeps as its due time and what a check reports."""
    disk_id = _vm_disk(emulator, rg)
    admin.set(lro_latency=4.0, lro_retry_after=2.0)
    op = cloud.compute.create_snapshot(disk_id.replace("/disks/vm-osdisk", "/snapshots/snap-due"), source_id=disk_id,
                                       location="francecentral", tags={})
    assert not op.done and 1.5 <= op.due - op.started <= 2.0
    checked = cloud.check(Operation.from_json(op.to_json()))
    assert not checked.done and checked.retry_after == 2.0
    _until_done(cloud, op)


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "10"}, 10.0),
    ({"retry-after-ms": "250", "Retry-After": "1"}, 0.25),  # the SDKs read the finer one first
    ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # a date: not a delay we follow
    ({}, None),
])
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after(headers) == seconds


@pytest.mark.parametrize(("url", "region"), [
    ("https://management.azure.com/subscriptions/s/providers/Microsoft.Compute/locations/westeurope/operations/"
     "1b2c?api-version=2024-03-02", "westeurope"),
    ("https://management.azure.com/subscriptions/s/providers/Microsoft.Storage/locations/BrazilSouth/"
     "asyncoperations/9f?monitor=true&api-version=2023-05-01", "brazilsouth"),
    ("https://management.azure.com/subscriptions/s/operationresults/eyJqb2JJZCI6?api-version=2021-04-01", ""),
    ("", ""),
])
def test_an_operations_region_is_read_from_its_status_url(url: str, region: str) -> None:
    """ARM's resource providers name the region that runs an operation in its status URL; one
    that names none (Microsoft.Resources' operation results) leaves it unknown."""
    assert region_of(url) == region
