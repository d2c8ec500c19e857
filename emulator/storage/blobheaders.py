"""HTTP headers of the blob service: metadata, ranges, conditions and blob properties."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from diskferry.emulator import clock
from diskferry.emulator.errors import AzureError

Doc = dict[str, Any]

META = "x-ms-meta-"
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
_META_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Set Blob Properties / Put Blob headers → stored property names
CONTENT_HEADERS = {
    "x-ms-blob-content-type": "content_type",
    "x-ms-blob-content-encoding": "content_encoding",
    "x-ms-blob-content-language": "content_language",
    "x-ms-blob-content-disposition": "content_disposition",
    "x-ms-blob-cache-control": "cache_control",
    "x-ms-blob-content-md5": "content_md5",
}
_RESPONSE_HEADERS = {
    "content_type": "Content-Type",
    "content_encoding": "Content-Encoding",
    "content_language": "Content-Language",
    "content_disposition": "Content-Disposition",
    "cache_control": "Cache-Control",
    "content_md5": "Content-MD5",
}


NOT_MET = "The condition specified using HTTP conditional header(s) is not met."


def missing_header(name: str) -> AzureError:
    return AzureError(
        400, "MissingRequiredHeader", f"An HTTP header that's mandatory for this request is not specified. ({name})"
    )


def invalid_query(name: str) -> AzureError:
    return AzureError(
        400,
        "InvalidQueryParameterValue",
        f"Value for one of the query parameters specified in the request URI is invalid. ({name})",
    )


def invalid_header(name: str) -> AzureError:
    return AzureError(
        400,
        "InvalidHeaderValue",
        f"The value for one of the HTTP headers is not in the correct format. ({name})",
    )


def metadata_from(headers: Mapping[str, str]) -> dict[str, str]:
    """``x-ms-meta-*`` headers; names must be C# identifiers (``InvalidMetadata`` otherwise)."""
    meta = {k[len(META) :]: v for k, v in headers.items() if k.lower().startswith(META)}
    for name in meta:
        if not _META_NAME.match(name):
            raise AzureError(
                400, "InvalidMetadata", "The metadata specified is invalid. It has characters that are not permitted."
            )
    return meta


def metadata_headers(meta: Mapping[str, str]) -> dict[str, str]:
    return {f"{META}{k}": v for k, v in meta.items()}


def parse_range(headers: Mapping[str, str]) -> tuple[int, int | None] | None:
    """``(start, inclusive end or None)`` of ``x-ms-range`` (preferred) or ``Range``."""
    raw = headers.get("x-ms-range") or headers.get("Range")
    if not raw:
        return None
    m = _RANGE.match(raw.strip())
    if not m:
        raise invalid_header("x-ms-range")
    start, end = int(m[1]), int(m[2]) if m[2] else None
    if end is not None and end < start:
        raise invalid_header("x-ms-range")
    return start, end


def check_conditions(headers: Mapping[str, str], doc: Doc | None, *, read: bool = False) -> None:
    """``If-Match``/``If-None-Match``/``If-(Un)Modified-Since`` against a blob or container.

    Reads answer 304 where writes answer 412, as the storage service does.
    """
    etag = doc["properties"]["etag"] if doc else None
    modified = doc["properties"]["last_modified"] if doc else None
    failed = AzureError(412, "ConditionNotMet", NOT_MET)
    if_match = headers.get("If-Match")
    if if_match and not (doc is not None and (if_match == "*" or etag in _etags(if_match))):
        raise failed
    if_none = headers.get("If-None-Match")
    if if_none and doc is not None and (if_none == "*" or etag in _etags(if_none)):
        if read:
            raise AzureError(304, "ConditionNotMet", NOT_MET)
        if if_none == "*":
            raise AzureError(409, "BlobAlreadyExists", "The specified blob already exists.")
        raise failed
    try:
        since = headers.get("If-Modified-Since")
        if since and doc is not None and modified is not None and int(modified) <= _http_time(since):
            raise AzureError(304, "ConditionNotMet", NOT_MET) if read else failed
        until = headers.get("If-Unmodified-Since")
        if until and doc is not None and modified is not None and int(modified) > _http_time(until):
            raise failed
    except ValueError as exc:
        raise invalid_header("If-Modified-Since") from exc


def _etags(value: str) -> set[str]:
    return {v.strip() for v in value.split(",")}


def _http_time(value: str) -> float:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(value).timestamp()


def blob_headers(doc: Doc, *, content_length: int | None = None) -> dict[str, str]:
    """Headers of Get Blob / Get Blob Properties (``Content-Length`` left to the caller)."""
    p = doc["properties"]
    h = {
        "Last-Modified": clock.rfc1123(p["last_modified"]),
        "x-ms-creation-time": clock.rfc1123(p["created"]),
        "ETag": p["etag"],
        "x-ms-blob-type": doc["blob_type"],
        "Accept-Ranges": "bytes",
        "x-ms-lease-status": "unlocked",
        "x-ms-lease-state": "available",
        "x-ms-server-encrypted": "true",
    }
    for prop, name in _RESPONSE_HEADERS.items():
        if p.get(prop):
            h[name] = str(p[prop])
    if "Content-Type" not in h:
        h["Content-Type"] = "application/octet-stream"
    if doc["blob_type"] == "PageBlob":
        h["x-ms-blob-sequence-number"] = str(p.get("sequence_number", 0))
    else:
        h["x-ms-access-tier"] = "Hot"
        h["x-ms-access-tier-inferred"] = "true"
    copy = doc.get("copy")
    if copy:
        h["x-ms-copy-id"] = copy["id"]
        h["x-ms-copy-status"] = copy["status"]
        h["x-ms-copy-source"] = copy["source"]
        h["x-ms-copy-progress"] = copy["progress"]
        if copy.get("completion_time"):
            h["x-ms-copy-completion-time"] = clock.rfc1123(copy["completion_time"])
        if copy.get("status_description"):
            h["x-ms-copy-status-description"] = copy["status_description"]
    h.update(metadata_headers(doc.get("metadata") or {}))
    if content_length is not None:
        h["Content-Length"] = str(content_length)
    return h


def write_headers(doc: Doc) -> dict[str, str]:
    """ETag/Last-Modified (and the encryption flag) answered by writes."""
    p = doc["properties"]
    return {
        "ETag": p["etag"],
        "Last-Modified": clock.rfc1123(p["last_modified"]),
        "x-ms-request-server-encrypted": "true",
    }
