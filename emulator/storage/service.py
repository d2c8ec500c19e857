"""The blob port: one aiohttp handler that names each call, then authorizes and runs it.

URLs are path-style (``/{account}/{container}/{blob}``). A call is named by its REST
operation (``blob.GetBlobProperties``, ``blob.CopyBlob``, ...) by
:mod:`diskferry.emulator.storage.routes`; the name drives counters, latency and ``http`` fault rules
exactly as the management port does for ARM. Accounts named ``md-…`` are managed-disk
exports and go to :mod:`diskferry.emulator.storage.exportblobs`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from urllib.parse import unquote

from aiohttp import web

from diskferry.emulator import exports
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.storage import blobauth, exportblobs, model, routes, xmlbodies
from diskferry.emulator.storage.calls import BlobCall

log = logging.getLogger(__name__)
#: the service version answered when a call names none
DEFAULT_VERSION = "2026-10-06"


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
        route = routes.resolve(request, container, blob)
        export = exports.is_export_account(account)
        account_doc = None if export else model.find_account(emu, account)
        if not export and account_doc is None:
            return _unreachable(request, account)
        emu.faults.count(route.op)
        delay = emu.faults.settings.request_latency_for(route.op)
        if delay > 0:
            await asyncio.sleep(delay)
        fault = emu.faults.take(route.op, "http", request.path)
        if fault is not None:
            # whole seconds, never rounded down to 0 (which clients read as "no hint")
            extra = {"Retry-After": str(math.ceil(fault.retry_after))} if fault.retry_after is not None else {}
            raise AzureError(fault.status, fault.code, fault.message, headers=extra)
        if export:
            call = BlobCall(request, emu, route.op, account, container, blob, None, common=common)
            response = await exportblobs.handle(call, route)
        else:
            assert account_doc is not None
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


def _unreachable(request: web.Request, account: str) -> web.StreamResponse:
    """A call to an account that does not exist. In Azure it never reaches the service: an
    account's endpoint is its own host name (``{account}.blob.core.windows.net``), which stops
    resolving once the account is deleted (Azurite's maintainers, Azure/Azurite#1816: "the host
    name ... can't be resolved correctly by DNS, so the request can't be sent"). Clients meet a
    connection error, never a 404 — which is what this path-style emulator gives them: the
    connection is dropped without an answer, uncounted (no call reached Azure)."""
    log.info("blob call %s %s: no account %s: connection dropped, as an unresolvable host name fails",
             request.method, request.rel_url.path, account)
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=503)  # never sent: the connection is gone


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
