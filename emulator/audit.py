"""The audit of leftovers for tests and the demo: ``GET /_admin/audit[?tag=k=v][&scope=<id prefix>]``.

What a job may leave behind: active SAS grants, snapshots, blobs, storage accounts, and
the disks, images, VMs, NICs and public IPs that carry the tag. It never shows a SAS URL
or a key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from diskferry.emulator import clock, exports
from diskferry.emulator.adminroute import AdminRoute
from diskferry.emulator.context import Emulator

Doc = dict[str, Any]

#: store kind of blob documents (see diskferry.emulator.storage.model)
BLOB_KIND = "blob"
#: the tag whose presence marks a disk or image as made by diskferry (unfiltered audit)
JOB_TAG = "diskferry-job"


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


async def _audit(request: web.Request, emu: Emulator) -> Any:
    return audit(emu, request.query.get("tag") or None, request.query.get("scope", ""))


ROUTES = (AdminRoute("GET", "/audit", _audit),)
