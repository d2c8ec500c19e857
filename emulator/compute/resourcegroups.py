"""Resource groups (Microsoft.Resources): create or update, get, list, delete."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from diskferry.emulator import clock
from diskferry.emulator.arm import ArmRequest, ArmRouter, completion, json_response, page
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, bad_request, rg_not_found
from diskferry.emulator.locations import check_location

KIND = "resourcegroup"
RGS = "/subscriptions/{sub}/resourcegroups"
RG = RGS + "/{rg}"


def rg_key(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourcegroups/{rg}"


def get_rg(emu: Emulator, sub: str, rg: str) -> dict[str, object]:
    """The resource group's document, or Azure's 404 ``ResourceGroupNotFound``."""
    doc = emu.store.get(KIND, rg_key(sub, rg))
    if doc is None:
        raise rg_not_found(rg)
    return doc


async def put(ctx: ArmRequest) -> web.StreamResponse:
    body = await ctx.body()
    location = str(body.get("location", "")).replace(" ", "").lower()
    if not location:
        raise bad_request("The 'location' property is required.", "LocationRequired")
    check_location(location, "resourceGroups")
    key = rg_key(ctx.sub, ctx.rg)
    existing = ctx.emu.store.get(KIND, key)
    if existing is not None:
        if existing["location"] != location:
            raise AzureError(
                409,
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{location}'. The Resource group already exists "
                f"in location '{existing['location']}'.",
            )
        if "tags" in body:
            existing["tags"] = body.get("tags") or {}
        ctx.emu.store.put(KIND, key, existing)
        return json_response(existing, 200)
    doc = {
        "id": f"/subscriptions/{ctx.sub}/resourceGroups/{ctx.rg}",
        "name": ctx.rg,
        "type": "Microsoft.Resources/resourceGroups",
        "location": location,
        "tags": body.get("tags") or {},
        "properties": {"provisioningState": "Succeeded"},
        "x": {"created": clock.now()},
    }
    ctx.emu.store.put(KIND, key, doc)
    return json_response(public(doc), 201)


def public(doc: dict[str, object]) -> dict[str, object]:
    """The document without the emulator's private ``x`` field."""
    return {k: v for k, v in doc.items() if k != "x"}


async def get(ctx: ArmRequest) -> web.StreamResponse:
    return json_response(public(get_rg(ctx.emu, ctx.sub, ctx.rg)))


async def head(ctx: ArmRequest) -> web.StreamResponse:
    exists = ctx.emu.store.get(KIND, rg_key(ctx.sub, ctx.rg)) is not None
    return web.Response(status=204 if exists else 404)


async def list_(ctx: ArmRequest) -> web.StreamResponse:
    docs = ctx.emu.store.values(KIND, f"/subscriptions/{ctx.sub}/resourcegroups/")
    return page(ctx, [public(d) for d in docs])


async def delete(ctx: ArmRequest) -> web.StreamResponse:
    key = rg_key(ctx.sub, ctx.rg)
    doc = ctx.emu.store.get(KIND, key)
    if doc is None:
        raise rg_not_found(ctx.rg)
    ops = ctx.emu.operations
    return ops.begin(
        ctx, "resourcegroups.delete", {"sub": ctx.sub, "rg": ctx.rg}, location=str(doc["location"]), async_header=False
    )


@completion("resourcegroups.delete")
def _delete_done(emu: Emulator, args: dict[str, object]) -> None:
    """Deleting a group deletes everything in it, as Azure does."""
    sub, rg = str(args["sub"]), str(args["rg"])
    prefix = f"/subscriptions/{sub}/resourcegroups/{rg}/".lower()
    for hook in RG_DELETE_HOOKS:
        hook(emu, prefix)
    emu.store.delete(KIND, rg_key(sub, rg))


#: functions called with (emu, lower-cased id prefix) when a resource group is deleted, so
#: each provider frees what it holds (data files, grants) for resources in the group
RG_DELETE_HOOKS: list[Callable[[Emulator, str], None]] = []


def register(router: ArmRouter) -> None:
    router.add("PUT", RG, "Microsoft.Resources/subscriptions/resourceGroups/write", put)
    router.add("GET", RG, "Microsoft.Resources/subscriptions/resourceGroups/read", get)
    router.add("HEAD", RG, "Microsoft.Resources/subscriptions/resourceGroups/read", head)
    router.add("DELETE", RG, "Microsoft.Resources/subscriptions/resourceGroups/delete", delete)
    router.add("GET", RGS, "Microsoft.Resources/subscriptions/resourceGroups/read", list_)
