"""Inspection through the admin API: content hashes and the audit of leftovers.

Disks, snapshots, images, accounts and blobs are made with the real SDKs over HTTPS; the
expected hashes are computed here from the bytes the test wrote.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from azure.mgmt.compute import models as cm
from azure.storage.blob import BlobServiceClient

from diskferry.emulator.admin_client import AdminClient, AdminError
from diskferry.emulator.pages import RangeSet, content_sha256
from diskferry.emulator.testing import EmulatorProcess
from diskferry.emulator.vhd import make_footer
from tests.conftest import Clients

GIB = 1024**3
MIB = 1024**2


class Written:
    """The logical content a test wrote: what the emulator's hash must describe."""

    def __init__(self, size: int, writes: list[tuple[int, bytes]]) -> None:
        self.size = size
        self._buf: dict[int, bytes] = {}
        self._ranges = RangeSet()
        for offset, data in writes:
            for i in range(0, len(data), 512):
                self._buf[offset + i] = data[i : i + 512]
            self._ranges.add(offset, offset + len(data))

    def ranges(self, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        return self._ranges.intersect(start, self.size if end is None else end)

    def read(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.size)
        return b"".join(self._buf.get(p, bytes(512)) for p in range(offset, end, 512))[: end - offset]

    def sha256(self) -> str:
        return content_sha256(self)


@contextmanager
def write_sas(clients: Clients, rg: str, name: str) -> Iterator[str]:
    access = cm.GrantAccessData(access="Write", duration_in_seconds=3600)
    url = clients.compute.disks.begin_grant_access(rg, name, access).result().access_sas
    assert url
    try:
        yield url
    finally:
        clients.compute.disks.begin_revoke_access(rg, name).result()


def upload_disk(
    clients: Clients,
    ca: str,
    rg: str,
    name: str,
    size: int,
    writes: list[tuple[int, bytes]],
    tags: dict[str, str] | None = None,
) -> str:
    """An Upload disk of ``size`` content bytes holding ``writes``, as AzCopy would fill it."""
    body = cm.Disk(
        location="francecentral",
        tags=tags,
        properties=cm.DiskProperties(
            creation_data=cm.CreationData(create_option="Upload", upload_size_bytes=size + 512)
        ),
    )
    disk = clients.compute.disks.begin_create_or_update(rg, name, body).result()
    from azure.storage.blob import BlobClient

    with write_sas(clients, rg, name) as url:
        blob = BlobClient.from_blob_url(url, connection_verify=ca)
        for offset, data in writes:
            blob.upload_page(data, offset, len(data))
        blob.upload_page(make_footer(size), size, 512)
        blob.close()
    assert disk.id
    return disk.id


def snapshot_of(clients: Clients, rg: str, name: str, source: str, tags: dict[str, str] | None = None) -> cm.Snapshot:
    body = cm.Snapshot(
        location="francecentral",
        tags=tags,
        properties=cm.SnapshotProperties(
            creation_data=cm.CreationData(create_option="Copy", source_resource_id=source)
        ),
    )
    return clients.compute.snapshots.begin_create_or_update(rg, name, body).result()


def read_grant(clients: Clients, rg: str, name: str, kind: str = "disks") -> str:
    ops = clients.compute.disks if kind == "disks" else clients.compute.snapshots
    access = cm.GrantAccessData(access="Read", duration_in_seconds=600)
    url = ops.begin_grant_access(rg, name, access).result().access_sas
    assert url
    return str(url)


@pytest.fixture
def ca(azure_env: dict[str, str]) -> str:
    return azure_env["REQUESTS_CA_BUNDLE"]


# ---------------------------------------------------------------------------------------
# hash


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


# ---------------------------------------------------------------------------------------
# audit


def test_audit_lists_leftovers_and_filters_by_tag(clients: Clients, admin: AdminClient, rg: str, ca: str) -> None:
    job = uuid.uuid4().hex[:8]
    tag = {"diskferry-job": job, "diskferry-role": "temporary"}
    scope = f"/subscriptions/{clients.subscription_id}/resourceGroups/{rg}".lower()

    source = upload_disk(clients, ca, rg, "src", GIB, [(0, b"x" * 512)])  # a VM's disk: untagged
    result = upload_disk(
        clients, ca, rg, "result", GIB, [(0, b"y" * 512)], tags={"diskferry-job": job, "diskferry-role": "result"}
    )
    snap = snapshot_of(clients, rg, "snap", source, tags=tag)
    other_snap = snapshot_of(clients, rg, "other", source)
    read_grant(clients, rg, "src")
    read_grant(clients, rg, "snap", kind="snapshots")

    staging = f"stg{uuid.uuid4().hex[:10]}"
    acct = clients.storage.storage_accounts.begin_create(
        rg, staging, {"location": "brazilsouth", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "tags": tag}
    ).result()
    plain = f"pln{uuid.uuid4().hex[:10]}"
    plain_acct = clients.storage.storage_accounts.begin_create(
        rg, plain, {"location": "brazilsouth", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}
    ).result()
    staged = _page_blob(clients, rg, staging, acct.primary_endpoints.blob, ca, "vhds", "src.vhd", {})
    marked = _page_blob(
        clients, rg, plain, plain_acct.primary_endpoints.blob, ca, "marked", "m.vhd", {"diskferry_job": job}
    )
    _page_blob(clients, rg, plain, plain_acct.primary_endpoints.blob, ca, "marked", "unrelated.vhd", {})

    everything = admin.audit(scope=scope)
    raw = json.dumps(everything)
    assert "sig=" not in raw and "?" not in raw  # never a SAS
    kinds = {(i["kind"], i.get("resource", i["id"]).lower()) for i in everything["items"]}
    assert ("grant", source.lower()) in kinds and ("grant", snap.id.lower()) in kinds
    assert {("snapshot", snap.id.lower()), ("snapshot", other_snap.id.lower())} <= kinds
    assert {("storageaccount", acct.id.lower()), ("storageaccount", plain_acct.id.lower())} <= kinds
    assert ("disk", result.lower()) in kinds  # tagged by a job
    assert ("disk", source.lower()) not in kinds  # not a job's
    assert everything["counts"]["blob"] == 3

    for key in ("diskferry-job", "DISKFERRY-JOB"):
        by_job = admin.audit(tag=f"{key}={job}")
        got = sorted((i["kind"], i["id"].lower()) for i in by_job["items"])
        assert got == sorted(
            [
                ("grant", _grant_of(by_job, snap.id)),
                ("snapshot", snap.id.lower()),
                ("storageaccount", acct.id.lower()),
                ("blob", staged.lower()),
                ("blob", marked.lower()),
                ("disk", result.lower()),
            ]
        )
    grant = next(i for i in by_job["items"] if i["kind"] == "grant")
    assert grant["resource"].lower() == snap.id.lower() and grant["access"] == "Read"
    assert grant["tags"] == tag
    assert {i["kind"] for i in admin.leftovers(job)} == {"grant", "snapshot", "storageaccount", "blob"}

    # cleaning up empties the job's audit
    clients.compute.snapshots.begin_revoke_access(rg, "snap").result()
    clients.compute.disks.begin_revoke_access(rg, "src").result()
    clients.compute.snapshots.begin_delete(rg, "snap").result()
    clients.storage.storage_accounts.delete(rg, staging)
    clients.storage.storage_accounts.delete(rg, plain)
    assert admin.leftovers(job) == []
    assert [i["kind"] for i in admin.audit(tag=f"diskferry-job={job}")["items"]] == ["disk"]
    assert admin.audit(tag=f"diskferry-job={job}x")["items"] == []


def _grant_of(audit: dict[str, object], resource_id: str) -> str:
    items = audit["items"]
    assert isinstance(items, list)
    return str(next(i["id"] for i in items if i["kind"] == "grant" and i["resource"].lower() == resource_id.lower()))


def _page_blob(
    clients: Clients, rg: str, account: str, endpoint: str, ca: str, container: str, name: str, metadata: dict[str, str]
) -> str:
    key = clients.storage.storage_accounts.list_keys(rg, account).keys_property[0].value
    with BlobServiceClient(endpoint, credential=key, connection_verify=ca) as service:
        cc = service.get_container_client(container)
        if not cc.exists():
            cc.create_container()
        blob = cc.get_blob_client(name)
        blob.create_page_blob(MIB, metadata=metadata)
        return str(blob.url)


def test_audit_rejects_a_bad_tag(admin: AdminClient) -> None:
    with pytest.raises(AdminError) as err:
        admin.audit(tag="no-equals-sign")
    assert err.value.status == 400
