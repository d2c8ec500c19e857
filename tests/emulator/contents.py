"""Disks, snapshots and grants made through the SDKs, and the bytes a test wrote into them:
what the admin API's hashes and audit are checked against."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.mgmt.compute import models as cm

from diskferry.emulator.pages import RangeSet, content_sha256
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
