"""Content hashes through the admin API (``GET /_admin/hash``).

Disks, snapshots, images and blobs are made with the real SDKs over HTTPS; the expected
hashes are computed here from the bytes the test wrote.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from azure.mgmt.compute import models as cm
from azure.storage.blob import BlobServiceClient

from diskferry.emulator.admin_client import AdminClient, AdminError
from diskferry.emulator.testing import EmulatorProcess
from tests.conftest import Clients
from tests.emulator.contents import GIB, MIB, Written, read_grant, snapshot_of, upload_disk


@pytest.fixture
def ca(azure_env: dict[str, str]) -> str:
    return azure_env["REQUESTS_CA_BUNDLE"]


def test_same_bytes_in_different_layouts_hash_equal(clients: Clients, admin: AdminClient, rg: str, ca: str) -> None:
    size = GIB
    block = bytes(range(256)) * 4096  # 1 MiB
    one_put = [(5 * MIB, block)]
    # the same bytes in four pieces written backwards, plus pages of explicit zeros around
    pieces = [(5 * MIB + i * 256 * 1024, block[i * 256 * 1024 : (i + 1) * 256 * 1024]) for i in reversed(range(4))]
    zeros = [(4 * MIB, bytes(MIB)), (6 * MIB, bytes(512))]
    a = upload_disk(clients, ca, rg, "a", size, one_put)
    b = upload_disk(clients, ca, rg, "b", size, zeros + pieces)

    ha, hb = admin.hash(a), admin.hash(b)
    expected = Written(size, one_put).sha256()
    assert ha["sha256"] == hb["sha256"] == expected
    assert (ha["size"], hb["size"]) == (size, size)
    assert (ha["allocated"], hb["allocated"]) == (MIB, 2 * MIB + 512)  # layouts differ, bytes do not
    assert ha["kind"] == "disk" and ha["id"].lower() == a.lower()

    # one byte changed: another hash
    changed = bytearray(block)
    changed[777] ^= 1
    c = upload_disk(clients, ca, rg, "c", size, [(5 * MIB, bytes(changed))])
    assert admin.hash(c)["sha256"] != expected
    # so is the same content on a bigger disk (the size is part of the content)
    d = upload_disk(clients, ca, rg, "d", 2 * GIB, one_put)
    assert admin.hash(d)["sha256"] != expected


def test_snapshot_and_image_hashes(clients: Clients, admin: AdminClient, rg: str, ca: str) -> None:
    os_writes = [(0, b"\x55\xaa" * 256), (GIB - MIB, b"end!" * (MIB // 4))]
    data_writes = [(3 * MIB, b"lun2" * 4096)]
    os_id = upload_disk(clients, ca, rg, "os", GIB, os_writes)
    data_id = upload_disk(clients, ca, rg, "data", 2 * GIB, data_writes)

    snap = snapshot_of(clients, rg, "os-snap", os_id)
    hs = admin.hash(snap.id)
    assert hs["kind"] == "snapshot"
    assert hs["sha256"] == admin.hash(os_id)["sha256"] == Written(GIB, os_writes).sha256()

    image = clients.compute.images.begin_create_or_update(
        rg,
        "img",
        cm.Image(
            location="francecentral",
            properties=cm.ImageProperties(
                storage_profile=cm.ImageStorageProfile(
                    os_disk=cm.ImageOSDisk(
                        os_type="Linux", os_state="Generalized", snapshot=cm.SubResource(id=snap.id)
                    ),
                    data_disks=[cm.ImageDataDisk(lun=2, managed_disk=cm.SubResource(id=data_id))],
                )
            ),
        ),
    ).result()
    hi = admin.hash(image.id)
    assert hi["kind"] == "image"
    assert [(d["lun"], d["size"], d["sha256"]) for d in hi["disks"]] == [
        (None, GIB, Written(GIB, os_writes).sha256()),
        (2, 2 * GIB, Written(2 * GIB, data_writes).sha256()),
    ]


def test_one_tib_sparse_disk_hashes_in_seconds(clients: Clients, admin: AdminClient, rg: str, ca: str) -> None:
    size = 1024 * GIB
    writes = [(0, b"boot" * 1024), (size // 2 + 4096, bytes(range(256)) * 8192), (size - 4 * MIB, b"\xff" * 4 * MIB)]
    disk = upload_disk(clients, ca, rg, "huge", size, writes)
    h = admin.hash(disk)  # reads the allocated 6 MiB only (the seconds: tests/benchmarks/timings.py)
    assert (h["size"], h["allocated"]) == (size, 4096 + 2 * MIB + 4 * MIB)
    assert h["sha256"] == Written(size, writes).sha256()


def test_blob_hash_and_export_hash(clients: Clients, admin: AdminClient, rg: str, ca: str) -> None:
    account = f"insp{uuid.uuid4().hex[:10]}"
    acct = clients.storage.storage_accounts.begin_create(
        rg, account, {"location": "francecentral", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
    ).result()
    key = clients.storage.storage_accounts.list_keys(rg, account).keys_property[0].value
    service = BlobServiceClient(acct.primary_endpoints.blob, credential=key, connection_verify=ca)
    container = service.get_container_client("vhds")
    container.create_container()
    blob = container.get_blob_client("x.vhd")
    blob.create_page_blob(64 * MIB)
    writes = [(MIB, b"page" * 1024)]
    for offset, data in writes:
        blob.upload_page(data, offset, len(data))
    h = admin.hash(blob.url + "?sv=2020-12-06&sig=not-needed")
    assert h["kind"] == "blob" and "?" not in h["id"]
    assert (h["size"], h["allocated"], h["sha256"]) == (64 * MIB, 4096, Written(64 * MIB, writes).sha256())
    service.close()

    # a Read export URL hashes as what it serves: the fixed VHD (content, then footer)
    disk_writes = [(0, b"disk" * 1024)]
    disk_id = upload_disk(clients, ca, rg, "exp", GIB, disk_writes)
    url = read_grant(clients, rg, "exp")
    try:
        from azure.storage.blob import BlobClient

        footer = BlobClient.from_blob_url(url, connection_verify=ca).download_blob(offset=GIB, length=512).readall()
        he = admin.hash(url)
        assert he["kind"] == "export" and he["size"] == GIB + 512
        assert he["sha256"] == Written(GIB + 512, [*disk_writes, (GIB, footer)]).sha256()
        assert he["sha256"] != admin.hash(disk_id)["sha256"]
    finally:
        clients.compute.disks.begin_revoke_access(rg, "exp").result()


def test_hash_errors(admin: AdminClient, clients: Clients, emulator: EmulatorProcess) -> None:
    missing = f"/subscriptions/{clients.subscription_id}/resourceGroups/none/providers/Microsoft.Compute/disks/nope"
    with pytest.raises(AdminError) as err:
        admin.hash(missing)
    assert err.value.status == 404
    for bad in (
        "not-an-id",
        f"/subscriptions/{clients.subscription_id}/resourceGroups/r/providers/Microsoft.Network/x/y",
    ):
        with pytest.raises(AdminError) as err:
            admin.hash(bad)
        assert err.value.status == 400
    with pytest.raises(AdminError) as err:
        admin.hash(emulator.env["DISKFERRY_BLOB_ENDPOINT"] + "/noaccount/c/b")
    assert err.value.status == 404
    # the admin token is required
    r = requests.get(
        emulator.env["DISKFERRY_EMULATOR_ADMIN_URL"] + "/hash",
        params={"id": missing},
        verify=emulator.env["REQUESTS_CA_BUNDLE"],
        timeout=10,
    )
    assert r.status_code == 401
