"""Managed disks through azure-mgmt-compute: create options, reads, updates, deletes, rules."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from tests.conftest import Clients
from tests.emulator.compute.helpers import (
    FOOTER,
    GIB,
    LOCATION,
    MIB,
    RawArm,
    code_of,
    copy_of,
    empty_body,
    empty_disk,
    grant,
    name,
    upload_disk,
)
from tests.emulator.sdkwaits import sdk_waits


def test_empty_disk_round_trips_its_properties(clients: Clients, rg: str) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    disk_name = name("disk")
    body = {
        "location": "France Central",
        "sku": {"name": "premium_lrs"},
        "tags": {"diskferry-job": "j1", "k": "v"},
        "zones": ["2"],
        "properties": {
            "creationData": {"createOption": "Empty"},
            "diskSizeGB": 4,
            "osType": "Linux",
            "hyperVGeneration": "V2",
        },
    }
    made = clients.compute.disks.begin_create_or_update(rg, disk_name, body).result()
    got = clients.compute.disks.get(rg.upper(), disk_name.upper())  # ARM names are case-insensitive
    for disk in (made, got):
        assert disk.id.lower() == (
            f"/subscriptions/{clients.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{disk_name}"
        ).lower()
        assert disk.name == disk_name
        assert disk.type == "Microsoft.Compute/disks"
        assert disk.location == LOCATION
        assert (disk.sku.name, disk.sku.tier) == ("Premium_LRS", "Premium")
        assert disk.tags == {"diskferry-job": "j1", "k": "v"}
        assert disk.zones == ["2"]
        assert disk.disk_size_gb == 4
        assert disk.disk_size_bytes == 4 * GIB
        assert disk.os_type == "Linux"
        assert disk.hyper_v_generation == "V2"
        assert disk.creation_data.create_option == "Empty"
        assert disk.provisioning_state == "Succeeded"
        assert disk.disk_state == "Unattached"
        assert disk.managed_by is None
        assert disk.unique_id and disk.unique_id == made.unique_id
        assert before <= disk.time_created <= datetime.now(UTC)


def test_list_by_group_and_subscription_follows_next_links(
    clients: Clients, rg: str, admin: AdminClient
) -> None:
    names = sorted(empty_disk(clients, rg).name for _ in range(3))
    other_rg = name("rg")
    clients.resource.resource_groups.create_or_update(other_rg, {"location": LOCATION})
    elsewhere = empty_disk(clients, other_rg).name
    admin.set(page_size=2)
    admin.reset_counters()
    assert sorted(d.name for d in clients.compute.disks.list_by_resource_group(rg)) == names
    assert admin.counters()["Microsoft.Compute/disks/read"] == 2  # two pages
    everywhere = {d.name for d in clients.compute.disks.list()}
    assert set(names) | {elsewhere} <= everywhere
    clients.resource.resource_groups.begin_delete(other_rg).result()


def test_unknown_disk_and_group_answer_404(clients: Clients, rg: str) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        clients.compute.disks.get(rg, "nope")
    assert code_of(err) == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as err:
        clients.compute.disks.get("no-such-group", "nope")
    assert code_of(err) == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError) as err:
        list(clients.compute.disks.list_by_resource_group("no-such-group"))
    assert code_of(err) == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError) as err:
        empty_disk(clients, "no-such-group")
    assert code_of(err) == "ResourceGroupNotFound"


def test_delete_is_long_running_and_a_missing_disk_is_already_gone(clients: Clients, rg: str, raw: RawArm) -> None:
    disk = empty_disk(clients, rg)
    resp = raw.call("DELETE", f"{raw.rg_path(rg)}/disks/{disk.name}?api-version=2024-03-02")
    assert resp.status_code == 202
    assert resp.headers["Azure-AsyncOperation"].startswith("https://")
    assert resp.headers["Location"].startswith("https://")
    assert "Retry-After" in resp.headers or "retry-after-ms" in resp.headers
    with pytest.raises(ResourceNotFoundError):
        clients.compute.disks.get(rg, disk.name)
    again = raw.call("DELETE", f"{raw.rg_path(rg)}/disks/{disk.name}?api-version=2024-03-02")
    assert again.status_code == 204
    clients.compute.disks.begin_delete(rg, disk.name).result()  # the SDK takes 204 as done


def test_put_on_an_existing_disk_updates_what_azure_allows(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg, gb=2, osType="Linux")
    body = {
        "location": LOCATION,
        "sku": {"name": "StandardSSD_LRS"},
        "tags": {"new": "1"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 8},
    }
    updated = clients.compute.disks.begin_create_or_update(rg, disk.name, body).result()
    assert updated.unique_id == disk.unique_id
    assert (updated.sku.name, updated.sku.tier) == ("StandardSSD_LRS", "Standard")
    assert updated.tags == {"new": "1"}
    assert (updated.disk_size_gb, updated.disk_size_bytes) == (8, 8 * GIB)
    assert updated.os_type == "Linux"  # not given again, kept
    # PUT semantics: tags not given are removed
    body.pop("tags")
    assert clients.compute.disks.begin_create_or_update(rg, disk.name, body).result().tags in (None, {})


def test_patch_changes_only_what_it_names(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg, gb=1)
    clients.compute.disks.begin_update(rg, disk.name, {"tags": {"a": "1"}}).result()
    grown = clients.compute.disks.begin_update(rg, disk.name, {"properties": {"diskSizeGB": 3}}).result()
    assert grown.tags == {"a": "1"}
    assert grown.disk_size_gb == 3
    assert clients.compute.disks.get(rg, disk.name).disk_size_bytes == 3 * GIB


def test_refused_updates(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg, gb=4)
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_update(rg, disk.name, {"properties": {"diskSizeGB": 2}})
    assert err.value.status_code == 400
    assert "reduction is not supported" in str(err.value)
    with pytest.raises(ResourceExistsError) as err:
        empty_disk(clients, rg, disk.name, gb=4, location="brazilsouth")
    assert code_of(err) == "InvalidResourceLocation"
    copy_body = {
        "location": LOCATION,
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disk.id}},
    }
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.disks.begin_create_or_update(rg, disk.name, copy_body)
    assert code_of(err) == "PropertyChangeNotAllowed"
    assert "createOption" in str(err.value)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"properties": {"creationData": {"createOption": "Empty"}}}, "BadRequest"),  # no size
        ({"properties": {"creationData": {}}}, "BadRequest"),  # no createOption
        ({"sku": {"name": "Gold_LRS"}, "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}},
         "InvalidParameter"),
        ({"properties": {"creationData": {"createOption": "Restore"}, "diskSizeGB": 1}}, "InvalidParameter"),
    ],
)
def test_bad_create_requests_answer_400(clients: Clients, rg: str, body: dict[str, object], code: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_create_or_update(rg, name("bad"), {"location": LOCATION, **body})
    assert err.value.status_code == 400
    assert code_of(err) == code


def test_missing_location_is_refused(clients: Clients, rg: str) -> None:
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_create_or_update(
            rg, name("bad"), {"properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 1}}
        )
    assert (err.value.status_code, code_of(err)) == (400, "LocationRequired")


def test_a_disk_cannot_be_made_from_a_managed_image(clients: Clients, rg: str) -> None:
    snap = copy_of(clients, rg, empty_disk(clients, rg).id, kind="snapshot")
    image = clients.compute.images.begin_create_or_update(
        rg,
        name("img"),
        {"location": LOCATION, "properties": {"storageProfile": {
            "osDisk": {"osType": "Linux", "osState": "Generalized", "snapshot": {"id": snap.id}}}}},
    ).result()
    body = {
        "location": LOCATION,
        "properties": {"creationData": {"createOption": "FromImage", "imageReference": {"id": image.id}}},
    }
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_create_or_update(rg, name("fromimg"), body)
    assert (err.value.status_code, code_of(err)) == (400, "InvalidParameter")
    assert "imageReference" in str(err.value)


def test_copy_in_the_same_region(clients: Clients, rg: str, admin: AdminClient) -> None:
    source = empty_disk(clients, rg, gb=2, osType="Windows", hyperVGeneration="V2")
    copied = copy_of(clients, rg, source.id)
    assert copied.creation_data.create_option == "Copy"
    assert copied.creation_data.source_resource_id == source.id
    assert copied.creation_data.source_unique_id == source.unique_id
    assert (copied.disk_size_gb, copied.os_type, copied.hyper_v_generation) == (2, "Windows", "V2")
    assert copied.unique_id != source.unique_id
    assert admin.hash(copied.id)["sha256"] == admin.hash(source.id)["sha256"]
    bigger = copy_of(clients, rg, source.id, diskSizeGB=5)
    assert bigger.disk_size_bytes == 5 * GIB
    with pytest.raises(HttpResponseError) as err:
        copy_of(clients, rg, source.id, diskSizeGB=1)
    assert err.value.status_code == 400


def test_copy_from_another_region_or_a_missing_source_is_refused(clients: Clients, rg: str) -> None:
    far = empty_disk(clients, rg, location="brazilsouth")
    with pytest.raises(HttpResponseError) as err:
        copy_of(clients, rg, far.id)
    assert (err.value.status_code, code_of(err)) == (400, "BadRequest")
    assert "brazilsouth" in str(err.value)
    with pytest.raises(ResourceNotFoundError):
        copy_of(clients, rg, far.id.rsplit("/", 1)[0] + "/missing")


@pytest.mark.parametrize(
    ("size", "words"),
    [
        (20 * MIB + FOOTER + 512, "must be a multiple of MiB"),
        (10 * MIB + FOOTER, "must be between"),
        (20 * MIB, "must be"),
    ],
)
def test_upload_sizes_azure_refuses(clients: Clients, rg: str, size: int, words: str) -> None:
    body = {"location": LOCATION, "properties": {"creationData": {"createOption": "Upload", "uploadSizeBytes": size}}}
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_create_or_update(rg, name("up"), body)
    assert (err.value.status_code, code_of(err)) == (400, "BadRequest")
    assert words in str(err.value)


def test_upload_flow_states_and_rules(clients: Clients, rg: str) -> None:
    disk = upload_disk(clients, rg, content_mib=20)
    assert disk.disk_state == "ReadyToUpload"
    assert disk.disk_size_bytes == 20 * MIB
    assert disk.creation_data.upload_size_bytes == 20 * MIB + FOOTER
    # nothing to read yet, and nothing to copy
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.disks.begin_grant_access(rg, disk.name, {"access": "Read", "durationInSeconds": 60})
    assert code_of(err) == "OperationNotAllowed"
    with pytest.raises(ResourceExistsError):
        copy_of(clients, rg, disk.id)
    assert grant(clients, rg, disk.name, access="Write").startswith("https://")
    assert clients.compute.disks.get(rg, disk.name).disk_state == "ActiveUpload"
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.disks.begin_delete(rg, disk.name)
    assert code_of(err) == "OperationNotAllowed"
    # nothing was written: no VHD footer, so ending the upload fails and changes nothing
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_revoke_access(rg, disk.name).result()
    assert code_of(err) == "InvalidVhd"
    assert "conectix" in str(err.value)
    assert clients.compute.disks.get(rg, disk.name).disk_state == "ActiveUpload"


def test_write_access_only_on_upload_disks(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg)
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.disks.begin_grant_access(rg, disk.name, {"access": "Write", "durationInSeconds": 60})
    assert code_of(err) == "OperationNotAllowed"


def test_lro_fault_fails_the_create_and_leaves_nothing(clients: Clients, rg: str, admin: AdminClient) -> None:
    admin.add_fault("Microsoft.Compute/disks/write", kind="lro", code="InternalDiskManagementError", message="boom")
    disk_name = name("faulty")
    with pytest.raises(HttpResponseError) as err:
        empty_disk(clients, rg, disk_name)
    assert code_of(err) == "InternalDiskManagementError"
    with pytest.raises(ResourceNotFoundError):
        clients.compute.disks.get(rg, disk_name)
    assert empty_disk(clients, rg, disk_name).provisioning_state == "Succeeded"  # the rule was used up


def test_lro_fault_on_update_changes_nothing(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg, gb=1)
    admin.add_fault("Microsoft.Compute/disks/write", kind="lro", code="InternalDiskManagementError")
    with pytest.raises(HttpResponseError):
        clients.compute.disks.begin_update(rg, disk.name, {"properties": {"diskSizeGB": 2}, "tags": {"a": "b"}}).wait()
    after = clients.compute.disks.get(rg, disk.name)
    assert (after.disk_size_gb, after.tags, after.provisioning_state) == (1, None, "Succeeded")


def test_lro_latency_holds_the_create(clients: Clients, rg: str, admin: AdminClient) -> None:
    admin.set(lro_latency=1.5)
    disk_name = name("slow")
    poller = clients.compute.disks.begin_create_or_update(rg, disk_name, empty_body())
    assert clients.compute.disks.get(rg, disk_name).provisioning_state == "Updating"
    assert poller.result().provisioning_state == "Succeeded"
    # without latency the SDK is told to wait next to nothing (the seconds either takes are
    # figures of tests/benchmarks/timings.py)
    admin.set(lro_latency=0)
    answers: list[Any] = []
    fast = clients.compute.disks.begin_create_or_update(rg, name("fast"), empty_body(),
                                                        raw_response_hook=answers.append)
    assert fast.result().provisioning_state == "Succeeded"
    assert sum(sdk_waits(answers)) < 0.1, sdk_waits(answers)


def _usage(data_dir: Path) -> int:
    return sum(os.stat(p).st_blocks * 512 for p in data_dir.iterdir())


def test_a_terabyte_disk_is_cheap_to_create_snapshot_and_copy(
    clients: Clients, rg: str, emulator: EmulatorProcess, admin: AdminClient
) -> None:
    data_dir = emulator.state_dir / "data"
    before = _usage(data_dir)
    disk = empty_disk(clients, rg, gb=1024)
    snap = copy_of(clients, rg, disk.id, kind="snapshot")
    copied = copy_of(clients, rg, snap.id)
    assert grant(clients, rg, copied.name)
    assert admin.hash(copied.id)["size"] == 1024 * GIB
    assert copied.disk_size_bytes == 1024 * GIB
    assert _usage(data_dir) - before < 4 * MIB


def test_deleting_the_group_deletes_its_disks_and_their_content(
    clients: Clients, emulator: EmulatorProcess
) -> None:
    group = name("rg")
    clients.resource.resource_groups.create_or_update(group, {"location": LOCATION})
    data_dir = emulator.state_dir / "data"
    files_before = set(os.listdir(data_dir))
    disk = empty_disk(clients, group)
    copy_of(clients, group, disk.id, kind="snapshot")
    grant(clients, group, disk.name)
    # two contents, nothing written: a range map each (data segments appear when written)
    made = set(os.listdir(data_dir)) - files_before
    assert len(made) == 2
    assert all(f.endswith(".ranges") for f in made)
    clients.resource.resource_groups.begin_delete(group).result()
    assert set(os.listdir(data_dir)) - files_before == set()
    clients.resource.resource_groups.create_or_update(group, {"location": LOCATION})
    assert list(clients.compute.disks.list_by_resource_group(group)) == []
    assert list(clients.compute.snapshots.list_by_resource_group(group)) == []
    clients.resource.resource_groups.begin_delete(group).result()
