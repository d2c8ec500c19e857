"""Service- and container-level blob calls: containers, List Blobs, account information."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from diskferry.emulator import clock
from diskferry.emulator.errors import AzureError
from diskferry.emulator.storage import model, xmlbodies
from diskferry.emulator.storage.blobheaders import check_conditions, metadata_from, metadata_headers
from diskferry.emulator.storage.calls import BlobCall

Doc = dict[str, Any]

CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
#: the most items one listing page holds (Azure's limit)
MAX_RESULTS = 5000


def _xml(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type="application/xml")


def _paging(call: BlobCall) -> tuple[xmlbodies.Paging, int]:
    """The call's paging parameters, and how many items its page may hold."""
    q = call.query
    paging = xmlbodies.Paging(q.get("prefix", ""), q.get("marker", ""), None, q.get("delimiter") or None)
    if "maxresults" not in q:
        return paging, MAX_RESULTS
    try:
        paging.maxresults = int(q["maxresults"])
    except ValueError:
        paging.maxresults = 0
    if paging.maxresults <= 0:
        raise AzureError(
            400,
            "OutOfRangeQueryParameterValue",
            "One of the query parameters specified in the request URI is outside the permissible range.",
        )
    return paging, min(paging.maxresults, MAX_RESULTS)


def _container_headers(doc: Doc) -> dict[str, str]:
    p = doc["properties"]
    return {"ETag": p["etag"], "Last-Modified": clock.rfc1123(p["last_modified"])}


async def list_containers(call: BlobCall) -> web.StreamResponse:
    paging, limit = _paging(call)
    docs = [
        d
        for d in call.emu.store.values(model.CONTAINER_KIND, f"{call.account}/{paging.prefix}")
        if d["account"] == call.account and d["name"].startswith(paging.prefix) and d["name"] >= paging.marker
    ]
    if len(docs) > limit:
        paging.next_marker = docs[limit]["name"]
    include = set(call.query.get("include", "").split(","))
    return _xml(xmlbodies.list_containers(call.endpoint, paging, docs[:limit], "metadata" in include))


async def account_info(call: BlobCall) -> web.StreamResponse:
    acct = call.account_doc or {}
    return web.Response(
        status=200,
        headers={
            "x-ms-sku-name": acct.get("sku", {}).get("name", "Standard_LRS"),
            "x-ms-account-kind": acct.get("kind", "StorageV2"),
            "x-ms-is-hns-enabled": "false",
        },
    )


async def create(call: BlobCall) -> web.StreamResponse:
    assert call.container is not None
    if not CONTAINER_NAME.match(call.container):
        raise AzureError(400, "InvalidResourceName", "The specifed resource name contains invalid characters.")
    key = model.container_key(call.account, call.container)
    if call.emu.store.get(model.CONTAINER_KIND, key) is not None:
        raise AzureError(409, "ContainerAlreadyExists", "The specified container already exists.")
    now = clock.now()
    doc: Doc = {
        "account": call.account,
        "name": call.container,
        "properties": {"etag": model.new_etag(), "last_modified": now, "created": now},
        "metadata": metadata_from(call.headers),
    }
    call.emu.store.put(model.CONTAINER_KIND, key, doc)
    return web.Response(status=201, headers=_container_headers(doc))


async def delete(call: BlobCall) -> web.StreamResponse:
    doc = call.container_doc()
    check_conditions(call.headers, doc)
    assert call.container is not None
    for blob in list(call.emu.store.values(model.BLOB_KIND, model.blob_prefix(call.account, call.container))):
        if blob["container"] == call.container:
            model.delete_blob_doc(call.emu, blob)
    call.emu.store.delete(model.CONTAINER_KIND, model.container_key(call.account, call.container))
    return web.Response(status=202)


async def properties(call: BlobCall) -> web.StreamResponse:
    doc = call.container_doc()
    headers = _container_headers(doc)
    headers.update(metadata_headers(doc.get("metadata") or {}))
    headers.update({
        "x-ms-lease-status": "unlocked",
        "x-ms-lease-state": "available",
        "x-ms-has-immutability-policy": "false",
        "x-ms-has-legal-hold": "false",
        "x-ms-default-encryption-scope": "$account-encryption-key",
        "x-ms-deny-encryption-scope-override": "false",
    })
    return web.Response(status=200, headers=headers)


async def set_metadata(call: BlobCall) -> web.StreamResponse:
    doc = call.container_doc()
    check_conditions(call.headers, doc)
    doc["metadata"] = metadata_from(call.headers)
    model.touch(doc)
    assert call.container is not None
    call.emu.store.put(model.CONTAINER_KIND, model.container_key(call.account, call.container), doc)
    return web.Response(status=200, headers=_container_headers(doc))


async def list_blobs(call: BlobCall) -> web.StreamResponse:
    """List Blobs: by name (case-sensitive order), with prefix, delimiter and paging."""
    call.container_doc()
    assert call.container is not None
    paging, limit = _paging(call)
    prefix, delimiter = paging.prefix, paging.delimiter
    docs = sorted(
        (
            d
            for d in call.emu.store.values(model.BLOB_KIND, model.blob_prefix(call.account, call.container, prefix))
            if d["container"] == call.container and d["name"].startswith(prefix) and d["name"] >= paging.marker
        ),
        key=lambda d: str(d["name"]),
    )
    entries: list[Doc | str] = []
    groups: set[str] = set()
    for d in docs:
        name = d["name"]
        entry: Doc | str = d
        cut = name.find(delimiter, len(prefix)) if delimiter else -1
        if delimiter and cut >= 0:
            group = name[: cut + len(delimiter)]
            if group in groups:
                continue
            groups.add(group)
            entry = group
        if len(entries) == limit:
            paging.next_marker = name
            break
        entries.append(entry)
    include = {i for i in call.query.get("include", "").split(",") if i}
    return _xml(xmlbodies.list_blobs(call.endpoint, call.container, paging, entries, include))
