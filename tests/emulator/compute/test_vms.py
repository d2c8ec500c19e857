"""Virtual machines with attached managed disks: attach rules, power states, disk states."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import Clients
from tests.emulator.compute.helpers import LOCATION, code_of, empty_disk, name, new_vm, upload_disk, vm_body, vm_nic


def _states(clients: Clients, rg: str, *disk_names: str) -> list[object]:
    return [clients.compute.disks.get(rg, d).disk_state for d in disk_names]


def _power(clients: Clients, rg: str, vm: str) -> str:
    view = clients.compute.virtual_machines.instance_view(rg, vm)
    return next(s.code for s in view.statuses if s.code.startswith("PowerState/"))


def test_create_attaches_the_disks(clients: Clients, rg: str) -> None:
    os_disk = empty_disk(clients, rg, gb=2)
    data = [empty_disk(clients, rg, gb=1), empty_disk(clients, rg, gb=3)]
    vm = new_vm(clients, rg, os_disk.id, [d.id for d in data])
    assert vm.provisioning_state == "Succeeded"
    assert vm.location == LOCATION
    assert vm.vm_id
    profile = vm.storage_profile
    assert profile.os_disk.managed_disk.id == os_disk.id
    assert (profile.os_disk.name, profile.os_disk.os_type, profile.os_disk.disk_size_gb) == (os_disk.name, "Linux", 2)
    assert [(d.lun, d.name, d.disk_size_gb, d.create_option) for d in profile.data_disks] == [
        (0, data[0].name, 1, "Attach"),
        (1, data[1].name, 3, "Attach"),
    ]
    assert len(vm.network_profile.network_interfaces) == 1  # a VM needs a NIC (new_vm makes one)
    for disk in [os_disk, *data]:
        got = clients.compute.disks.get(rg, disk.name)
        assert got.managed_by == vm.id
        assert got.disk_state == "Attached"
        assert got.last_ownership_update_time is not None


def test_get_list_and_instance_view(clients: Clients, rg: str) -> None:
    vm = new_vm(clients, rg, empty_disk(clients, rg).id)
    plain = clients.compute.virtual_machines.get(rg, vm.name)
    assert plain.instance_view is None
    expanded = clients.compute.virtual_machines.get(rg, vm.name, expand="instanceView")
    codes = [s.code for s in expanded.instance_view.statuses]
    assert codes == ["ProvisioningState/succeeded", "PowerState/running"]
    view = clients.compute.virtual_machines.instance_view(rg, vm.name)
    assert [s.display_status for s in view.statuses] == ["Provisioning succeeded", "VM running"]
    assert [d.name for d in view.disks] == [vm.storage_profile.os_disk.name]
    assert vm.name in [v.name for v in clients.compute.virtual_machines.list(rg)]
    assert vm.id in [v.id for v in clients.compute.virtual_machines.list_all()]
    with pytest.raises(ResourceNotFoundError) as err:
        clients.compute.virtual_machines.get(rg, "nope")
    assert code_of(err) == "ResourceNotFound"


def test_power_states_drive_disk_states(clients: Clients, rg: str) -> None:
    os_disk, data = empty_disk(clients, rg), empty_disk(clients, rg)
    vm = new_vm(clients, rg, os_disk.id, [data.id])
    clients.compute.virtual_machines.begin_power_off(rg, vm.name).result()
    assert _power(clients, rg, vm.name) == "PowerState/stopped"
    assert _states(clients, rg, os_disk.name, data.name) == ["Attached", "Attached"]  # still allocated
    clients.compute.virtual_machines.begin_deallocate(rg, vm.name).result()
    assert _power(clients, rg, vm.name) == "PowerState/deallocated"
    assert _states(clients, rg, os_disk.name, data.name) == ["Reserved", "Reserved"]
    clients.compute.virtual_machines.begin_start(rg, vm.name).result()
    assert _power(clients, rg, vm.name) == "PowerState/running"
    assert _states(clients, rg, os_disk.name, data.name) == ["Attached", "Attached"]


def test_grant_needs_a_deallocated_vm_and_blocks_its_start(clients: Clients, rg: str) -> None:
    os_disk, data = empty_disk(clients, rg), empty_disk(clients, rg)
    vm = new_vm(clients, rg, os_disk.id, [data.id])
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.disks.begin_grant_access(rg, data.name, {"access": "Read", "durationInSeconds": 60})
    assert err.value.status_code == 409
    assert code_of(err) == "Conflict"
    assert f"is currently attached to running VM {vm.id}" in str(err.value)
    clients.compute.virtual_machines.begin_deallocate(rg, vm.name).result()
    clients.compute.disks.begin_grant_access(rg, data.name, {"access": "Read", "durationInSeconds": 60}).result()
    assert _states(clients, rg, os_disk.name, data.name) == ["Reserved", "ActiveSAS"]
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.virtual_machines.begin_start(rg, vm.name)
    assert code_of(err) == "OperationNotAllowed"
    assert _power(clients, rg, vm.name) == "PowerState/deallocated"
    clients.compute.disks.begin_revoke_access(rg, data.name).result()
    assert _states(clients, rg, data.name) == ["Reserved"]
    clients.compute.virtual_machines.begin_start(rg, vm.name).result()
    assert _states(clients, rg, data.name) == ["Attached"]


def test_a_vm_without_a_nic_is_refused(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg)
    with pytest.raises(HttpResponseError) as err:
        clients.compute.virtual_machines.begin_create_or_update(rg, name("vm"), vm_body(disk.id))
    assert (err.value.status_code, code_of(err)) == (400, "InvalidParameter")
    assert "networkProfile" in str(err.value)
    assert _states(clients, rg, disk.name) == ["Unattached"]


def test_attach_rules(clients: Clients, rg: str) -> None:
    os_disk = empty_disk(clients, rg)
    vm = new_vm(clients, rg, os_disk.id)
    # a disk attached elsewhere
    with pytest.raises(ResourceExistsError) as err:
        new_vm(clients, rg, empty_disk(clients, rg).id, [os_disk.id])
    assert code_of(err) == "ConflictingUserInput"
    assert f"cannot be attached as the disk is already owned by VM '{vm.id}'" in str(err.value)
    # a disk with an active SAS, or still being uploaded
    granted = empty_disk(clients, rg)
    clients.compute.disks.begin_grant_access(rg, granted.name, {"access": "Read", "durationInSeconds": 60}).result()
    with pytest.raises(ResourceExistsError) as err:
        new_vm(clients, rg, granted.id)
    assert code_of(err) == "OperationNotAllowed"
    with pytest.raises(ResourceExistsError):
        new_vm(clients, rg, upload_disk(clients, rg).id)
    # unknown disk, other region, same LUN twice, unsupported create option
    with pytest.raises(ResourceNotFoundError):
        new_vm(clients, rg, os_disk.id.rsplit("/", 1)[0] + "/missing")
    with pytest.raises(HttpResponseError) as err:
        new_vm(clients, rg, empty_disk(clients, rg, location="brazilsouth").id)
    assert (err.value.status_code, code_of(err)) == (400, "InvalidParameter")
    a, b = empty_disk(clients, rg), empty_disk(clients, rg)
    nic = vm_nic(clients, rg)
    body = vm_body(empty_disk(clients, rg).id, [a.id, b.id], nic_ids=[nic])
    body["properties"]["storageProfile"]["dataDisks"][1]["lun"] = 0
    with pytest.raises(HttpResponseError) as err:
        clients.compute.virtual_machines.begin_create_or_update(rg, name("vm"), body)
    assert (err.value.status_code, code_of(err)) == (400, "InvalidParameter")
    body = vm_body(a.id, nic_ids=[nic])
    body["properties"]["storageProfile"]["osDisk"]["createOption"] = "FromImage"
    with pytest.raises(HttpResponseError) as err:
        clients.compute.virtual_machines.begin_create_or_update(rg, name("vm"), body)
    assert err.value.status_code == 400
    body = vm_body(a.id, nic_ids=[nic])
    body["properties"]["osProfile"] = {"computerName": "vm", "adminUsername": "azureuser"}
    with pytest.raises(HttpResponseError) as err:
        clients.compute.virtual_machines.begin_create_or_update(rg, name("vm"), body)
    assert (err.value.status_code, code_of(err)) == (400, "InvalidParameter")
    # nothing was attached by the refused requests
    assert _states(clients, rg, granted.name, a.name, b.name) == ["ActiveSAS", "Unattached", "Unattached"]


def test_an_attached_disk_cannot_be_deleted(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg)
    vm = new_vm(clients, rg, disk.id)
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.disks.begin_delete(rg, disk.name)
    assert code_of(err) == "OperationNotAllowed"
    assert f"is attached to VM {vm.id}" in str(err.value)


def test_delete_detaches_or_deletes_disks_as_their_delete_option_says(clients: Clients, rg: str) -> None:
    os_disk, keep, doomed = empty_disk(clients, rg), empty_disk(clients, rg), empty_disk(clients, rg)
    body = vm_body(os_disk.id, [keep.id, doomed.id], nic_ids=[vm_nic(clients, rg)])
    body["properties"]["storageProfile"]["dataDisks"][1]["deleteOption"] = "Delete"
    vm_name = name("vm")
    clients.compute.virtual_machines.begin_create_or_update(rg, vm_name, body).result()
    clients.compute.virtual_machines.begin_delete(rg, vm_name).result()
    with pytest.raises(ResourceNotFoundError):
        clients.compute.virtual_machines.get(rg, vm_name)
    for disk in (os_disk, keep):
        got = clients.compute.disks.get(rg, disk.name)
        assert (got.managed_by, got.disk_state) == (None, "Unattached")
    with pytest.raises(ResourceNotFoundError):
        clients.compute.disks.get(rg, doomed.name)
    clients.compute.disks.begin_delete(rg, os_disk.name).result()
    clients.compute.virtual_machines.begin_delete(rg, vm_name).result()  # absent: done


def test_put_on_an_existing_vm_attaches_and_detaches_data_disks(clients: Clients, rg: str) -> None:
    os_disk, first, second = empty_disk(clients, rg), empty_disk(clients, rg), empty_disk(clients, rg)
    vm = new_vm(clients, rg, os_disk.id, [first.id])
    nics = [n.id for n in vm.network_profile.network_interfaces]
    updated = clients.compute.virtual_machines.begin_create_or_update(
        rg, vm.name, {**vm_body(os_disk.id, [second.id], nic_ids=nics), "tags": {"t": "1"}}
    ).result()
    assert updated.vm_id == vm.vm_id
    assert updated.tags == {"t": "1"}
    assert [d.name for d in updated.storage_profile.data_disks] == [second.name]
    assert _states(clients, rg, first.name, second.name) == ["Unattached", "Attached"]
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.virtual_machines.begin_create_or_update(rg, vm.name, vm_body(first.id, nic_ids=nics))
    assert code_of(err) == "PropertyChangeNotAllowed"


def test_lro_fault_on_vm_create_attaches_nothing(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg)
    admin.add_fault("Microsoft.Compute/virtualMachines/write", kind="lro", code="AllocationFailed")
    vm_name = name("vm")
    with pytest.raises(HttpResponseError) as err:
        new_vm(clients, rg, disk.id, vm=vm_name)
    assert code_of(err) == "AllocationFailed"
    with pytest.raises(ResourceNotFoundError):
        clients.compute.virtual_machines.get(rg, vm_name)
    assert _states(clients, rg, disk.name) == ["Unattached"]


def test_lro_fault_on_deallocate_keeps_the_vm_running(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg)
    vm = new_vm(clients, rg, disk.id)
    admin.add_fault("Microsoft.Compute/virtualMachines/deallocate/action", kind="lro", code="InternalExecutionError")
    with pytest.raises(HttpResponseError):
        clients.compute.virtual_machines.begin_deallocate(rg, vm.name).result()
    assert _power(clients, rg, vm.name) == "PowerState/running"
    assert _states(clients, rg, disk.name) == ["Attached"]


def test_deallocate_latency(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg)
    vm = new_vm(clients, rg, disk.id)
    admin.set(lro_latency=1.5)
    poller = clients.compute.virtual_machines.begin_deallocate(rg, vm.name)
    assert _power(clients, rg, vm.name) == "PowerState/deallocating"
    assert _states(clients, rg, disk.name) == ["Attached"]
    poller.result()
    assert _states(clients, rg, disk.name) == ["Reserved"]


def test_dual_pass_disk_encryption_settings_are_kept_on_the_vm(clients: Clients, rg: str) -> None:
    """Azure Disk Encryption's first version records the OS disk's key on the VM
    (``osDisk.encryptionSettings``): kept and listed as given; enabled, it needs the key."""
    vault = f"/subscriptions/x/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/ade"
    key = {"secretUrl": "https://ade.vault.azure.net/secrets/disk/1", "sourceVault": {"id": vault}}
    nic = vm_nic(clients, rg)
    vms = clients.compute.virtual_machines
    body = vm_body(empty_disk(clients, rg).id, nic_ids=[nic])
    body["properties"]["storageProfile"]["osDisk"]["encryptionSettings"] = {"enabled": True}
    with pytest.raises(HttpResponseError) as err:
        vms.begin_create_or_update(rg, name("vm"), body)
    assert err.value.status_code == 400 and "diskEncryptionKey" in str(err.value)

    body["properties"]["storageProfile"]["osDisk"]["encryptionSettings"] = {"enabled": True, "diskEncryptionKey": key}
    vm = vms.begin_create_or_update(rg, name("vm"), body).result()
    settings = vm.storage_profile.os_disk.encryption_settings
    assert settings.enabled and settings.disk_encryption_key.secret_url == key["secretUrl"]
    assert settings.disk_encryption_key.source_vault.id == vault
    listed = next(v for v in vms.list(rg) if v.name == vm.name)
    assert listed.storage_profile.os_disk.encryption_settings.enabled
    # a VM without them has none
    plain = new_vm(clients, rg, empty_disk(clients, rg).id)
    assert plain.storage_profile.os_disk.encryption_settings is None
