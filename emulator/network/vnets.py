"""Virtual networks (Microsoft.Network/virtualNetworks) and their subnets.

A subnet lives inside its virtual network's document (as in ARM, where a VNet PUT carries
its subnets); the ``subnets`` routes read and change it there. Each subnet lists the IP
configurations that use it (``ipConfigurations``), and the private addresses handed out
are kept in ``x.ips`` (subnet name -> {address: ip configuration id}).

Azure's rules kept: prefixes in CIDR notation with no host bits (``InvalidCIDRNotation``),
a subnet inside the VNet's address space (``NetcfgSubnetRangeOutsideVnet``), subnets not
overlapping (``NetcfgSubnetRangesOverlap``), a subnet used by an IP configuration cannot be
deleted, nor dropped by a VNet PUT, nor its VNet deleted (``InUseSubnetCannotBeDeleted``).
Azure keeps the first four addresses and the last one of every subnet.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, ArmRouter, completion, json_response, page, parse_id
from diskferry.emulator.compute import common as cc
from diskferry.emulator.compute.common import Doc
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, not_found
from diskferry.emulator.network import common
from diskferry.emulator.network.common import NetworkType

TYPE = NetworkType("vnet", "virtualNetworks")
SUBNET_TYPE = f"{TYPE.type}/subnets"
#: addresses Azure keeps at the start of every subnet (network, gateway, 2 x DNS)
RESERVED_AT_START = 4

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# ---------------------------------------------------------------------------------------
# address prefixes


def _prefix(value: Any, resource_id: str) -> Network:
    try:
        net = ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise AzureError(
            400,
            "InvalidAddressPrefixFormat",
            f"Address prefix {value} for resource {resource_id} is not formatted correctly. It should follow "
            "CIDR notation, for example 10.0.0.0/24.",
        ) from None
    if str(net) != str(value):
        raise AzureError(
            400,
            "InvalidCIDRNotation",
            f"The address prefix {value} in resource {resource_id} has an invalid CIDR notation. For the given "
            f"prefix length, the address prefix should be {net}.",
        )
    return net


def _subnet_prefix(vnet_id: str, spaces: list[Network], subnet: Doc, others: list[tuple[str, Network]]) -> Network:
    sid = f"{vnet_id}/subnets/{subnet['name']}"
    prefix = cc.required(subnet["properties"].get("addressPrefix"), f"subnets['{subnet['name']}'].addressPrefix")
    net = _prefix(prefix, sid)
    if not any(net.version == s.version and net.subnet_of(s) for s in spaces):  # type: ignore[arg-type]
        raise AzureError(
            400,
            "NetcfgSubnetRangeOutsideVnet",
            f"Subnet '{subnet['name']}' is not valid because its IP address range is outside the IP address "
            f"range of virtual network '{vnet_id.rsplit('/', 1)[1]}'.",
        )
    for name, other in others:
        if name.lower() != subnet["name"].lower() and net.overlaps(other):
            raise AzureError(
                400,
                "NetcfgSubnetRangesOverlap",
                f"Subnet '{subnet['name']}' is not valid because its IP address range overlaps with that of an "
                f"existing subnet in virtual network '{vnet_id.rsplit('/', 1)[1]}'.",
            )
    return net


# ---------------------------------------------------------------------------------------
# subnets inside a VNet document


def subnet_doc(vnet_id: str, name: str, props: Doc, old: Doc | None) -> Doc:
    """A subnet as ARM answers it; what the service keeps (IP configurations) survives a PUT."""
    kept = {k: v for k, v in props.items() if k not in ("provisioningState", "ipConfigurations")}
    return {
        "id": f"{vnet_id}/subnets/{name}",
        "name": name,
        "type": SUBNET_TYPE,
        "etag": common.etag(),
        "properties": {
            **kept,
            "ipConfigurations": (old or {}).get("properties", {}).get("ipConfigurations", []),
            "provisioningState": "Updating",
        },
    }


def _find_subnet(vnet: Doc, name: str) -> Doc | None:
    found: list[Doc] = [s for s in vnet["properties"]["subnets"] if s["name"].lower() == name.lower()]
    return found[0] if found else None


def _in_use(subnet: Doc) -> AzureError | None:
    configs = subnet["properties"].get("ipConfigurations") or []
    if not configs:
        return None
    return AzureError(
        400,
        "InUseSubnetCannotBeDeleted",
        f"Subnet {subnet['name']} is in use by {configs[0]['id']} and cannot be deleted. In order to delete the "
        "subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.",
    )


def _check_subnets(vnet_id: str, spaces: list[Network], subnets: list[Doc]) -> None:
    placed: list[tuple[str, Network]] = []
    seen: set[str] = set()
    for subnet in subnets:
        if subnet["name"].lower() in seen:
            raise AzureError(
                400, "InvalidRequestFormat", f"Subnet '{subnet['name']}' is listed more than once in {vnet_id}."
            )
        seen.add(subnet["name"].lower())
        placed.append((subnet["name"], _subnet_prefix(vnet_id, spaces, subnet, placed)))


def _spaces(vnet_id: str, props: Doc) -> list[Network]:
    prefixes = cc.required((props.get("addressSpace") or {}).get("addressPrefixes"), "addressSpace.addressPrefixes")
    if not isinstance(prefixes, list):
        raise cc.invalid("addressSpace.addressPrefixes")
    return [_prefix(p, vnet_id) for p in prefixes]


# ---------------------------------------------------------------------------------------
# lookups used by the NICs


def find_subnet(emu: Emulator, subnet_id: str) -> tuple[Doc, Doc] | None:
    """``(vnet document, subnet)`` of a subnet id, or None."""
    vnet_id, sep, name = subnet_id.strip().rpartition("/subnets/")
    if not sep or "/" in name or parse_id(vnet_id) is None:
        return None
    vnet = TYPE.by_id(emu, vnet_id)
    subnet = _find_subnet(vnet, name) if vnet else None
    return (vnet, subnet) if vnet is not None and subnet is not None else None


def claim_address(emu: Emulator, vnet: Doc, subnet: Doc, config_id: str, wanted: str | None) -> str:
    """Hand a private address of ``subnet`` to an IP configuration (the one it asks for, or the next free)."""
    ips: dict[str, str] = vnet["x"].setdefault("ips", {}).setdefault(subnet["name"].lower(), {})
    for address, holder in ips.items():
        if holder.lower() == config_id.lower():
            return address
    net = ipaddress.ip_network(subnet["properties"]["addressPrefix"])
    hosts = list(net)[RESERVED_AT_START:-1]
    if wanted is not None:
        if ipaddress.ip_address(wanted) not in hosts or wanted in ips:
            raise AzureError(
                400,
                "PrivateIPAddressNotInSubnet" if ipaddress.ip_address(wanted) not in hosts else "PrivateIPAddressInUse",
                f"IP address {wanted} of {config_id} is not available in subnet {subnet['id']}.",
            )
        address = wanted
    else:
        free = next((str(h) for h in hosts if str(h) not in ips), None)
        if free is None:
            raise AzureError(
                400, "SubnetIsFull", f"Subnet {subnet['name']} with address prefix {net} does not have enough capacity."
            )
        address = free
    ips[address] = config_id
    configs = subnet["properties"].setdefault("ipConfigurations", [])
    configs.append({"id": config_id})
    common.save(emu, TYPE.kind, vnet)
    return address


def release_address(emu: Emulator, subnet_id: str, config_id: str) -> None:
    """The IP configuration leaves the subnet: its address and its entry go."""
    found = find_subnet(emu, subnet_id)
    if found is None:
        return
    vnet, subnet = found
    ips = vnet["x"].setdefault("ips", {}).setdefault(subnet["name"].lower(), {})
    for address in [a for a, holder in ips.items() if holder.lower() == config_id.lower()]:
        del ips[address]
    configs = subnet["properties"].get("ipConfigurations") or []
    subnet["properties"]["ipConfigurations"] = [c for c in configs if c["id"].lower() != config_id.lower()]
    common.save(emu, TYPE.kind, vnet)


# ---------------------------------------------------------------------------------------
# VNet handlers


def _subnets_of(vnet_id: str, props: Doc, old: Doc | None) -> list[Doc]:
    out = []
    for i, entry in enumerate(props.get("subnets") or []):
        name = cc.required((entry or {}).get("name"), f"subnets[{i}].name")
        previous = _find_subnet(old, name) if old else None
        out.append(subnet_doc(vnet_id, name, entry.get("properties") or {}, previous))
    return out


async def put(ctx: ArmRequest) -> web.StreamResponse:
    target = await common.put_target(ctx, TYPE)
    body, location, vnet_id, old = target.body, target.location, target.id, target.old
    props = body.get("properties") or {}
    spaces = _spaces(vnet_id, props)
    subnets = _subnets_of(vnet_id, props, old)
    _check_subnets(vnet_id, spaces, subnets)
    kept = {s["name"].lower() for s in subnets}
    for dropped in [s for s in (old or {}).get("properties", {}).get("subnets", []) if s["name"].lower() not in kept]:
        blocker = _in_use(dropped)
        if blocker is not None:
            raise blocker
    doc: Doc = {
        "id": vnet_id,
        "name": ctx.params["name"],
        "type": TYPE.type,
        "location": location,
        "properties": {
            **{k: v for k, v in props.items() if k not in ("subnets", "provisioningState", "resourceGuid")},
            "subnets": subnets,
            "resourceGuid": target.kept("resourceGuid") or str(uuid.uuid4()),
            "provisioningState": "Updating",
        },
        "x": {"kind": TYPE.kind, "ips": (old or {}).get("x", {}).get("ips", {})},
    }
    cc.set_tags(doc, cc.tags_of(body))
    common.save(ctx.emu, TYPE.kind, doc)
    return common.begin_put(ctx, doc, created=old is None)


async def delete(ctx: ArmRequest) -> web.StreamResponse:
    vnet = TYPE.find(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    if vnet is None:
        return common.gone()
    for subnet in vnet["properties"]["subnets"]:
        blocker = _in_use(subnet)
        if blocker is not None:
            raise blocker
    return common.begin_delete(ctx, vnet, "vnets.delete")


@completion("vnets.delete")
def _deleted(emu: Emulator, args: Doc) -> None:
    emu.store.delete(TYPE.kind, args["key"])


# ---------------------------------------------------------------------------------------
# subnet handlers


def _vnet(ctx: ArmRequest) -> Doc:
    return TYPE.get(ctx.emu, ctx.sub, ctx.rg, ctx.params["vnet"])


async def get_subnet(ctx: ArmRequest) -> web.StreamResponse:
    vnet = _vnet(ctx)
    subnet = _find_subnet(vnet, ctx.params["name"])
    if subnet is None:
        raise not_found(SUBNET_TYPE, f"{vnet['name']}/{ctx.params['name']}", ctx.rg)
    return json_response(subnet)


async def list_subnets(ctx: ArmRequest) -> web.StreamResponse:
    return page(ctx, list(_vnet(ctx)["properties"]["subnets"]))


async def put_subnet(ctx: ArmRequest) -> web.StreamResponse:
    body = await ctx.body()
    vnet = _vnet(ctx)
    name = ctx.params["name"]
    old = _find_subnet(vnet, name)
    subnet = subnet_doc(vnet["id"], old["name"] if old else name, body.get("properties") or {}, old)
    others = [s for s in vnet["properties"]["subnets"] if s is not old]
    _check_subnets(vnet["id"], _spaces(vnet["id"], vnet["properties"]), [*others, subnet])
    vnet["properties"]["subnets"] = [*others, subnet]
    common.save(ctx.emu, TYPE.kind, vnet)
    # the operation settles the VNet document, the answer shows the subnet
    return common.begin_put(ctx, vnet, created=old is None, shown=subnet)


async def delete_subnet(ctx: ArmRequest) -> web.StreamResponse:
    vnet = _vnet(ctx)
    subnet = _find_subnet(vnet, ctx.params["name"])
    if subnet is None:
        return common.gone()
    blocker = _in_use(subnet)
    if blocker is not None:
        raise blocker
    vnet["properties"]["subnets"] = [s for s in vnet["properties"]["subnets"] if s is not subnet]
    common.save(ctx.emu, TYPE.kind, vnet)
    return common.begin_delete(ctx, vnet, "network.nothing")


@completion("network.nothing")
def _nothing(emu: Emulator, args: Doc) -> None:
    """A delete whose effect was applied when it was accepted."""


def register(router: ArmRouter) -> None:
    common.register_crud(router, TYPE, put, delete)
    subnets = TYPE.rg_path + "/{vnet}/subnets"
    router.add("PUT", subnets + "/{name}", TYPE.op("subnets/write"), put_subnet)
    router.add("GET", subnets + "/{name}", TYPE.op("subnets/read"), get_subnet)
    router.add("DELETE", subnets + "/{name}", TYPE.op("subnets/delete"), delete_subnet)
    router.add("GET", subnets, TYPE.op("subnets/read"), list_subnets)


common.drop_with_group(TYPE)
