"""The blob port: one aiohttp handler that names each call, then authorizes and runs it.

URLs are path-style (``/{account}/{container}/{blob}``). A call is named by its REST
operation (``blob.GetBlobProperties``, ``blob.CopyBlob``, ...) from its method, ``restype``,
``comp`` and a few headers; the name drives counters, latency and ``http`` fault rules
exactly as the management port does for ARM. Accounts named ``md-…`` are managed-disk
exports and go to :mod:`diskferry.emulator.storage.exportblobs`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from multidict import CIMultiDictProxy, MultiMapping

from diskferry.emulator import exports
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.storage import blobauth, model, xmlbodies

Doc = dict[str, Any]
log = logging.getLogger(__name__)
#: the service version answered when a call names none
DEFAULT_VERSION = "2026-10-06"


@dataclass
class BlobCall:
    """One routed blob call."""

    request: web.Request
    emu: Emulator
    op: str
    account: str
    container: str | None
    blob: str | None
    #: the storage account document (None for export accounts)
    account_doc: Doc | None
    principal: str = ""
    #: headers every answer carries (request id, version); a handler that streams its
    #: answer sends them itself
    common: dict[str, str] = field(default_factory=dict)

    @property
    def query(self) -> MultiMapping[str]:
        return self.request.query

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self.request.headers

    @property
    def endpoint(self) -> str:
        return f"{self.emu.blob_url}/{self.account}/"

    def container_doc(self) -> Doc:
        assert self.container is not None
        doc = self.emu.store.get(model.CONTAINER_KIND, model.container_key(self.account, self.container))
        if doc is None:
            raise AzureError(404, "ContainerNotFound", "The specified container does not exist.")
        return doc

    def blob_doc(self) -> Doc:
        """The blob's document (its container checked first, as Azure reports)."""
        assert self.container is not None and self.blob is not None
        doc = model.get_blob(self.emu, self.account, self.container, self.blob)
        if doc is None:
            self.container_doc()
            raise AzureError(404, "BlobNotFound", "The specified blob does not exist.")
        return doc


