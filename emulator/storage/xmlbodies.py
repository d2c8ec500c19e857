"""The XML bodies of the blob service: errors, container and blob listings, page lists.

Element names and order follow the REST reference (and what azure-storage-blob's
generated deserializers read). Built as strings: listings of thousands of blobs must stay
cheap, and the shapes are fixed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from diskferry.emulator import clock

Doc = dict[str, Any]

_HEAD = '<?xml version="1.0" encoding="utf-8"?>'


def _el(name: str, value: object | None) -> str:
    if value is None or value == "":
        return f"<{name} />"
    return f"<{name}>{escape(str(value))}</{name}>"


def _opt(name: str, value: object | None) -> str:
    return "" if value is None else _el(name, value)


def error(code: str, message: str, request_id: str) -> bytes:
    detail = f"{message}\nRequestId:{request_id}\nTime:{clock.iso()[:27]}Z"
    return f"{_HEAD}<Error><Code>{escape(code)}</Code><Message>{escape(detail)}</Message></Error>".encode()


def _time(ts: float | None) -> str | None:
    return clock.rfc1123(ts) if ts else None


def _metadata(meta: dict[str, str]) -> str:
    return "<Metadata>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in meta.items()) + "</Metadata>"


@dataclass
class Paging:
    """A listing call's paging parameters, echoed in its answer, and where the next page starts."""

    prefix: str = ""
    marker: str = ""
    #: as the call gave it (None: not given)
    maxresults: int | None = None
    delimiter: str | None = None
    next_marker: str = ""

    def head(self) -> str:
        out = _opt("Prefix", self.prefix or None) + _opt("Marker", self.marker or None)
        return out + _opt("MaxResults", self.maxresults) + _opt("Delimiter", self.delimiter)

    def tail(self) -> str:
        return _el("NextMarker", self.next_marker)


def list_containers(endpoint: str, paging: Paging, containers: Iterable[Doc], with_metadata: bool) -> bytes:
    items = []
    for c in containers:
        props = c["properties"]
        items.append(
            "<Container>"
            + _el("Name", c["name"])
            + "<Properties>"
            + _el("Last-Modified", clock.rfc1123(props["last_modified"]))
            + _el("Etag", props["etag"])
            + "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
            + "<HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold>"
            + "</Properties>"
            + (_metadata(c.get("metadata") or {}) if with_metadata else "")
            + "</Container>"
        )
    return (
        f'{_HEAD}<EnumerationResults ServiceEndpoint="{escape(endpoint)}">'
        + paging.head()
        + "<Containers>" + "".join(items) + "</Containers>"
        + paging.tail()
        + "</EnumerationResults>"
    ).encode()


def blob_properties(doc: Doc, include_copy: bool) -> str:
    p = doc["properties"]
    out = (
        _el("Creation-Time", clock.rfc1123(p["created"]))
        + _el("Last-Modified", clock.rfc1123(p["last_modified"]))
        + _el("Etag", p["etag"])
        + _el("Content-Length", p["content_length"])
        + _el("Content-Type", p.get("content_type"))
        + _el("Content-Encoding", p.get("content_encoding"))
        + _el("Content-Language", p.get("content_language"))
        + _el("Content-CRC64", None)
        + _el("Content-MD5", p.get("content_md5"))
        + _el("Cache-Control", p.get("cache_control"))
        + _el("Content-Disposition", p.get("content_disposition"))
    )
    if doc["blob_type"] == "PageBlob":
        out += _el("x-ms-blob-sequence-number", p.get("sequence_number", 0))
    out += _el("BlobType", doc["blob_type"])
    out += "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
    copy = doc.get("copy")
    if include_copy and copy:
        out += (
            _el("CopyId", copy["id"])
            + _el("CopyStatus", copy["status"])
            + _el("CopySource", copy["source"])
            + _el("CopyProgress", copy["progress"])
            + _opt("CopyCompletionTime", _time(copy.get("completion_time")))
            + _opt("CopyStatusDescription", copy.get("status_description"))
        )
    if doc["blob_type"] == "BlockBlob":
        out += "<AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>"
    out += "<ServerEncrypted>true</ServerEncrypted>"
    return "<Properties>" + out + "</Properties>"


def list_blobs(
    endpoint: str, container: str, paging: Paging, entries: Iterable[Doc | str], include: set[str]
) -> bytes:
    """``entries`` are blob documents, or strings for ``BlobPrefix`` entries (with a delimiter)."""
    items = []
    for e in entries:
        if isinstance(e, str):
            items.append("<BlobPrefix>" + _el("Name", e) + "</BlobPrefix>")
            continue
        items.append(
            "<Blob>"
            + _el("Name", e["name"])
            + blob_properties(e, "copy" in include)
            + (_metadata(e.get("metadata") or {}) if "metadata" in include else "")
            + "</Blob>"
        )
    return (
        f'{_HEAD}<EnumerationResults ServiceEndpoint="{escape(endpoint)}" ContainerName="{escape(container)}">'
        + paging.head()
        + "<Blobs>" + "".join(items) + "</Blobs>"
        + paging.tail()
        + "</EnumerationResults>"
    ).encode()


def page_list(ranges: Iterable[tuple[int, int]], next_marker: str | None = None) -> bytes:
    """``ranges`` are half-open ``[start, end)``; the XML says inclusive ends."""
    body = "".join(f"<PageRange><Start>{s}</Start><End>{e - 1}</End></PageRange>" for s, e in ranges)
    tail = _el("NextMarker", next_marker) if next_marker is not None else ""
    return f"{_HEAD}<PageList>{body}{tail}</PageList>".encode()

