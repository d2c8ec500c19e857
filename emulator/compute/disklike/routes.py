"""The ARM routes of a disk-like type: PUT (create or update), PATCH, GET, DELETE, lists,
and the two access actions, each bound to the type's ``Flavor``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, ArmRouter, json_response
from diskferry.emulator.compute import common
from diskferry.emulator.compute.disklike.access import grant, revoke
from diskferry.emulator.compute.disklike.create import create
from diskferry.emulator.compute.disklike.resource import Flavor, begin, deletion_blocker
from diskferry.emulator.compute.disklike.update import update
from diskferry.emulator.locations import check_location


async def put(flavor: Flavor, ctx: ArmRequest) -> web.StreamResponse:
    body = await ctx.body()
    location = common.resource_location(ctx.emu, body, ctx.sub, ctx.rg)
    check_location(location, flavor.rt.type)
    existing = flavor.rt.find(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    if existing is None:
        return await create(flavor, ctx, body, location)
    if existing["location"] != location:
        raise common.location_conflict(existing, ctx.rg, location)
    return await update(flavor, ctx, existing, body, replace_tags=True)


async def patch(flavor: Flavor, ctx: ArmRequest) -> web.StreamResponse:
    body = await ctx.body()
    doc = flavor.rt.get(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    return await update(flavor, ctx, doc, body, replace_tags=False)


async def delete(flavor: Flavor, ctx: ArmRequest) -> web.StreamResponse:
    doc = flavor.rt.find(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    if doc is None:
        return json_response(None, 204)
    blocker = deletion_blocker(doc)
    if blocker is not None:
        raise blocker
    return begin(ctx, "disklike.delete", doc)


def register(router: ArmRouter, flavor: Flavor) -> None:
    rt = flavor.rt

    def bound(fn: Callable[[Flavor, ArmRequest], Awaitable[web.StreamResponse]]) -> Any:
        async def handler(ctx: ArmRequest) -> web.StreamResponse:
            return await fn(flavor, ctx)

        return handler

    router.add("PUT", rt.item_path, rt.op("write"), bound(put))
    router.add("PATCH", rt.item_path, rt.op("write"), bound(patch))
    router.add("GET", rt.item_path, rt.op("read"), rt.handle_get)
    router.add("DELETE", rt.item_path, rt.op("delete"), bound(delete))
    router.add("GET", rt.rg_path, rt.op("read"), rt.handle_list_rg)
    router.add("GET", rt.sub_path, rt.op("read"), rt.handle_list_sub)
    router.add("POST", rt.item_path + "/beginGetAccess", rt.op("beginGetAccess/action"), bound(grant))
    router.add("POST", rt.item_path + "/endGetAccess", rt.op("endGetAccess/action"), bound(revoke))
