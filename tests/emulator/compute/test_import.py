"""Disk ``Import`` and images from ``blobUri``: staged VHD page blobs, checked as DiskRP checks them.

The staging accounts and blobs are made through azure-mgmt-storage and azure-storage-blob;
the last test runs the whole manual method: export a disk, copy it server-side into a
staging account, import it, and compare contents.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobClient

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.vhd import make_footer
from tests.conftest import Clients
from tests.emulator.compute.helpers import CHUNKS, FOOTER, LOCATION, MIB, code_of, fill, grant, name, upload_disk
from tests.emulator.storage.conftest import Account, make_account, storage_rg  # noqa: F401 (fixtures)
from tests.emulator.storage.test_copyengine import watch


@pytest.fixture(scope="module")
def staging(make_account: Callable[[str], Account]) -> Account:  # noqa: F811
    return make_account(LOCATION)


@pytest.fixture(scope="module")
def far_staging(make_account: Callable[[str], Account]) -> Account:  # noqa: F811
    return make_account("brazilsouth")


def stage_vhd(account: Account, size: int = 20 * MIB, footer: bytes | None = None) -> BlobClient:
    """A page blob holding ``CHUNKS`` and a fixed-VHD footer (``footer`` replaces it)."""
    blob = account.container().get_blob_client(f"{name('disk')}.vhd")
    blob.create_page_blob(size + FOOTER)
    for offset, data in CHUNKS:
        blob.upload_page(data, offset=offset, length=len(data))
    blob.upload_page(make_footer(size) if footer is None else footer, offset=size, length=FOOTER)
    return blob


def import_body(account: Account, uri: str, **creation: object) -> dict[str, object]:
    data = {"createOption": "Import", "sourceUri": uri, "storageAccountId": account.id, **creation}
    return {"location": LOCATION, "properties": {"creationData": data, "osType": "Linux"}}


def image_from_blob(uri: str) -> dict[str, object]:
    os_disk = {"osType": "Linux", "osState": "Generalized", "blobUri": uri}
    return {"location": LOCATION, "properties": {"storageProfile": {"osDisk": os_disk}}}


def test_import_holds_the_vhd_content_without_its_footer(clients: Clients, rg: str, staging: Account) -> None:
    blob = stage_vhd(staging)
    disk = clients.compute.disks.begin_create_or_update(rg, name("imp"), import_body(staging, blob.url)).result()
    assert (disk.disk_size_bytes, disk.disk_size_gb, disk.disk_state) == (20 * MIB, 1, "Unattached")
    assert disk.creation_data.create_option == "Import"
    assert disk.creation_data.source_uri == blob.url
    exported = BlobClient.from_blob_url(grant(clients, rg, disk.name))
    assert exported.get_blob_properties().size == 20 * MIB + FOOTER
    for offset, data in CHUNKS:
        assert exported.download_blob(offset=offset, length=len(data)).readall() == data
    # the staged blob is the customer's: it stays
    assert blob.get_blob_properties().size == 20 * MIB + FOOTER


def test_import_rules(clients: Clients, rg: str, staging: Account, far_staging: Account) -> None:
    good = stage_vhd(staging)
    no_account = import_body(staging, good.url)
    del no_account["properties"]["creationData"]["storageAccountId"]  # type: ignore[index]
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_create_or_update(rg, name("imp"), no_account)
    assert (err.value.status_code, code_of(err)) == (400, "BadRequest")
    assert "storageAccountId" in str(err.value)

    far = stage_vhd(far_staging)
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_create_or_update(rg, name("imp"), import_body(far_staging, far.url))
    assert (err.value.status_code, code_of(err)) == (400, "BadRequest")
    assert "does not belong to the same region as the disk" in str(err.value)

    for bad in (
        stage_vhd(staging, footer=bytes(FOOTER)),  # no footer at all
        stage_vhd(staging, footer=make_footer(19 * MIB)),  # a footer of another size
        stage_vhd(staging, size=20 * MIB + 4096, footer=make_footer(20 * MIB + 4096)),  # not whole MiB
    ):
        with pytest.raises(HttpResponseError) as err:
            clients.compute.disks.begin_create_or_update(rg, name("imp"), import_body(staging, bad.url))
        assert (err.value.status_code, code_of(err)) == (400, "InvalidVhd")

    with pytest.raises(ResourceNotFoundError):
        clients.compute.disks.begin_create_or_update(rg, name("imp"), import_body(staging, good.url + "-missing"))
    assert [d.name for d in clients.compute.disks.list_by_resource_group(rg)] == []


def test_snapshot_and_image_from_a_staged_vhd(clients: Clients, rg: str, staging: Account, admin: AdminClient) -> None:
    blob = stage_vhd(staging)
    snap = clients.compute.snapshots.begin_create_or_update(rg, name("snap"), import_body(staging, blob.url)).result()
    image = clients.compute.images.begin_create_or_update(rg, name("img"), image_from_blob(blob.url)).result()
    assert image.storage_profile.os_disk.blob_uri == blob.url
    assert admin.hash(image.id)["disks"][0]["sha256"] == admin.hash(snap.id)["sha256"]


def test_image_from_a_blob_in_another_region_is_refused(clients: Clients, rg: str, far_staging: Account) -> None:
    blob = stage_vhd(far_staging)
    with pytest.raises(HttpResponseError) as err:
        clients.compute.images.begin_create_or_update(rg, name("img"), image_from_blob(blob.url))
    assert err.value.status_code == 400


def test_the_manual_method_end_to_end(clients: Clients, rg: str, far_staging: Account, admin: AdminClient) -> None:
    """Export a disk, copy it to a staging account in another region, import it there."""
    source = upload_disk(clients, rg)
    fill(clients, rg, source.name, 20 * MIB)
    sas = grant(clients, rg, source.name, seconds=3600)
    staged = far_staging.container().get_blob_client(f"{source.name}.vhd")
    staged.start_copy_from_url(sas)
    assert watch(staged, timeout=60).final.copy.status == "success"
    clients.compute.disks.begin_revoke_access(rg, source.name).result()
    target_rg = name("rg")
    clients.resource.resource_groups.create_or_update(target_rg, {"location": "brazilsouth"})
    body = import_body(far_staging, staged.url)
    body["location"] = "brazilsouth"
    target = clients.compute.disks.begin_create_or_update(target_rg, source.name, body).result()
    assert admin.hash(target.id)["sha256"] == admin.hash(source.id)["sha256"]
    staged.delete_blob()
    clients.resource.resource_groups.begin_delete(target_rg).result()
