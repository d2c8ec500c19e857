"""Find a blob by URL, for other providers (disk ``Import``, image from ``blobUri``).

Azure's resource providers read staged VHDs through the storage service; the emulator's
compute provider asks this module instead. Only the path is looked at — the query (a SAS,
if any) is ignored, as DiskRP reads with its own access to ``storageAccountId``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from diskferry.emulator.context import Emulator
from diskferry.emulator.pages import PageFile
from diskferry.emulator.storage import model


@dataclass(frozen=True)
class BlobRef:
    """A blob found by URL."""

    #: storage account name
    account: str
    #: ARM id of the storage account, spelled as it was created
    account_id: str
    #: the account's region, lower-case (e.g. ``brazilsouth``)
    location: str
    container: str
    name: str
    #: "PageBlob" or "BlockBlob"
    blob_type: str
    #: the blob's bytes (a shared instance: read it, do not write it)
    content: PageFile
    #: copy status of the last Copy Blob into it: None, "pending", "success", "failed", "aborted"
    copy_status: str | None = None


def find_blob(emu: Emulator, url: str) -> BlobRef | None:
    """The blob at ``{emu.blob_url}/{account}/{container}/{blob}``, or None.

    None when the URL is not on this emulator's blob endpoint, names no blob, or the
    account, container or blob does not exist.
    """
    parts = urlsplit(url)
    base = urlsplit(emu.blob_url)
    if (parts.scheme.lower(), parts.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
        return None
    segments = parts.path.lstrip("/").split("/", 2)
    if len(segments) != 3 or not all(segments):
        return None
    account, container, name = segments[0].lower(), unquote(segments[1]), unquote(segments[2])
    acct = model.find_account(emu, account)
    if acct is None:
        return None
    doc = model.get_blob(emu, account, container, name)
    if doc is None:
        return None
    copy = doc.get("copy") or {}
    return BlobRef(
        account=acct["name"],
        account_id=acct["id"],
        location=acct["location"],
        container=container,
        name=name,
        blob_type=doc["blob_type"],
        content=emu.pages(doc["x"]["data"]),
        copy_status=copy.get("status"),
    )
