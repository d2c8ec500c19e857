"""Inspection for tests and the demo: content hashes and the audit of leftovers.

* ``GET /_admin/hash?id=…`` — the SHA-256 (``pages.content_sha256``) of a disk's, a
  snapshot's or a blob's logical content, or of every disk of an image. It reads only the
  allocated ranges, so a 1 TiB sparse disk hashes in seconds, and it runs in a worker
  thread so that the server keeps answering meanwhile.
* ``GET /_admin/audit[?tag=k=v][&scope=<id prefix>]`` — what a job may leave behind:
  active SAS grants, snapshots, blobs, storage accounts, and the disks, images, VMs, NICs
  and public IPs that carry the tag. It never shows a SAS URL or a key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from aiohttp import web

from diskferry.emulator import clock, exports
from diskferry.emulator.admin import admin_route
from diskferry.emulator.arm import parse_id
from diskferry.emulator.compute.content import Frozen
from diskferry.emulator.context import Emulator
from diskferry.emulator.pages import VhdView, content_sha256
from diskferry.emulator.storage.lookup import find_blob

Doc = dict[str, Any]

#: the ARM resource types whose content can be hashed, and their store kinds
HASHABLE = {"microsoft.compute/disks": "disk", "microsoft.compute/snapshots": "snapshot"}
IMAGE_TYPE = "microsoft.compute/images"
#: store kind of blob documents (see diskferry.emulator.storage.model)
BLOB_KIND = "blob"
#: the tag whose presence marks a disk or image as made by diskferry (unfiltered audit)
JOB_TAG = "diskferry-job"


class NotFound(Exception):
    """The thing to inspect does not exist (answered 404)."""


# ---------------------------------------------------------------------------------------
# hashing


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


@admin_route("GET", "/hash")
async def _hash(request: web.Request, emu: Emulator) -> Any:
    target = request.query.get("id", "")
    if not target:
        raise ValueError("give ?id=<disk, snapshot or image id | blob URL>")
    try:
        resolved = resolve(emu, target)
        return await asyncio.to_thread(resolved.hash)
    except (NotFound, FileNotFoundError) as exc:
        return web.json_response({"error": str(exc)}, status=404)


# ---------------------------------------------------------------------------------------
# audit


@dataclass(frozen=True)
class TagFilter:
    """``key=value`` (tag names are case-insensitive in Azure, values are not)."""

    key: str
    value: str

    @classmethod
    def parse(cls, text: str) -> TagFilter:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"a tag filter is key=value, got {text!r}")
        return cls(key.strip(), value.strip())

    def matches(self, tags: dict[str, Any] | None) -> bool:
        want = _norm_key(self.key)
        return any(_norm_key(k) == want and str(v) == self.value for k, v in (tags or {}).items())


def _norm_key(key: str) -> str:
    # blob metadata names must be C# identifiers, so a tag "diskferry-job" can only be
    # written to metadata as "diskferry_job": treat the two spellings as one
    return key.lower().replace("_", "-")


@dataclass
class Audit:
    emu: Emulator
    tag: TagFilter | None
    scope: str

    def in_scope(self, rid: str) -> bool:
        return rid.lower().startswith(self.scope)

    def wanted(self, rid: str, *tag_sets: dict[str, Any] | None) -> bool:
        if not self.in_scope(rid):
            return False
        return self.tag is None or any(self.tag.matches(t) for t in tag_sets)

    def grants(self) -> Iterator[Doc]:
        for grant in exports.active(self.emu):
            doc = exports.resource_doc(self.emu, grant)
            rid = doc["id"] if doc else grant.resource_key
            tags = (doc or {}).get("tags") or {}
            if self.wanted(rid, tags):
                yield {
                    "kind": "grant",
                    # the pseudo account name identifies the grant; it opens nothing by itself
                    "id": grant.account,
                    "resource": rid,
                    "resource_kind": grant.resource_kind,
                    "access": grant.access,
                    "expires": clock.iso(grant.expiry),
                    "tags": tags,
                }

    def resources(self, kind: str, keep: Callable[[Doc], bool] = lambda d: True) -> Iterator[Doc]:
        for doc in self.emu.store.values(kind):
            tags = doc.get("tags") or {}
            if keep(doc) and self.wanted(doc["id"], tags):
                yield _resource_entry(kind, doc)

    def blobs(self) -> Iterator[Doc]:
        for doc in self.emu.store.values(BLOB_KIND):
            if exports.is_export_account(doc["account"]):
                continue
            account = self.emu.store.get("storageaccount", doc.get("account_id") or "")
            # the account's tags now; those it had when the blob was made if it is gone
            account_tags = (account or {}).get("tags") or doc.get("tags") or {}
            metadata = doc.get("metadata") or {}
            if self.wanted(doc.get("account_id") or "", account_tags, metadata):
                copy = doc.get("copy") or {}
                yield {
                    "kind": "blob",
                    "id": f"{self.emu.blob_url}/{doc['account']}/{doc['container']}/{quote(doc['name'])}",
                    "account": doc.get("account_id"),
                    "size": (doc.get("properties") or {}).get("content_length"),
                    "copy_status": copy.get("status"),
                    "metadata": metadata,
                    "tags": account_tags,
                }

    def entries(self) -> list[Doc]:
        def made_by_diskferry(doc: Doc) -> bool:
            # without a filter, only disks and images that a job made are leftovers
            return self.tag is not None or any(_norm_key(k) == JOB_TAG for k in (doc.get("tags") or {}))

        out: list[Doc] = []
        out += self.grants()
        out += self.resources("snapshot")
        out += self.blobs()
        out += self.resources("storageaccount")
        out += self.resources("disk", made_by_diskferry)
        out += self.resources("image", made_by_diskferry)
        # a rebuilt VM and its network: role=result ones are what the operator asked for
        for kind in ("vm", "nic", "publicip"):
            out += self.resources(kind, made_by_diskferry)
        return out


def _resource_entry(kind: str, doc: Doc) -> Doc:
    props = doc.get("properties") or {}
    entry: Doc = {"kind": kind, "id": doc["id"], "location": doc.get("location"), "tags": doc.get("tags") or {}}
    if "diskSizeBytes" in props:
        entry["size"] = props["diskSizeBytes"]
    source = (props.get("creationData") or {}).get("sourceResourceId")
    if source:
        entry["source"] = source
    return entry


def audit(emu: Emulator, tag: str | None = None, scope: str = "") -> Doc:
    found = Audit(emu, TagFilter.parse(tag) if tag else None, scope.lower()).entries()
    counts: dict[str, int] = {}
    for e in found:
        counts[e["kind"]] = counts.get(e["kind"], 0) + 1
    return {"tag": tag, "scope": scope or None, "counts": counts, "items": found}


@admin_route("GET", "/audit")
async def _audit(request: web.Request, emu: Emulator) -> Any:
    return audit(emu, request.query.get("tag") or None, request.query.get("scope", ""))
