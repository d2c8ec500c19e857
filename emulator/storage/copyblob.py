"""Copy Blob and Abort Copy Blob: the calls that start and stop the copy engine's work."""

from __future__ import annotations

from aiohttp import web

from diskferry.emulator.errors import AzureError
from diskferry.emulator.storage import blobauth, copysource, model
from diskferry.emulator.storage.blobheaders import CONTENT_HEADERS, check_conditions, invalid_header, write_headers
from diskferry.emulator.storage.blobs import is_pending, new_blob_doc, pending_copy
from diskferry.emulator.storage.calls import BlobCall
from diskferry.emulator.storage.copyengine import CopyEngine


def engine(call: BlobCall) -> CopyEngine:
    if call.emu.copies is None:
        raise RuntimeError("the copy engine is bound when the server starts")
    return call.emu.copies


async def copy_blob(call: BlobCall) -> web.StreamResponse:
    """Start an asynchronous copy into this blob: ``202`` with ``x-ms-copy-status: pending``.

    The source is verified first; if it cannot be read the call fails with
    ``CannotVerifyCopySource`` (the source's own status) and nothing is created.
    """
    call.container_doc()
    assert call.container is not None and call.blob is not None and call.account_doc is not None
    existing = model.get_blob(call.emu, call.account, call.container, call.blob)
    check_conditions(call.headers, existing)
    if is_pending(existing):
        raise pending_copy()
    if call.headers.get("x-ms-requires-sync", "").lower() == "true":
        raise AzureError(501, "NotImplemented", "The local Azure does not implement Copy Blob From URL.")
    url = call.headers.get("x-ms-copy-source", "")
    if not url:
        raise invalid_header("x-ms-copy-source")
    trusted = call.principal in ("sharedkey", "bearer")
    source_auth = call.headers.get("x-ms-copy-source-authorization")
    if source_auth:
        blobauth.check_bearer(call.emu, source_auth, call.account)
    source = copysource.parse(call.emu, url, call.account, trusted)
    if source_auth and not source.is_export and "sig" not in source.query:
        source.trusted = True
    try:
        content, region, source_doc = source.verify(call.emu)
    except AzureError as err:
        raise copysource.cannot_verify(err) from err

    blob_type = source_doc["blob_type"] if source_doc else "PageBlob"
    if existing is not None and existing["blob_type"] != blob_type:
        raise AzureError(409, "InvalidBlobType", "The blob type is invalid for this operation.")
    doc = new_blob_doc(call, blob_type, content.size, existing)
    if source_doc is not None:
        # properties, and metadata unless the call gives its own, come from the source
        if not doc["metadata"]:
            doc["metadata"] = dict(source_doc.get("metadata") or {})
        for prop in CONTENT_HEADERS.values():
            if source_doc["properties"].get(prop):
                doc["properties"][prop] = source_doc["properties"][prop]
    fault = call.emu.faults.take(call.op, "copy", call.request.path)
    job = engine(call).start(doc, source, content, source_doc, (region, doc["location"]), fault)
    headers = write_headers(doc)
    headers.pop("x-ms-request-server-encrypted")
    headers["x-ms-copy-id"] = job.id
    headers["x-ms-copy-status"] = "pending"
    return web.Response(status=202, headers=headers)


async def abort_copy(call: BlobCall) -> web.StreamResponse:
    """Abort a pending copy: the blob stays, with zero length and its metadata."""
    if call.headers.get("x-ms-copy-action", "").lower() != "abort":
        raise invalid_header("x-ms-copy-action")
    doc = call.blob_doc()
    copy = doc.get("copy") or {}
    if copy.get("id") != call.query.get("copyid"):
        raise AzureError(
            409, "CopyIdMismatch", "The specified copy ID did not match the copy ID for the pending copy operation."
        )
    if copy.get("status") != "pending":
        raise AzureError(409, "NoPendingCopyOperation", "There is currently no pending copy operation.")
    engine(call).abort(doc)
    return web.Response(status=204)
