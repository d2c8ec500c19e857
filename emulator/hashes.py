"""Content hashes for tests and the demo: ``GET /_admin/hash?id=…``.

The SHA-256 (``pages.content_sha256``) of a disk's, a snapshot's or a blob's logical
content, or of every disk of an image. It reads only the allocated ranges, so a 1 TiB
sparse disk hashes in seconds, and it runs in a worker thread so that the server keeps
answering meanwhile. A disk export URL hashes as what it serves (a Read export is a fixed
VHD: the content, then its footer).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from aiohttp import web

from diskferry.emulator import exports
from diskferry.emulator.adminroute import AdminRoute
from diskferry.emulator.arm import parse_id
from diskferry.emulator.compute.content import Frozen
from diskferry.emulator.context import Emulator
from diskferry.emulator.pages import VhdView, content_sha256
from diskferry.emulator.storage.lookup import find_blob

Doc = dict[str, Any]

#: the ARM resource types whose content can be hashed, and their store kinds
HASHABLE = {"microsoft.compute/disks": "disk", "microsoft.compute/snapshots": "snapshot"}
IMAGE_TYPE = "microsoft.compute/images"


class NotFound(Exception):
    """The thing to hash does not exist (answered 404)."""


def digest(content: Frozen) -> Doc:
    """Hash of a content whose ranges were taken on the event loop (run in a worker thread)."""
    allocated = sum(e - s for s, e in content.ranges())
    return {"sha256": content_sha256(content), "size": content.size, "allocated": allocated}


@dataclass
class Target:
    """What one hash request covers: a disk, snapshot or blob, or each disk of an image."""

    id: str
    kind: str
    #: (lun, content); lun is None for everything but an image's data disks
    contents: list[tuple[int | None, Frozen]]

    def hash(self) -> Doc:
        if self.kind != "image":
            return {"id": self.id, "kind": self.kind, **digest(self.contents[0][1])}
        return {"id": self.id, "kind": self.kind, "disks": [{"lun": lun, **digest(c)} for lun, c in self.contents]}


def resolve(emu: Emulator, target: str) -> Target:
    """The content behind an ARM id (disk, snapshot, image) or a blob URL (no SAS needed)."""
    target = target.strip()
    if target.lower().startswith(("https://", "http://")):
        return _resolve_url(emu, target)
    parsed = parse_id(target)
    if parsed is None:
        raise ValueError(f"not a resource id or blob URL: {target!r}")
    rtype = parsed[2].lower()
    if rtype == IMAGE_TYPE:
        doc = emu.store.get("image", target)
        if doc is None:
            raise NotFound(f"no image {target}")
        return Target(doc["id"], "image", image_contents(emu, doc))
    kind = HASHABLE.get(rtype)
    if kind is None:
        raise ValueError(f"cannot hash a {parsed[2]}: give a disk, snapshot, image or blob URL")
    doc = emu.store.get(kind, target)
    if doc is None or not doc["x"].get("data"):
        raise NotFound(f"no {kind} {target}" if doc is None else f"{kind} {doc['id']} holds no content yet")
    return Target(doc["id"], kind, [(None, Frozen(emu.pages(doc["x"]["data"])))])


def image_contents(emu: Emulator, doc: Doc) -> list[tuple[int | None, Frozen]]:
    """``(lun, content)`` of an image's disks: the OS disk first (lun None), then by lun.

    An image holds its own copy of each disk (in Azure it outlives its sources); the
    compute provider records it as ``x.disks = [{"lun": None|n, "data": <PageFile id>}]``.
    """
    held = doc.get("x", {}).get("disks")
    if held is None:
        raise NotFound(f"image {doc['id']} holds no disk content")
    out = [(d.get("lun"), Frozen(emu.pages(d["data"]))) for d in held]
    return sorted(out, key=lambda item: -1 if item[0] is None else item[0])


def _resolve_url(emu: Emulator, url: str) -> Target:
    parts = urlsplit(url)
    bare = f"{parts.scheme}://{parts.netloc}{parts.path}"  # a SAS is never kept or echoed
    segments = [unquote(s) for s in parts.path.lstrip("/").split("/", 2)]
    if len(segments) < 3 or not all(segments):
        raise ValueError("a blob URL is https://host:port/{account}/{container}/{blob}")
    if exports.is_export_account(segments[0]):
        grant = exports.find(emu, segments[0])
        doc = exports.resource_doc(emu, grant) if grant else None
        if grant is None or doc is None:
            raise NotFound(f"no active disk export at {bare}")
        data = emu.pages(doc["x"]["data"])
        # what the URL serves: a Read export is a fixed VHD (content, then footer)
        served = data if grant.access == "Write" else VhdView(data, exports.footer_for(doc))
        return Target(bare, "export", [(None, Frozen(served))])
    ref = find_blob(emu, bare)
    if ref is None:
        raise NotFound(f"no blob at {bare}")
    return Target(bare, "blob", [(None, Frozen(ref.content))])


async def _hash(request: web.Request, emu: Emulator) -> Any:
    target = request.query.get("id", "")
    if not target:
        raise ValueError("give ?id=<disk, snapshot or image id | blob URL>")
    try:
        resolved = resolve(emu, target)
        return await asyncio.to_thread(resolved.hash)
    except (NotFound, FileNotFoundError) as exc:
        return web.json_response({"error": str(exc)}, status=404)


ROUTES = (AdminRoute("GET", "/hash", _hash),)
