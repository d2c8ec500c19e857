"""Disk export URLs (``beginGetAccess``) on the blob port, and copies from them: the seed
method by hand (grant → copy to another region → Import → revoke), and a copy that fails
when the grant is revoked or expires while it runs."""

from __future__ import annotations

import os
import uuid

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.vhd import make_footer
from tests.conftest import Clients
from tests.emulator.compute.helpers import grant, upload_disk
from tests.emulator.storage.conftest import MIB, Account
from tests.emulator.storage.test_copyengine import watch

#: the region of the ``rg`` fixture's disks → the remote account's region
PAIR = "francecentral>brazilsouth"


def disk_with_data(clients: Clients, rg: str, content_mib: int, pieces: dict[int, bytes]) -> str:
    """An uploaded disk holding ``pieces`` (offset → bytes), through its Write SAS URL."""
    disk = upload_disk(clients, rg, content_mib=content_mib)
    writer = BlobClient.from_blob_url(grant(clients, rg, disk.name, access="Write"))
    for off, data in pieces.items():
        for at in range(0, len(data), 4 * MIB):  # Put Page takes at most 4 MiB
            chunk = data[at : at + 4 * MIB]
            writer.upload_page(chunk, offset=off + at, length=len(chunk))
    size = content_mib * MIB
    writer.upload_page(make_footer(size), offset=size, length=512)
    clients.compute.disks.begin_revoke_access(rg, disk.name).result()
    return str(disk.name)


def test_seed_method_by_hand(clients: Clients, rg: str, remote: Account, admin: AdminClient) -> None:
    pieces = {0: os.urandom(MIB), 5 * MIB: os.urandom(64 * 1024)}
    name = disk_with_data(clients, rg, 20, pieces)
    source = clients.compute.disks.get(rg, name)
    export = grant(clients, rg, name, access="Read", seconds=3600)

    reader = BlobClient.from_blob_url(export)
    props = reader.get_blob_properties()
    assert (props.size, props.blob_type) == (20 * MIB + 512, "PageBlob")
    assert [(r.start, r.end) for r in reader.list_page_ranges()] == [
        (0, MIB - 1), (5 * MIB, 5 * MIB + 64 * 1024 - 1), (20 * MIB, 20 * MIB + 511)
    ]
    with pytest.raises(HttpResponseError) as denied:
        reader.upload_page(bytes(512), offset=0, length=512)
    assert denied.value.status_code == 403

    admin.set(copy_bandwidth_pairs={PAIR: 2 * MIB})
    staged = remote.container().get_blob_client(f"{name}.vhd")
    staged.start_copy_from_url(export)
    w = watch(staged)
    assert w.final.copy.status == "success", w.final.copy.status_description
    assert w.progress == sorted(w.progress) and len(set(w.progress)) >= 2
    assert admin.hash(staged.url)["sha256"] == admin.hash(export)["sha256"]

    target_rg = f"rg-br-{uuid.uuid4().hex[:6]}"
    clients.resource.resource_groups.create_or_update(target_rg, {"location": "brazilsouth"})
    body = {
        "location": "brazilsouth",
        "properties": {
            "creationData": {"createOption": "Import", "sourceUri": staged.url, "storageAccountId": remote.id}
        },
    }
    imported = clients.compute.disks.begin_create_or_update(target_rg, f"{name}-br", body).result()
    assert imported.disk_size_bytes == source.disk_size_bytes
    assert admin.hash(imported.id)["sha256"] == admin.hash(source.id)["sha256"]

    clients.compute.disks.begin_revoke_access(rg, name).result()
    staged.delete_blob()
    assert not staged.exists()


def test_revoking_the_grant_mid_copy_fails_it(clients: Clients, rg: str, remote: Account, admin: AdminClient) -> None:
    name = disk_with_data(clients, rg, 20, {0: os.urandom(8 * MIB)})
    export = grant(clients, rg, name, access="Read", seconds=3600)
    admin.set(copy_bandwidth_pairs={PAIR: 2 * MIB})
    staged = remote.container().get_blob_client("revoked.vhd")
    staged.start_copy_from_url(export)
    watch_until = staged.get_blob_properties()
    assert watch_until.copy.status == "pending"
    clients.compute.disks.begin_revoke_access(rg, name).result()
    w = watch(staged)
    assert w.final.copy.status == "failed"
    assert w.final.copy.status_description.startswith("403 "), w.final.copy.status_description
    assert w.final.size == 0


def test_export_sas_expiring_mid_copy_fails_it(clients: Clients, rg: str, remote: Account, admin: AdminClient) -> None:
    name = disk_with_data(clients, rg, 20, {0: os.urandom(8 * MIB)})
    admin.set(max_sas_seconds=2, copy_bandwidth_pairs={PAIR: 2 * MIB})
    export = grant(clients, rg, name, access="Read", seconds=3600)
    staged = remote.container().get_blob_client("expiring.vhd")
    staged.start_copy_from_url(export)
    w = watch(staged)
    assert w.final.copy.status == "failed"
    assert w.final.copy.status_description.startswith("403 AuthenticationFailed"), w.final.copy.status_description


def test_copy_from_a_revoked_grant_cannot_start(clients: Clients, rg: str, remote: Account) -> None:
    name = disk_with_data(clients, rg, 20, {0: os.urandom(4096)})
    export = grant(clients, rg, name, access="Read", seconds=3600)
    clients.compute.disks.begin_revoke_access(rg, name).result()
    staged = remote.container().get_blob_client("never.vhd")
    with pytest.raises(HttpResponseError) as err:
        staged.start_copy_from_url(export)
    assert (err.value.status_code, err.value.response.headers["x-ms-error-code"]) == (403, "CannotVerifyCopySource")
    assert not staged.exists()
