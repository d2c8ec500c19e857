"""Disk data through SAS URLs: fill an Upload disk with a Write SAS, read a disk back as a fixed VHD.

Only azure-storage-blob's ``BlobClient.from_blob_url`` touches the bytes, as a user of
Azure would; the footer is checked field by field against the VHD specification.
"""

from __future__ import annotations

import os

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.storage.blob import BlobClient

from diskferry.emulator.admin_client import AdminClient
from diskferry.emulator.testing import EmulatorProcess
from diskferry.emulator.vhd import COOKIE, DISK_TYPE_FIXED, make_footer, parse_footer
from tests.conftest import Clients
from tests.emulator.compute.helpers import CHUNKS, FOOTER, GIB, MIB, copy_of, fill, grant, upload_disk
from tests.waiting import wait_until


def test_upload_then_read_back_as_a_fixed_vhd(clients: Clients, rg: str) -> None:
    size = 20 * MIB
    disk = upload_disk(clients, rg, content_mib=20)
    fill(clients, rg, disk.name, size)
    after = clients.compute.disks.get(rg, disk.name)
    assert (after.disk_state, after.disk_size_bytes) == ("Unattached", size)

    url = grant(clients, rg, disk.name)
    blob = BlobClient.from_blob_url(url)
    props = blob.get_blob_properties()
    assert (props.blob_type, props.size) == ("PageBlob", size + FOOTER)
    for offset, data in CHUNKS:
        assert blob.download_blob(offset=offset, length=len(data)).readall() == data
    assert blob.download_blob(offset=MIB, length=4096).readall() == bytes(4096)  # never written
    footer = parse_footer(blob.download_blob(offset=size, length=FOOTER).readall())
    assert footer.cookie == COOKIE
    assert footer.checksum_ok
    assert footer.disk_type == DISK_TYPE_FIXED
    assert footer.current_size == size
    assert [(r.start, r.end) for r in blob.list_page_ranges()] == [
        (offset, offset + len(data) - 1) for offset, data in CHUNKS
    ] + [(size, size + FOOTER - 1)]
    with pytest.raises(HttpResponseError) as err:
        blob.upload_page(b"\1" * 512, offset=0, length=512)  # a Read SAS cannot write
    assert err.value.status_code == 403

    clients.compute.disks.begin_revoke_access(rg, disk.name).result()
    with pytest.raises(ClientAuthenticationError) as err:
        BlobClient.from_blob_url(url).get_blob_properties()
    assert err.value.status_code == 403


def test_upload_must_end_with_a_footer_of_the_announced_size(clients: Clients, rg: str) -> None:
    disk = upload_disk(clients, rg, content_mib=20)
    blob = BlobClient.from_blob_url(grant(clients, rg, disk.name, access="Write"))
    blob.upload_page(make_footer(21 * MIB), offset=20 * MIB, length=FOOTER)  # the wrong size
    with pytest.raises(HttpResponseError) as err:
        clients.compute.disks.begin_revoke_access(rg, disk.name).result()
    assert err.value.error is not None and err.value.error.code == "InvalidVhd"
    assert clients.compute.disks.get(rg, disk.name).disk_state == "ActiveUpload"
    blob.upload_page(make_footer(20 * MIB), offset=20 * MIB, length=FOOTER)  # fixed: the same SAS still works
    clients.compute.disks.begin_revoke_access(rg, disk.name).result()
    assert clients.compute.disks.get(rg, disk.name).disk_state == "Unattached"


def test_an_expired_sas_is_refused(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = upload_disk(clients, rg)
    fill(clients, rg, disk.name, 20 * MIB, CHUNKS[:1])
    admin.set(max_sas_seconds=1)
    url = grant(clients, rg, disk.name, seconds=3600)
    blob = BlobClient.from_blob_url(url)

    def refused() -> HttpResponseError | None:
        try:
            blob.download_blob(offset=0, length=512)
        except HttpResponseError as err:
            return err
        return None

    err = wait_until(refused, 10, "the SAS capped at 1 s still opened the disk after 10 s", interval=0.2)
    assert err.status_code == 403


def test_copies_hold_the_content_of_their_time(clients: Clients, rg: str, admin: AdminClient) -> None:
    disk = upload_disk(clients, rg)
    fill(clients, rg, disk.name, 20 * MIB)
    snap = copy_of(clients, rg, disk.id, kind="snapshot")
    copied = copy_of(clients, rg, snap.id)
    original = admin.hash(disk.id)
    assert admin.hash(snap.id)["sha256"] == original["sha256"] == admin.hash(copied.id)["sha256"]
    # the disk changes (grows) and goes: its snapshot and copy do not
    clients.compute.disks.begin_update(rg, disk.name, {"properties": {"diskSizeGB": 2}}).result()
    assert admin.hash(disk.id)["size"] == 2 * GIB
    clients.compute.disks.begin_delete(rg, disk.name).result()
    assert admin.hash(snap.id) == {**original, "id": snap.id, "kind": "snapshot"}
    blob = BlobClient.from_blob_url(grant(clients, rg, snap.name, kind="snapshot"))
    assert blob.download_blob(offset=CHUNKS[1][0], length=len(CHUNKS[1][1])).readall() == CHUNKS[1][1]


def _usage(emulator: EmulatorProcess) -> int:
    data = emulator.state_dir / "data"
    return sum(os.stat(p).st_blocks * 512 for p in data.iterdir())


def test_a_terabyte_disk_holding_ten_mib_costs_about_ten_mib(
    clients: Clients, rg: str, emulator: EmulatorProcess, admin: AdminClient
) -> None:
    size = 1024 * GIB
    chunks = [(0, os.urandom(4 * MIB)), (size // 2, os.urandom(4 * MIB)), (size - 2 * MIB, os.urandom(2 * MIB))]
    before = _usage(emulator)
    body = {"location": "francecentral",
            "properties": {"creationData": {"createOption": "Upload", "uploadSizeBytes": size + FOOTER}}}
    disk = clients.compute.disks.begin_create_or_update(rg, "big", body).result()
    fill(clients, rg, disk.name, size, chunks)
    one_copy = _usage(emulator) - before
    assert 10 * MIB <= one_copy < 12 * MIB
    snap = copy_of(clients, rg, disk.id, kind="snapshot")
    assert _usage(emulator) - before < 2 * 12 * MIB
    blob = BlobClient.from_blob_url(grant(clients, rg, snap.name, kind="snapshot"))
    assert blob.get_blob_properties().size == size + FOOTER
    assert blob.download_blob(offset=size // 2, length=4 * MIB).readall() == chunks[1][1]
    assert parse_footer(blob.download_blob(offset=size, length=FOOTER).readall()).current_size == size
    assert admin.hash(snap.id)["sha256"] == admin.hash(disk.id)["sha256"]
