"""Managed images from managed disks and snapshots (OS disk + data disks with LUNs)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from diskferry.emulator.admin_client import AdminClient
from tests.conftest import Clients
from tests.emulator.compute.helpers import LOCATION, RawArm, code_of, copy_of, empty_disk, name, upload_disk


def _image_body(os_source: dict[str, Any], data_sources: list[tuple[int, dict[str, Any]]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "location": LOCATION,
        "tags": {"diskferry-job": "j"},
        "properties": {
            "storageProfile": {
                "osDisk": {"osType": "Linux", "osState": "Generalized", **os_source},
                "dataDisks": [{"lun": lun, **src} for lun, src in data_sources],
            },
        },
    }


def test_image_from_a_disk_and_snapshots(clients: Clients, rg: str, admin: AdminClient, raw: RawArm) -> None:
    os_disk = empty_disk(clients, rg, gb=2, hyperVGeneration="V2")
    data_a = copy_of(clients, rg, empty_disk(clients, rg, gb=1).id, kind="snapshot")
    data_b = empty_disk(clients, rg, gb=3)
    image_name = name("img")
    body = _image_body({"managedDisk": {"id": os_disk.id}}, [(3, {"snapshot": {"id": data_a.id}}),
                                                          (1, {"managedDisk": {"id": data_b.id}})])
    resp = raw.call("PUT", f"{raw.rg_path(rg)}/images/{image_name}?api-version=2024-07-01", body)
    assert resp.status_code == 201  # the SDK takes 200 or 201 here
    assert resp.json()["properties"]["provisioningState"] == "Creating"
    image = clients.compute.images.get(rg, image_name)
    assert image.type == "Microsoft.Compute/images"
    assert image.provisioning_state == "Succeeded"
    assert image.hyper_v_generation == "V2"
    assert image.tags == {"diskferry-job": "j"}
    osd = image.storage_profile.os_disk
    assert (osd.os_type, osd.os_state, osd.managed_disk.id, osd.disk_size_gb) == ("Linux", "Generalized", os_disk.id, 2)
    assert [(d.lun, d.disk_size_gb) for d in image.storage_profile.data_disks] == [(3, 1), (1, 3)]
    assert image.storage_profile.data_disks[0].snapshot.id == data_a.id
    assert image_name in [i.name for i in clients.compute.images.list_by_resource_group(rg)]
    assert image.id in [i.id for i in clients.compute.images.list()]
    hashed = admin.hash(image.id)
    assert [d["lun"] for d in hashed["disks"]] == [None, 1, 3]
    assert hashed["disks"][0]["sha256"] == admin.hash(os_disk.id)["sha256"]


def test_an_image_keeps_its_own_copy(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg, gb=1)
    snap = copy_of(clients, rg, disk.id, kind="snapshot")
    body = _image_body({"snapshot": {"id": snap.id}})
    image = clients.compute.images.begin_create_or_update(rg, name("img"), body).result()
    before = admin.hash(image.id)
    clients.compute.snapshots.begin_delete(rg, snap.name).result()
    clients.compute.disks.begin_delete(rg, disk.name).result()
    assert admin.hash(image.id) == before
    clients.compute.images.begin_delete(rg, image.name).result()
    with pytest.raises(ResourceNotFoundError) as err:
        clients.compute.images.get(rg, image.name)
    assert code_of(err) == "ResourceNotFound"
    clients.compute.images.begin_delete(rg, image.name).result()  # already gone: done


def test_put_on_an_existing_image_changes_tags_only(clients: Clients, rg: str) -> None:
    disk, other = empty_disk(clients, rg), empty_disk(clients, rg)
    image_name = name("img")
    body = _image_body({"managedDisk": {"id": disk.id}})
    clients.compute.images.begin_create_or_update(rg, image_name, body).result()
    body = _image_body({"managedDisk": {"id": disk.id}})
    body["tags"] = {"x": "y"}
    assert clients.compute.images.begin_create_or_update(rg, image_name, body).result().tags == {"x": "y"}
    with pytest.raises(ResourceExistsError) as err:
        clients.compute.images.begin_create_or_update(rg, image_name, _image_body({"managedDisk": {"id": other.id}}))
    assert code_of(err) == "PropertyChangeNotAllowed"


def test_image_requests_azure_refuses(clients: Clients, rg: str) -> None:
    disk = empty_disk(clients, rg)
    snap = copy_of(clients, rg, disk.id, kind="snapshot")
    cases: list[tuple[dict[str, Any], int]] = []
    no_state = _image_body({"managedDisk": {"id": disk.id}})
    del no_state["properties"]["storageProfile"]["osDisk"]["osState"]
    cases.append((no_state, 400))
    cases.append((_image_body({"managedDisk": {"id": disk.id}, "snapshot": {"id": snap.id}}), 400))
    cases.append((_image_body({"managedDisk": {"id": disk.id}}, [(0, {"snapshot": {"id": snap.id}}),
                                                                (0, {"managedDisk": {"id": disk.id}})]), 400))
    cases.append((_image_body({"managedDisk": {"id": disk.id + "-missing"}}), 404))
    cases.append((_image_body({"managedDisk": {"id": empty_disk(clients, rg, location="brazilsouth").id}}), 400))
    cases.append((_image_body({"managedDisk": {"id": upload_disk(clients, rg).id}}), 409))
    for body, status in cases:
        image_name = name("bad")
        with pytest.raises(HttpResponseError) as err:
            clients.compute.images.begin_create_or_update(rg, image_name, body)
        assert err.value.status_code == status, body
        with pytest.raises(ResourceNotFoundError):
            clients.compute.images.get(rg, image_name)


def test_lro_fault_on_image_create_leaves_nothing(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = empty_disk(clients, rg)
    admin.add_fault("Microsoft.Compute/images/write", kind="lro", code="InternalExecutionError")
    image_name = name("img")
    body = _image_body({"managedDisk": {"id": disk.id}})
    with pytest.raises(HttpResponseError) as err:
        clients.compute.images.begin_create_or_update(rg, image_name, body).result()
    assert code_of(err) == "InternalExecutionError"
    with pytest.raises(ResourceNotFoundError):
        clients.compute.images.get(rg, image_name)
