"""Public IP addresses (Microsoft.Network/publicIPAddresses), optional on a NIC.

An address is held by at most one IP configuration (``properties.ipConfiguration``); a NIC
that references an address held elsewhere is refused, and a held address cannot be deleted
(``PublicIPAddressCannotBeDeleted``) until its NIC lets it go.
"""

from __future__ import annotations

import hashlib
import uuid

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, ArmRouter, completion
from diskferry.emulator.compute import common as cc
from diskferry.emulator.compute import sizes
from diskferry.emulator.compute.common import Doc
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.network import common
from diskferry.emulator.network.common import NetworkType

TYPE = NetworkType("publicip", "publicIPAddresses")


def _address(rid: str) -> str:
    """A stable public-looking IPv4 address for a resource (documentation range 203.0.113.0/24 is too small)."""
    digest = hashlib.sha256(rid.lower().encode()).digest()
    return f"20.{digest[0]}.{digest[1]}.{max(1, digest[2] % 255)}"


async def put(ctx: ArmRequest) -> web.StreamResponse:
    target = await common.put_target(ctx, TYPE)
    body, rid = target.body, target.id
    props = body.get("properties") or {}
    sku = (body.get("sku") or {}).get("name") or "Standard"
    if sku not in ("Basic", "Standard"):
        raise cc.invalid("sku.name", f"The value '{sku}' of parameter 'sku.name' is not supported (Basic, Standard).")
    held = target.kept("ipConfiguration")
    doc: Doc = {
        "id": rid,
        "name": ctx.params["name"],
        "type": TYPE.type,
        "location": target.location,
        "sku": {"name": sku, "tier": "Regional"},
        "properties": {
            "publicIPAllocationMethod": props.get("publicIPAllocationMethod") or "Static",
            "publicIPAddressVersion": props.get("publicIPAddressVersion") or "IPv4",
            "idleTimeoutInMinutes": props.get("idleTimeoutInMinutes") or 4,
            "ipAddress": _address(rid),
            "resourceGuid": target.kept("resourceGuid") or str(uuid.uuid4()),
            "provisioningState": "Updating",
            **({"ipConfiguration": held} if held else {}),
        },
        "x": {"kind": TYPE.kind},
    }
    zones = [str(z) for z in body.get("zones") or []]
    # a Standard public IP may be zone-redundant (several zones), in a region that has zones
    sizes.check_zones(TYPE.type, ctx.params["name"], target.location, zones, single=False)
    if zones:
        doc["zones"] = zones
    cc.set_tags(doc, cc.tags_of(body))
    common.save(ctx.emu, TYPE.kind, doc)
    return common.begin_put(ctx, doc, created=target.old is None)


def claim(emu: Emulator, pip_id: str, config_id: str, location: str) -> None:
    """Give the address to an IP configuration of a NIC in ``location``."""
    doc = TYPE.by_id(emu, pip_id)
    if doc is None or doc["location"] != location:
        raise common.invalid_reference(pip_id, config_id)
    held = (doc["properties"].get("ipConfiguration") or {}).get("id")
    if held and held.lower() != config_id.lower():
        raise AzureError(
            400,
            "PublicIPAddressInUse",
            f"Resource {config_id} is referencing public IP address {doc['id']} that is already allocated to "
            f"resource {held}.",
        )
    doc["properties"]["ipConfiguration"] = {"id": config_id}
    common.save(emu, TYPE.kind, doc)


def release(emu: Emulator, pip_id: str, config_id: str) -> None:
    doc = TYPE.by_id(emu, pip_id)
    held = (doc or {}).get("properties", {}).get("ipConfiguration") or {}
    if doc is not None and str(held.get("id", "")).lower() == config_id.lower():
        del doc["properties"]["ipConfiguration"]
        common.save(emu, TYPE.kind, doc)


async def delete(ctx: ArmRequest) -> web.StreamResponse:
    doc = TYPE.find(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    if doc is None:
        return common.gone()
    held = doc["properties"].get("ipConfiguration")
    if held:
        raise AzureError(
            400,
            "PublicIPAddressCannotBeDeleted",
            f"Public IP address {doc['id']} can not be deleted since it is still allocated to resource {held['id']}. "
            "In order to delete the public IP, disassociate/detach the Public IP address from the resource.  To "
            "learn how to do this, see aka.ms/deletepublicip.",
        )
    return common.begin_delete(ctx, doc, "publicips.delete")


@completion("publicips.delete")
def _deleted(emu: Emulator, args: Doc) -> None:
    emu.store.delete(TYPE.kind, args["key"])


def register(router: ArmRouter) -> None:
    common.register_crud(router, TYPE, put, delete)


common.drop_with_group(TYPE)
