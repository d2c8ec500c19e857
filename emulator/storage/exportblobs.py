"""Blob calls on managed-disk export URLs (``md-…`` accounts made by ``beginGetAccess``).

What Azure's disk export endpoints serve: reads (Get Blob Properties, Get Blob, Get Page
Ranges) on Read grants, and Put Page on Write (upload) grants. Access is checked by
``exports.open_export``; everything else is refused.
"""

from __future__ import annotations

from aiohttp import web

from diskferry.emulator import clock, exports
from diskferry.emulator.errors import AzureError
from diskferry.emulator.pages import Content, PageFile
from diskferry.emulator.storage import blobs
from diskferry.emulator.storage.calls import BlobCall, Route

#: operation → permission it needs on the grant's SAS
SERVED = {
    "blob.GetBlobProperties": "r",
    "blob.GetBlob": "r",
    "blob.GetPageRanges": "r",
    "blob.PutPage": "w",
}


def _headers(call: BlobCall, content: Content) -> dict[str, str]:
    grant = exports.find(call.emu, call.account)
    created = grant.created if grant else clock.now()
    return {
        "Last-Modified": clock.rfc1123(created),
        "ETag": f'"0x{int(created * 1e7):X}"',
        "x-ms-blob-type": "PageBlob",
        "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes",
        "x-ms-blob-sequence-number": "0",
        "x-ms-server-encrypted": "true",
        "x-ms-lease-status": "unlocked",
        "x-ms-lease-state": "available",
    }


async def handle(call: BlobCall, route: Route) -> web.StreamResponse:
    needed = SERVED.get(route.op)
    if needed is None or call.container is None or call.blob is None:
        raise AzureError(
            403,
            "AuthorizationPermissionMismatch",
            "This request is not authorized to perform this operation using this permission.",
        )
    content = exports.open_export(call.emu, call.account, call.container, call.blob, dict(call.query), needed)
    headers = _headers(call, content)
    if route.op == "blob.GetBlobProperties":
        headers["Content-Length"] = str(content.size)
        return blobs.head_response(headers)
    if route.op == "blob.GetBlob":
        return await blobs.serve_read(call, content, headers)
    if route.op == "blob.GetPageRanges":
        return blobs.page_ranges_response(call, content, headers)
    assert isinstance(content, PageFile)
    md5 = blobs.write_pages(call, content, await call.request.read())
    if md5:
        headers["Content-MD5"] = md5
    return web.Response(status=201, headers={k: headers[k] for k in ("ETag", "Last-Modified")})
