"""What Azure will not undo: a VM it cannot start again, deletes refused in a locked group.

Cleanup records each as a ``cleanup_error`` (on the source or the pair, saying what is
left), goes on with the rest, and the job ends: failed for the CLI, but not hanging, and
with nothing else left behind.
"""

from __future__ import annotations

from diskferry.emulator.admin_client import AdminClient
from diskferry.model import Phase
from tests.conftest import Clients
from tests.fleet.checks import assert_clean, assert_image_content, assert_same_content, job_disks, power_state
from tests.fleet.conftest import Fleet, vm_job
from tests.fleet.images import seed_image
from tests.fleet.sources import seed_vms, unique_rg
from tests.fleet.test_cli import diskferry

START = "Microsoft.Compute/virtualMachines/start/action"


def test_a_vm_that_cannot_be_started_again_ends_the_job_failed_and_clean(
        fleet: Fleet, fast_copies: AdminClient, clients: Clients) -> None:
    """Azure may refuse to start a deallocated VM (``AllocationFailed``): the job still
    cleans up everything else (the staging account too) and ends, failed, saying so."""
    rg = unique_rg("nostart")
    (vm,) = seed_vms(fleet, rg, {"name": "big", "os_disk": 1, "data_disks": [1]})
    fast_copies.add_fault(START, kind="lro", count=-1, status=409, code="AllocationFailed",
                          message="Allocation failed. We do not have sufficient capacity (injected).")
    job_id = fleet.submit(vm_job(rg, ["big"], [{"region": "westeurope", "resource_group": f"we-{rg}"},
                                               {"region": "brazilsouth", "resource_group": f"br-{rg}"}],
                                 consistency="deallocate"))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded and status.cleaned, status
    assert_same_content(fleet, vm, status)
    ((where, error),) = status.cleanup_errors()
    assert where == "big" and error.code == "AllocationFailed"
    assert error.message.endswith("(injected).; VM big is left deallocated"), error.message
    assert power_state(clients, rg, "big") == "PowerState/deallocated"
    shown = diskferry(fleet, "status", job_id)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    assert "big: cleanup: AllocationFailed: start VM big: Allocation failed." in shown.stderr
    assert_clean(fleet, job_id)


def test_a_staging_account_azure_will_not_delete_ends_the_job_failed(fleet: Fleet, fast_copies: AdminClient) -> None:
    """A resource group locked against deletes (``ScopeLocked``) keeps the job's staging
    account: the job ends all the same, every disk replicated, and says what was left."""
    rg = unique_rg("locked")
    (vm,) = seed_vms(fleet, rg, {"name": "app", "os_disk": 1, "data_disks": [1]})
    fast_copies.add_fault("Microsoft.Storage/storageAccounts/delete", count=-1, status=409, code="ScopeLocked",
                          message=f"The scope 'br-{rg}' cannot perform delete operation because following scope(s) "
                                  "are locked: 'no-delete'. (injected)")
    job_id = fleet.submit(vm_job(rg, ["app"], [{"region": "brazilsouth", "resource_group": f"br-{rg}"}]))
    status = fleet.wait(job_id)

    assert status.phase is Phase.succeeded and status.cleaned, status
    assert_same_content(fleet, vm, status)
    ((where, error),) = status.cleanup_errors()
    account = fleet.store.job(job_id).targets[0].staging
    assert account is not None
    assert where == "app → brazilsouth" and error.code == "ScopeLocked"
    assert error.message.endswith(f"; staging account {account.name} is left"), error.message
    # only the account: its staged VHDs, the snapshots and the grants are gone
    assert [i["kind"] for i in fleet.leftovers(job_id)] == ["storageaccount"]
    shown = diskferry(fleet, "status", job_id)
    assert shown.returncode == 1
    assert f"app → brazilsouth: cleanup: ScopeLocked: delete storage account {account.name}" in shown.stderr
    fast_copies.clear_faults()
    fleet.cloud.storage.delete_account(fleet.settings.azure.subscription_id or "", f"br-{rg}", account.name)
    assert_clean(fleet, job_id)


def test_temporary_image_disks_azure_will_not_delete_leave_the_image_made(fleet: Fleet, fast_copies: AdminClient,
                                                                          clients: Clients) -> None:
    rg = unique_rg("lockimg")
    image = seed_image(fleet, rg, "golden", 1, [1])
    fast_copies.add_fault("Microsoft.Compute/disks/delete", count=-1, status=409, code="ScopeLocked",
                          message=f"The scope 'we-{rg}' cannot perform delete operation (injected)")
    job_id = fleet.submit({"source": {"resource_group": rg, "images": ["golden"]},
                           "targets": [{"region": "westeurope", "resource_group": f"we-{rg}"}]})
    status = fleet.wait(job_id)

    # the image was made: the replication succeeded; the disks it was built from are left
    assert status.phase is Phase.succeeded and status.cleaned, status
    (target,) = status.targets()
    assert target.image_id
    assert_image_content(fleet, image, target.image_id)
    ((where, error),) = status.cleanup_errors()
    assert where == "golden → westeurope" and error.code == "ScopeLocked"
    assert error.message.endswith("; temporary disks may be left")
    left = job_disks(clients, job_id)
    assert len(left) == 2 and {(d.tags or {})["diskferry-role"] for d in left} == {"temporary"}
    fast_copies.clear_faults()
    for disk in left:
        if (deleting := fleet.cloud.compute.delete(str(disk.id))) is not None:
            fleet.cloud.compute.wait(deleting)
    assert_clean(fleet, job_id)
