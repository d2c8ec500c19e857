"""Snapshots of managed disks: full and incremental, reads, deletes and the disks made from them."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import Clients
from tests.emulator.compute.helpers import GIB, LOCATION, code_of, copy_of, empty_disk, grant, name, new_vm


def test_full_snapshot_of_a_disk_on_a_running_vm(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg, gb=3, osType="Linux", hyperVGeneration="V2")
    new_vm(clients, rg, disk.id)  # crash-consistent snapshots do not need the VM stopped
    snap = copy_of(clients, rg, disk.id, kind="snapshot")
    assert snap.type == "Microsoft.Compute/snapshots"
    assert snap.provisioning_state == "Succeeded"
    assert snap.incremental is False
    assert (snap.sku.name, snap.sku.tier) == ("Standard_LRS", "Standard")
    assert (snap.disk_size_gb, snap.disk_size_bytes) == (3, 3 * GIB)
    assert (snap.os_type, snap.hyper_v_generation) == ("Linux", "V2")
    assert snap.creation_data.source_resource_id == disk.id
    assert snap.creation_data.source_unique_id == disk.unique_id
    assert snap.managed_by is None
    assert admin.hash(snap.id)["sha256"] == admin.hash(disk.id)["sha256"]


def test_incremental_snapshots_of_one_disk_share_a_family(clients: Clients, rg: str) -> None:
    disk, other = empty_disk(clients, rg), empty_disk(clients, rg)
    first = copy_of(clients, rg, disk.id, kind="snapshot", incremental=True)
    second = copy_of(clients, rg, disk.id, kind="snapshot", incremental=True)
    elsewhere = copy_of(clients, rg, other.id, kind="snapshot", incremental=True)
    assert first.incremental and second.incremental
    assert first.incremental_snapshot_family_id == second.incremental_snapshot_family_id
    assert elsewhere.incremental_snapshot_family_id != first.incremental_snapshot_family_id
    body = {
        "location": LOCATION,
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disk.id}, "incremental": False},
    }
    with pytest.raises(HttpResponseError) as err:
        clients.compute.snapshots.begin_create_or_update(rg, first.name, body)
    assert code_of(err) == "PropertyChangeNotAllowed"


def test_get_list_delete(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg)
    snaps = sorted(copy_of(clients, rg, disk.id, kind="snapshot").name for _ in range(2))
    assert sorted(s.name for s in clients.compute.snapshots.list_by_resource_group(rg)) == snaps
    assert set(snaps) <= {s.name for s in clients.compute.snapshots.list()}
    clients.compute.snapshots.begin_delete(rg, snaps[0]).result()
    with pytest.raises(ResourceNotFoundError) as err:
        clients.compute.snapshots.get(rg, snaps[0])
    assert code_of(err) == "ResourceNotFound"
    clients.compute.snapshots.begin_delete(rg, snaps[0]).result()  # already gone: done
    # the disk does not depend on its snapshots, nor they on it
    clients.compute.disks.begin_delete(rg, disk.name).result()
    assert clients.compute.snapshots.get(rg, snaps[1]).provisioning_state == "Succeeded"


def test_disks_from_snapshots_and_snapshots_of_snapshots(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg, gb=2, osType="Windows")
    snap = copy_of(clients, rg, disk.id, kind="snapshot")
    again = copy_of(clients, rg, snap.id, kind="snapshot")
    restored = copy_of(clients, rg, again.id, sku={"name": "Premium_LRS"})
    assert (restored.disk_size_gb, restored.os_type, restored.sku.name) == (2, "Windows", "Premium_LRS")
    assert restored.creation_data.source_resource_id == again.id
    assert admin.hash(restored.id)["sha256"] == admin.hash(disk.id)["sha256"]


def test_snapshot_rules(clients: Clients, rg: str) -> None:
    far = empty_disk(clients, rg, location="brazilsouth")
    with pytest.raises(HttpResponseError) as err:
        copy_of(clients, rg, far.id, kind="snapshot")
    assert (err.value.status_code, code_of(err)) == (400, "BadRequest")
    body = {"location": LOCATION, "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}
    with pytest.raises(HttpResponseError) as err:
        clients.compute.snapshots.begin_create_or_update(rg, name("snap"), body)
    assert (err.value.status_code, code_of(err)) == (400, "InvalidParameter")
    body = {"location": LOCATION, "sku": {"name": "Premium_ZRS"},
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": far.id}}}
    with pytest.raises(HttpResponseError) as err:
        clients.compute.snapshots.begin_create_or_update(rg, name("snap"), body)
    assert err.value.status_code == 400


@pytest.mark.parametrize("sku", ["PremiumV2_LRS", "UltraSSD_LRS"])
def test_a_premium_v2_or_ultra_disk_takes_incremental_snapshots_copied_in_the_background(
        clients: Clients, rg: str, admin: AdminClient, sku: str) -> None:
    admin.set(background_copy_seconds=2.0)
    disk = clients.compute.disks.begin_create_or_update(rg, name("v2"), {
        "location": LOCATION, "sku": {"name": sku},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 4}}).result()
    # a full snapshot is refused, and nothing is made
    with pytest.raises(HttpResponseError) as err:
        copy_of(clients, rg, disk.id, kind="snapshot")
    assert (err.value.status_code, code_of(err)) == (400, "OperationNotAllowed")
    assert "incremental" in str(err.value.message)
    assert not [s for s in clients.compute.snapshots.list_by_resource_group(rg)]

    snap = copy_of(clients, rg, disk.id, kind="snapshot", incremental=True)
    assert snap.provisioning_state == "Succeeded" and snap.incremental
    assert snap.snapshot_access_state == "Pending" and snap.completion_percent < 100
    # while it is copied, it can be neither exported nor copied
    with pytest.raises(HttpResponseError) as err:
        grant(clients, rg, snap.name, kind="snapshot")
    assert (err.value.status_code, code_of(err)) == (409, "OperationNotAllowed")
    with pytest.raises(HttpResponseError) as err:
        copy_of(clients, rg, snap.id)
    assert err.value.status_code == 409
    time.sleep(2.1)
    done = clients.compute.snapshots.get(rg, snap.name)
    assert (done.snapshot_access_state, done.completion_percent) == ("Available", 100.0)
    assert [s.snapshot_access_state for s in clients.compute.snapshots.list_by_resource_group(rg)] == ["Available"]
    assert grant(clients, rg, snap.name, kind="snapshot").startswith("https://")
    clients.compute.snapshots.begin_revoke_access(rg, snap.name).result()
    assert copy_of(clients, rg, snap.id).provisioning_state == "Succeeded"


def test_other_disks_snapshots_are_not_copied_in_the_background(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg)
    snap = copy_of(clients, rg, disk.id, kind="snapshot", incremental=True)
    assert snap.snapshot_access_state is None and snap.completion_percent is None
    assert grant(clients, rg, snap.name, kind="snapshot").startswith("https://")
