"""ARM plumbing shared by the Microsoft.Network resources.

Network resources are store documents like the Compute ones (kind, lower-cased id key,
private ``x``); they differ in three ways that Azure's Network RP has: every resource and
sub-resource carries an ``etag``, a PUT answers 200/201 with ``Azure-AsyncOperation`` and
the resource in ``provisioningState: Updating``, and a reference to a missing or other-region
resource is a 400 ``InvalidResourceReference``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from diskferry.emulator.arm import ArmHandler, ArmRequest, ArmRouter, completion, json_response
from diskferry.emulator.compute import common as cc
from diskferry.emulator.compute import resourcegroups
from diskferry.emulator.compute.common import Doc, ResourceType, accepted, key_of
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError

PROVIDER = "Microsoft.Network"


class NetworkType(ResourceType):
    """A Microsoft.Network resource type: the Compute helper, under another provider."""

    def __init__(self, kind: str, collection: str) -> None:
        super().__init__(kind, collection)
        self.type = f"{PROVIDER}/{collection}"
        self.rg_path = "/subscriptions/{sub}/resourceGroups/{rg}/providers/" + self.type
        self.item_path = self.rg_path + "/{name}"
        self.sub_path = "/subscriptions/{sub}/providers/" + self.type


def etag() -> str:
    return f'W/"{uuid.uuid4()}"'


def invalid_reference(target: str, referrer: str) -> AzureError:
    """A reference to a resource that is missing or in another region (Network RP wording)."""
    return AzureError(
        400,
        "InvalidResourceReference",
        f"Resource {target} referenced by resource {referrer} was not found. Please make sure that the "
        "referenced resource exists, and that both resources are in the same region.",
    )


def ref_id(value: object, where: str) -> str:
    """The ``id`` of a ``{"id": ...}`` reference in a request body."""
    rid = value.get("id") if isinstance(value, dict) else None
    if not isinstance(rid, str) or not rid:
        raise AzureError(400, "InvalidRequestFormat", f"Value for reference id is missing. Path {where}.")
    return rid


def save(emu: Emulator, kind: str, doc: Doc) -> None:
    doc["etag"] = etag()
    emu.store.put(kind, key_of(doc["id"]), doc)


def begin_put(ctx: ArmRequest, doc: Doc, created: bool, shown: Doc | None = None) -> web.Response:
    """Answer a PUT as the Network RP does: the resource ``Updating``, then ``Succeeded``.

    ``shown``: the sub-resource the PUT was about (a subnet), answered instead of ``doc``.
    """
    ops = ctx.emu.operations
    return ops.begin(
        ctx,
        "network.provisioned",
        {"kind": doc["x"]["kind"], "key": key_of(doc["id"])},
        location=doc["location"],
        initial_status=201 if created else 200,
        initial_body=accepted(shown or doc),
        location_header=False,
    )


@completion("network.provisioned")
def _provisioned(emu: Emulator, args: Doc) -> None:
    doc = emu.store.get(args["kind"], args["key"])
    if doc is None:
        return
    doc["properties"]["provisioningState"] = "Succeeded"
    for child in _children(doc):
        child["properties"]["provisioningState"] = "Succeeded"
    emu.store.put(args["kind"], args["key"], doc)


def _children(doc: Doc) -> list[Doc]:
    props = doc["properties"]
    return [*props.get("subnets", []), *props.get("ipConfigurations", [])]


def begin_delete(ctx: ArmRequest, doc: Doc, complete: str) -> web.Response:
    ops = ctx.emu.operations
    return ops.begin(ctx, complete, {"key": key_of(doc["id"])}, location=doc["location"])


def gone() -> web.Response:
    """DELETE of a resource that is not there: Azure answers 204."""
    return json_response(None, 204)


# ---------------------------------------------------------------------------------------
# what every top-level resource (of either provider) does alike


@dataclass
class PutTarget:
    """What a create-or-update PUT is about: its body, region, id, and the resource it replaces."""

    body: Doc
    location: str
    id: str
    old: Doc | None

    def kept(self, key: str, default: object = None) -> Any:
        """A property of the replaced resource the service keeps across PUTs."""
        return (self.old or {}).get("properties", {}).get(key, default)


async def put_target(ctx: ArmRequest, rt: ResourceType) -> PutTarget:
    """The PUT's target, after ARM's checks (group exists, location given and unchanged)."""
    body = await ctx.body()
    location = cc.resource_location(ctx.emu, body, ctx.sub, ctx.rg)
    old = rt.find(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    if old is not None and old["location"] != location:
        raise cc.location_conflict(old, ctx.rg, location)
    rid = old["id"] if old else rt.rid(ctx.sub, ctx.rg, ctx.params["name"])
    return PutTarget(body, location, rid, old)


def save_at_once(ctx: ArmRequest, rt: ResourceType, doc: Doc, body: Doc) -> web.StreamResponse:
    """Store a resource Compute makes synchronously (availability sets, disk encryption sets) with
    the request's tags, and answer it: 200, whether new or replaced."""
    cc.set_tags(doc, cc.tags_of(body))
    ctx.emu.store.put(rt.kind, key_of(doc["id"]), doc)
    return json_response(cc.public(doc), 200)


def delete_at_once(ctx: ArmRequest, rt: ResourceType,
                   refusal: Callable[[Doc], AzureError | None]) -> web.StreamResponse:
    """Delete such a resource unless ``refusal`` names why not (in use): 200, or 204 when absent."""
    doc = rt.find(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    if doc is None:
        return json_response(None, 204)
    refused = refusal(doc)
    if refused is not None:
        raise refused
    ctx.emu.store.delete(rt.kind, doc["id"])
    return json_response(None, 200)


def register_crud(router: ArmRouter, rt: ResourceType, put: ArmHandler, delete: ArmHandler) -> None:
    """PUT, GET, DELETE of one resource, and its lists by group and by subscription."""
    router.add("PUT", rt.item_path, rt.op("write"), put)
    router.add("GET", rt.item_path, rt.op("read"), rt.handle_get)
    router.add("DELETE", rt.item_path, rt.op("delete"), delete)
    router.add("GET", rt.rg_path, rt.op("read"), rt.handle_list_rg)
    router.add("GET", rt.sub_path, rt.op("read"), rt.handle_list_sub)


def drop_with_group(rt: ResourceType, remove: Callable[[Emulator, Doc], None] | None = None) -> None:
    """Resources of this type go with their resource group (``remove`` frees what they hold)."""

    def hook(emu: Emulator, prefix: str) -> None:
        for doc in list(emu.store.values(rt.kind, prefix)):
            if remove is not None:
                remove(emu, doc)
            else:
                emu.store.delete(rt.kind, doc["id"])

    resourcegroups.RG_DELETE_HOOKS.append(hook)
