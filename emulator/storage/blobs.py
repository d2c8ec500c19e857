"""Blob-level calls: Put Blob, Put Page, Get Blob (ranges), properties, metadata, Delete.

Page blobs hold their bytes in a sparse :class:`~emulator.pages.PageFile`; block blobs
(Put Blob only, enough for small files) use the same store of bytes. A blob that is the
destination of a pending copy refuses writes with ``409 PendingCopyOperation``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

from aiohttp import web

from diskferry.emulator import clock
from diskferry.emulator.errors import AzureError
from diskferry.emulator.pages import PAGE, Content, PageFile
from diskferry.emulator.storage import model, xmlbodies
from diskferry.emulator.storage.blobheaders import (
    CONTENT_HEADERS,
    blob_headers,
    check_conditions,
    invalid_header,
    invalid_query,
    metadata_from,
    missing_header,
    parse_range,
    write_headers,
)
from diskferry.emulator.storage.calls import BlobCall

Doc = dict[str, Any]

#: largest page blob Azure allows (8 TiB)
MAX_PAGE_BLOB = 8 * 1024**4
#: largest Put Page body (4 MiB)
MAX_PAGE_WRITE = 4 * 1024 * 1024
#: reads larger than this run in a worker thread
THREAD_READ = 1024 * 1024
#: answers larger than this are streamed in pieces of this size (a 1 TiB blob can be read)
STREAM_PIECE = 4 * 1024 * 1024


def pending_copy() -> AzureError:
    return AzureError(409, "PendingCopyOperation", "There is currently a pending copy operation.")


def invalid_blob_type() -> AzureError:
    return AzureError(409, "InvalidBlobType", "The blob type is invalid for this operation.")


def invalid_page_range() -> AzureError:
    return AzureError(416, "InvalidPageRange", "The page range specified is invalid.")


def is_pending(doc: Doc | None) -> bool:
    return bool(doc and (doc.get("copy") or {}).get("status") == "pending")


def new_blob_doc(call: BlobCall, blob_type: str, size: int, existing: Doc | None) -> Doc:
    """A fresh blob document with new empty content (an existing blob's content is dropped)."""
    assert call.container is not None and call.blob is not None and call.account_doc is not None
    if existing is not None:
        call.emu.drop_pages(existing["x"]["data"])
    now = clock.now()
    props: Doc = {
        "created": existing["properties"]["created"] if existing else now,
        "last_modified": now,
        "etag": model.new_etag(),
        "content_length": size,
        "content_type": "application/octet-stream",
    }
    for header, prop in CONTENT_HEADERS.items():
        if call.headers.get(header):
            props[prop] = call.headers[header]
    if blob_type == "PageBlob":
        try:
            props["sequence_number"] = int(call.headers.get("x-ms-blob-sequence-number", "0") or 0)
        except ValueError as exc:
            raise invalid_header("x-ms-blob-sequence-number") from exc
    return {
        "account": call.account,
        "container": call.container,
        "name": call.blob,
        "account_id": call.account_doc["id"],
        "location": call.account_doc["location"],
        "blob_type": blob_type,
        "properties": props,
        "metadata": metadata_from(call.headers),
        "copy": None,
        "tags": dict(call.account_doc.get("tags") or {}),
        "x": {"data": call.emu.new_pages(size).id},
    }


async def put_blob(call: BlobCall) -> web.StreamResponse:
    call.container_doc()
    assert call.container is not None and call.blob is not None
    existing = model.get_blob(call.emu, call.account, call.container, call.blob)
    check_conditions(call.headers, existing)
    if is_pending(existing):
        raise pending_copy()
    blob_type = call.headers.get("x-ms-blob-type", "")
    body = await call.request.read()
    if blob_type == "PageBlob":
        if body:
            raise invalid_header("Content-Length")
        try:
            size = int(call.headers.get("x-ms-blob-content-length", ""))
        except ValueError as exc:
            raise missing_header("x-ms-blob-content-length") from exc
        if size < 0 or size % PAGE or size > MAX_PAGE_BLOB:
            raise invalid_header("x-ms-blob-content-length")
        doc = new_blob_doc(call, "PageBlob", size, existing)
    elif blob_type == "BlockBlob":
        doc = new_blob_doc(call, "BlockBlob", len(body), existing)
        if body:
            call.emu.pages(doc["x"]["data"]).write(0, body)
        doc["properties"].setdefault("content_md5", base64.b64encode(hashlib.md5(body).digest()).decode())  # noqa: S324 - Content-MD5 is MD5
    else:
        raise invalid_header("x-ms-blob-type")
    model.put_blob(call.emu, doc)
    headers = write_headers(doc)
    if blob_type == "BlockBlob":
        headers["Content-MD5"] = doc["properties"]["content_md5"]
    return web.Response(status=201, headers=headers)


async def put_page(call: BlobCall) -> web.StreamResponse:
    doc = call.blob_doc()
    check_conditions(call.headers, doc)
    if doc["blob_type"] != "PageBlob":
        raise invalid_blob_type()
    if is_pending(doc):
        raise pending_copy()
    pf = call.emu.pages(doc["x"]["data"])
    body = await call.request.read()
    md5 = write_pages(call, pf, body)
    model.touch(doc)
    model.put_blob(call.emu, doc)
    headers = write_headers(doc)
    headers["x-ms-blob-sequence-number"] = str(doc["properties"].get("sequence_number", 0))
    if md5:
        headers["Content-MD5"] = md5
    return web.Response(status=201, headers=headers)


def write_pages(call: BlobCall, pf: PageFile, body: bytes) -> str | None:
    """Apply a Put Page (update or clear) to ``pf``; the Content-MD5 of an update."""
    rng = parse_range(call.headers)
    if rng is None or rng[1] is None:
        raise missing_header("x-ms-range")
    start, end = rng[0], rng[1] + 1
    if start % PAGE or end % PAGE:
        raise invalid_header("x-ms-range")
    if end > pf.size:
        raise invalid_page_range()
    action = call.headers.get("x-ms-page-write", "").lower()
    if action == "update":
        if len(body) != end - start or len(body) > MAX_PAGE_WRITE:
            raise invalid_header("Content-Length")
        pf.write(start, body)
        return base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - Content-MD5 is MD5
    if action == "clear":
        if body:
            raise invalid_header("Content-Length")
        pf.clear(start, end - start)
        return None
    raise invalid_header("x-ms-page-write")


async def read_content(content: Content, offset: int, length: int) -> bytes:
    if length > THREAD_READ:
        return await asyncio.to_thread(content.read, offset, length)
    return content.read(offset, length)


async def serve_read(call: BlobCall, content: Content, headers: dict[str, str]) -> web.StreamResponse:
    """Get Blob on any content: the whole of it, or the requested range (206)."""
    size = content.size
    rng = parse_range(call.headers)
    if rng is None:
        return await _send(call, content, 0, size, 200, headers)
    start, last = rng
    if start >= size:
        raise AzureError(
            416,
            "InvalidRange",
            "The range specified is invalid for the current size of the resource.",
            headers={"Content-Range": f"bytes */{size}"},
        )
    end = size if last is None else min(last + 1, size)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers.pop("Content-MD5", None)  # the blob's MD5 is not the range's
    if call.headers.get("x-ms-range-get-content-md5", "").lower() == "true":
        if end - start > MAX_PAGE_WRITE:
            raise invalid_header("x-ms-range-get-content-md5")
        data = await read_content(content, start, end - start)
        headers["Content-MD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324
        return web.Response(status=206, body=data, headers=headers)
    return await _send(call, content, start, end, 206, headers)


async def _send(
    call: BlobCall, content: Content, start: int, end: int, status: int, headers: dict[str, str]
) -> web.StreamResponse:
    """``content[start:end]`` as the body: in one piece, or streamed when large."""
    if end - start <= STREAM_PIECE:
        headers["Content-Length"] = str(end - start)
        return web.Response(status=status, body=await read_content(content, start, end - start), headers=headers)
    response = web.StreamResponse(status=status, headers={**headers, **call.common})
    response.content_length = end - start
    await response.prepare(call.request)
    for pos in range(start, end, STREAM_PIECE):
        await response.write(await read_content(content, pos, min(STREAM_PIECE, end - pos)))
    await response.write_eof()
    return response


async def get_blob(call: BlobCall) -> web.StreamResponse:
    doc = call.blob_doc()
    check_conditions(call.headers, doc, read=True)
    return await serve_read(call, call.emu.pages(doc["x"]["data"]), blob_headers(doc))


async def get_properties(call: BlobCall) -> web.StreamResponse:
    doc = call.blob_doc()
    check_conditions(call.headers, doc, read=True)
    return head_response(blob_headers(doc, content_length=doc["properties"]["content_length"]))


def head_response(headers: dict[str, str]) -> web.StreamResponse:
    """A HEAD answer whose Content-Length is the resource's, not the (empty) body's."""
    return web.StreamResponse(status=200, headers=headers)


async def get_page_ranges(call: BlobCall) -> web.StreamResponse:
    doc = call.blob_doc()
    check_conditions(call.headers, doc, read=True)
    if doc["blob_type"] != "PageBlob":
        raise invalid_blob_type()
    return page_ranges_response(call, call.emu.pages(doc["x"]["data"]), write_headers(doc))


def page_ranges_response(call: BlobCall, content: Content, headers: dict[str, str]) -> web.Response:
    if "prevsnapshot" in call.query or "prevsnapshoturl" in call.headers:
        raise AzureError(501, "NotImplemented", "The local Azure does not implement page range diffs.")
    rng = parse_range(call.headers)
    start, end = 0, content.size
    if rng is not None:
        start = rng[0]
        end = content.size if rng[1] is None else min(rng[1] + 1, content.size)
        if start % PAGE or (rng[1] is not None and (rng[1] + 1) % PAGE):
            raise invalid_page_range()
    marker = call.query.get("marker")
    if marker:
        try:
            start = max(start, int(marker))
        except ValueError as exc:
            raise invalid_query("marker") from exc
    ranges = content.ranges(start, end)
    next_marker: str | None = None
    if "maxresults" in call.query:
        try:
            limit = max(1, int(call.query["maxresults"]))
        except ValueError as exc:
            raise invalid_query("maxresults") from exc
        if len(ranges) > limit:
            next_marker = str(ranges[limit][0])
            ranges = ranges[:limit]
        else:
            next_marker = ""
    headers = {k: headers[k] for k in ("ETag", "Last-Modified")}
    headers["x-ms-blob-content-length"] = str(content.size)
    body = xmlbodies.page_list(ranges, next_marker)
    return web.Response(status=200, body=body, content_type="application/xml", headers=headers)


async def set_metadata(call: BlobCall) -> web.StreamResponse:
    doc = call.blob_doc()
    check_conditions(call.headers, doc)
    if is_pending(doc):
        raise pending_copy()
    doc["metadata"] = metadata_from(call.headers)
    model.touch(doc)
    model.put_blob(call.emu, doc)
    return web.Response(status=200, headers=write_headers(doc))


async def set_properties(call: BlobCall) -> web.StreamResponse:
    """Set Blob Properties: content headers (all replaced, as Azure does) and page blob size."""
    doc = call.blob_doc()
    check_conditions(call.headers, doc)
    if is_pending(doc):
        raise pending_copy()
    props = doc["properties"]
    for header, prop in CONTENT_HEADERS.items():
        props.pop(prop, None)
        if call.headers.get(header):
            props[prop] = call.headers[header]
    if "x-ms-blob-content-length" in call.headers:
        if doc["blob_type"] != "PageBlob":
            raise invalid_blob_type()
        try:
            size = int(call.headers["x-ms-blob-content-length"])
        except ValueError as exc:
            raise invalid_header("x-ms-blob-content-length") from exc
        if size < 0 or size % PAGE or size > MAX_PAGE_BLOB:
            raise invalid_header("x-ms-blob-content-length")
        call.emu.pages(doc["x"]["data"]).resize(size)
        props["content_length"] = size
    # a concluded copy's properties disappear once the blob is modified
    doc["copy"] = None
    model.touch(doc)
    model.put_blob(call.emu, doc)
    headers = write_headers(doc)
    headers.pop("x-ms-request-server-encrypted")
    if doc["blob_type"] == "PageBlob":
        headers["x-ms-blob-sequence-number"] = str(props.get("sequence_number", 0))
    return web.Response(status=200, headers=headers)


async def delete(call: BlobCall) -> web.StreamResponse:
    doc = call.blob_doc()
    check_conditions(call.headers, doc)
    model.delete_blob_doc(call.emu, doc)
    return web.Response(status=202, headers={"x-ms-delete-type-permanent": "true"})
