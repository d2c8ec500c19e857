"""The bytes behind disks, snapshots and images, and where new ones come from.

A disk, snapshot or image disk owns one sparse content file (``emu.pages``); creating one
from another resource copies only the allocated ranges, in a worker thread so that the
server keeps answering. The sources Azure accepts are checked here with Azure's errors:
``Copy`` from a disk or snapshot of the same region, ``Import`` (and images' ``blobUri``)
from a staged fixed-VHD page blob of a storage account in the same region.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from diskferry.emulator.arm import parse_id
from diskferry.emulator.compute import backgroundcopy
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, bad_request, conflict, not_found
from diskferry.emulator.pages import Content, PageFile
from diskferry.emulator.storage.lookup import BlobRef, find_blob
from diskferry.emulator.vhd import FOOTER_SIZE, import_problem

Doc = dict[str, Any]

#: ARM types that can be the source of a Copy, and their store kinds
COPY_SOURCES = {"microsoft.compute/disks": "disk", "microsoft.compute/snapshots": "snapshot"}
#: disk states whose content is still being written by an upload: no copy, attach or read
UPLOADING = ("ReadyToUpload", "ActiveUpload")


class Frozen:
    """A content's ranges taken now (on the event loop), read later from a worker thread.

    The range map of a shared ``PageFile`` changes only on the event loop; copying from a
    snapshot of it keeps the loop free without racing the map.
    """

    def __init__(self, content: Content, size: int | None = None) -> None:
        self._content = content
        self.size = content.size if size is None else min(size, content.size)
        self._ranges = content.ranges(0, self.size)

    def ranges(self, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        end = self.size if end is None else min(end, self.size)
        return [(max(s, start), min(e, end)) for s, e in self._ranges if s < end and e > start]

    def read(self, offset: int, length: int) -> bytes:
        return self._content.read(offset, length)


async def copy_content(emu: Emulator, source: Content, size: int, source_size: int | None = None) -> str:
    """A new content file of ``size`` bytes holding ``source`` (its first ``source_size``)."""
    frozen = Frozen(source, source_size)
    made = await asyncio.to_thread(PageFile.copy_of, emu.data_dir, frozen, size)
    # the worker's instance saved its map; the emulator's shared instance is loaded from it
    return emu.pages(made.id).id


def new_content(emu: Emulator, size: int) -> str:
    """A new, empty (all zeros, nothing allocated) content file."""
    return emu.new_pages(size).id


def open_content(emu: Emulator, file_id: str) -> PageFile:
    return emu.pages(file_id)


def drop_content(emu: Emulator, file_id: str | None) -> None:
    if file_id:
        emu.drop_pages(file_id)


# ---------------------------------------------------------------------------------------
# Copy: a disk or snapshot of the same region


def copy_source(emu: Emulator, source_id: str, location: str) -> tuple[str, Doc]:
    """``(kind, document)`` of a Copy source, or Azure's error."""
    parsed = parse_id(source_id)
    kind = COPY_SOURCES.get(parsed[2].lower()) if parsed else None
    if parsed is None or kind is None:
        raise AzureError(
            400, "InvalidParameter", f"The value of parameter sourceResourceId is invalid: '{source_id}'."
        )
    doc = emu.store.get(kind, source_id)
    if doc is None:
        raise not_found(parsed[2], parsed[3], parsed[1])
    if doc["location"] != location:
        raise bad_request(
            f"The source resource '{doc['id']}' is in region '{doc['location']}', which is not the "
            f"region '{location}' of the resource being created. Copy is supported only within a region."
        )
    state = doc["properties"].get("diskState")
    if state in UPLOADING:
        raise conflict(f"Disk {doc['name']} cannot be used as a copy source while it is in the '{state}' state.")
    if doc["properties"].get("provisioningState") != "Succeeded":
        raise conflict(f"The source resource '{doc['id']}' is not ready: it is still being provisioned.")
    pending = backgroundcopy.pending_blocker(doc, "a copy or restore")
    if pending is not None:
        raise pending
    return kind, doc


# ---------------------------------------------------------------------------------------
# Import (disks, snapshots) and images' blobUri: a staged fixed VHD


def bare_url(url: str) -> str:
    """The URL without its query: a SAS never appears in an error message."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def vhd_blob(emu: Emulator, uri: str, location: str, storage_account_id: str | None = None) -> BlobRef:
    """The staged VHD behind ``uri`` after Azure's checks; its content size is ``size + 512``.

    ``storage_account_id`` (required by disk/snapshot Import) must name the blob's account.
    """
    ref = find_blob(emu, uri)
    shown = bare_url(uri)
    if ref is None:
        raise AzureError(404, "NotFound", f"The source blob '{shown}' was not found.")
    if storage_account_id is not None and ref.account_id.lower() != storage_account_id.strip().lower():
        raise bad_request(
            f"The source blob '{shown}' does not belong to the storage account '{storage_account_id}'."
        )
    if ref.location != location:
        raise bad_request(
            f"The source blob '{shown}' does not belong to the same region as the disk. "
            f"The blob's storage account is in '{ref.location}', the disk in '{location}'."
        )
    if ref.blob_type != "PageBlob":
        raise AzureError(
            400, "InvalidVhd", f"The source blob '{shown}' is a {ref.blob_type}; only page blobs hold a VHD."
        )
    if ref.copy_status == "pending":
        raise conflict(f"The source blob '{shown}' has a pending copy operation.", "OperationNotAllowed")
    size = ref.content.size
    footer = ref.content.read(size - FOOTER_SIZE, FOOTER_SIZE) if size >= FOOTER_SIZE else b"\0" * FOOTER_SIZE
    problem = import_problem(size, footer)
    if problem is not None:
        raise AzureError(400, "InvalidVhd", f"{problem} Source blob: '{shown}'.")
    return ref


def footer_problem(data: PageFile) -> str | None:
    """Why the content just uploaded through a Write SAS is not a fixed VHD, or None."""
    size = data.size
    return import_problem(size, data.read(size - FOOTER_SIZE, FOOTER_SIZE))