Handler = Callable[[BlobCall], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    op: str
    handler: Handler
    #: the SAS permission letter the call needs
    permission: str


def _routes() -> dict[tuple[str, str, str], Route]:
    """(level, method, selector) → route; selector is ``comp`` (or a header-derived name)."""
    from diskferry.emulator.storage import blobs, containers, copyblob

    r = Route
    return {
        ("service", "GET", "list"): r("blob.ListContainers", containers.list_containers, "l"),
        ("service", "GET", "account/properties"): r("blob.GetAccountInfo", containers.account_info, "r"),
        ("service", "HEAD", "account/properties"): r("blob.GetAccountInfo", containers.account_info, "r"),
        ("container", "PUT", ""): r("blob.CreateContainer", containers.create, "c"),
        ("container", "DELETE", ""): r("blob.DeleteContainer", containers.delete, "d"),
        ("container", "GET", ""): r("blob.GetContainerProperties", containers.properties, "r"),
        ("container", "HEAD", ""): r("blob.GetContainerProperties", containers.properties, "r"),
        ("container", "PUT", "metadata"): r("blob.SetContainerMetadata", containers.set_metadata, "w"),
        ("container", "GET", "list"): r("blob.ListBlobs", containers.list_blobs, "l"),
        ("blob", "PUT", ""): r("blob.PutBlob", blobs.put_blob, "w"),
        ("blob", "PUT", "copy-source"): r("blob.CopyBlob", copyblob.copy_blob, "w"),
        ("blob", "PUT", "copy"): r("blob.AbortCopyBlob", copyblob.abort_copy, "w"),
        ("blob", "PUT", "page"): r("blob.PutPage", blobs.put_page, "w"),
        ("blob", "PUT", "metadata"): r("blob.SetBlobMetadata", blobs.set_metadata, "w"),
        ("blob", "PUT", "properties"): r("blob.SetBlobProperties", blobs.set_properties, "w"),
        ("blob", "GET", ""): r("blob.GetBlob", blobs.get_blob, "r"),
        ("blob", "HEAD", ""): r("blob.GetBlobProperties", blobs.get_properties, "r"),
        ("blob", "GET", "pagelist"): r("blob.GetPageRanges", blobs.get_page_ranges, "r"),
        ("blob", "DELETE", ""): r("blob.DeleteBlob", blobs.delete, "d"),
    }


_ROUTES: dict[tuple[str, str, str], Route] = {}


def resolve(request: web.Request, container: str | None, blob: str | None) -> Route:
    if not _ROUTES:
        _ROUTES.update(_routes())
    q = request.query
    comp = q.get("comp", "")
    if blob is not None:
        level = "blob"
        if request.method == "PUT" and not comp and "x-ms-copy-source" in request.headers:
            comp = "copy-source"
    elif container is not None:
        level = "container"
        if q.get("restype") != "container":
            raise AzureError(
                400,
                "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is invalid.",
            )
    else:
        level = "service"
        if q.get("restype"):
            comp = f"{q['restype']}/{comp}"
    route = _ROUTES.get((level, request.method, comp))
    if route is None:
        raise AzureError(
            501,
            "NotImplemented",
            f"The local Azure does not implement this blob operation ({request.method} {level} comp={comp!r}).",
        )
    return route


def split_path(raw_path: str) -> tuple[str, str | None, str | None]:
    parts = raw_path.lstrip("/").split("/", 2)
    account = unquote(parts[0]).lower()
    container = unquote(parts[1]) if len(parts) > 1 and parts[1] else None
    blob = unquote(parts[2]) if len(parts) > 2 and parts[2] else None
    if not account:
        raise AzureError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
    return account, container, blob


async def dispatch(request: web.Request) -> web.StreamResponse:
    emu: Emulator = request.app["emu"]
    request_id = str(uuid.uuid4())
    common = {
        "x-ms-request-id": request_id,
        "x-ms-version": request.headers.get("x-ms-version", DEFAULT_VERSION),
        "Server": "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0",
    }
    client_id = request.headers.get("x-ms-client-request-id")
    if client_id:
        common["x-ms-client-request-id"] = client_id
    try:
        account, container, blob = split_path(request.rel_url.raw_path)
        route = resolve(request, container, blob)
        emu.faults.count(route.op)
        delay = emu.faults.settings.request_latency_for(route.op)
        if delay > 0:
            await asyncio.sleep(delay)
        fault = emu.faults.take(route.op, "http")
        if fault is not None:
            # whole seconds, never rounded down to 0 (which clients read as "no hint")
            extra = {"Retry-After": str(math.ceil(fault.retry_after))} if fault.retry_after is not None else {}
            raise AzureError(fault.status, fault.code, fault.message, headers=extra)
        if exports.is_export_account(account):
            from diskferry.emulator.storage import exportblobs

            call = BlobCall(request, emu, route.op, account, container, blob, None, common=common)
            response = await exportblobs.handle(call, route)
        else:
            account_doc = model.find_account(emu, account)
            if account_doc is None:
                raise AzureError(404, "ResourceNotFound", "The specified resource does not exist.")
            call = BlobCall(request, emu, route.op, account, container, blob, account_doc, common=common)
            call.principal = blobauth.authorize(emu, request, account_doc, container, blob, route.permission)
            response = await route.handler(call)
    except AzureError as err:
        response = error_response(err, request_id, request.method == "HEAD")
    except Exception:  # a bug here must still answer as the storage service would
        log.exception("blob call %s %s failed", request.method, request.rel_url.path)
        failure = AzureError(500, "InternalError", "Server encountered an internal error. Please retry the request.")
        response = error_response(failure, request_id, request.method == "HEAD")
    if not response.prepared:
        response.headers.update(common)
    return response


def error_response(err: AzureError, request_id: str, head: bool) -> web.Response:
    headers = {"x-ms-error-code": err.code, **err.headers}
    if head:
        return web.Response(status=err.status, headers=headers)
    return web.Response(
        status=err.status,
        body=xmlbodies.error(err.code, err.message, request_id),
        content_type="application/xml",
        headers=headers,
    )


def app(emu: Emulator) -> web.Application:
    application = web.Application(client_max_size=256 * 1024 * 1024)
    application["emu"] = emu
    application.router.add_route("*", "/{tail:.*}", dispatch)
    return application
