"""Network interfaces (Microsoft.Network/networkInterfaces).

A NIC has one or more IP configurations, each in a subnet of a VNet in the NIC's region
(else ``InvalidResourceReference``), with a private address from that subnet and
optionally a public IP. A VM that lists the NIC makes it ``properties.virtualMachine``;
while it is there the NIC cannot be deleted (``NicInUse``) nor given to another VM.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, ArmRouter, completion
from diskferry.emulator.compute import common as cc
from diskferry.emulator.compute.common import Doc
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.network import common, publicips, vnets
from diskferry.emulator.network.common import NetworkType

TYPE = NetworkType("nic", "networkInterfaces")
CONFIG_TYPE = f"{TYPE.type}/ipConfigurations"
#: read-only or service-kept properties: never taken from a request body
READ_ONLY = {"provisioningState", "resourceGuid", "virtualMachine", "macAddress", "ipConfigurations", "primary"}


# ---------------------------------------------------------------------------------------
# IP configurations


def _config(emu: Emulator, nic_id: str, location: str, entry: Doc, i: int, primary: bool) -> Doc:
    """One IP configuration of a request, checked and given its addresses."""
    name = cc.required((entry or {}).get("name"), f"ipConfigurations[{i}].name")
    config_id = f"{nic_id}/ipConfigurations/{name}"
    props = entry.get("properties") or {}
    subnet_id = common.ref_id(props.get("subnet"), f"properties.ipConfigurations[{i}].properties.subnet")
    found = vnets.find_subnet(emu, subnet_id)
    if found is None or found[0]["location"] != location:
        raise common.invalid_reference(subnet_id, nic_id)
    vnet, subnet = found
    method = props.get("privateIPAllocationMethod") or "Dynamic"
    wanted = props.get("privateIPAddress") if method == "Static" else None
    address = vnets.claim_address(emu, vnet, subnet, config_id, wanted)
    out: Doc = {
        "id": config_id,
        "name": name,
        "type": CONFIG_TYPE,
        "etag": common.etag(),
        "properties": {
            "privateIPAddress": address,
            "privateIPAllocationMethod": method,
            "privateIPAddressVersion": props.get("privateIPAddressVersion") or "IPv4",
            "subnet": {"id": subnet["id"]},
            "primary": primary,
            "provisioningState": "Updating",
        },
    }
    if props.get("publicIPAddress"):
        pip_id = common.ref_id(props["publicIPAddress"], f"properties.ipConfigurations[{i}].properties.publicIPAddress")
        publicips.claim(emu, pip_id, config_id, location)
        out["properties"]["publicIPAddress"] = {"id": pip_id}
    return out


def _release(emu: Emulator, config: Doc) -> None:
    props = config["properties"]
    vnets.release_address(emu, props["subnet"]["id"], config["id"])
    if props.get("publicIPAddress"):
        publicips.release(emu, props["publicIPAddress"]["id"], config["id"])


def _primary_index(entries: list[Doc]) -> int:
    """Which configuration is primary: the one flagged, else the first (as with one configuration)."""
    flagged = [i for i, e in enumerate(entries) if ((e or {}).get("properties") or {}).get("primary")]
    if len(flagged) > 1:
        raise AzureError(
            400,
            "OnlyOnePrimaryIpConfigurationAllowedPerNic",
            "A network interface can have only one primary IP configuration.",
        )
    return flagged[0] if flagged else 0


def _configs(emu: Emulator, nic_id: str, location: str, props: Doc, old: Doc | None) -> list[Doc]:
    entries = cc.required(props.get("ipConfigurations"), "ipConfigurations")
    if not isinstance(entries, list):
        raise cc.invalid("ipConfigurations")
    primary = _primary_index(entries)
    made = [_config(emu, nic_id, location, e, i, i == primary) for i, e in enumerate(entries)]
    # what the new body no longer holds is let go (an old configuration that moved subnet, a dropped one)
    now = {(c["id"].lower(), c["properties"]["subnet"]["id"].lower()) for c in made}
    pips = {c["properties"].get("publicIPAddress", {}).get("id", "").lower() for c in made}
    for config in (old or {}).get("properties", {}).get("ipConfigurations", []):
        if (config["id"].lower(), config["properties"]["subnet"]["id"].lower()) not in now:
            vnets.release_address(emu, config["properties"]["subnet"]["id"], config["id"])
        pip = config["properties"].get("publicIPAddress", {}).get("id", "")
        if pip and pip.lower() not in pips:
            publicips.release(emu, pip, config["id"])
    return made


# ---------------------------------------------------------------------------------------
# handlers


async def put(ctx: ArmRequest) -> web.StreamResponse:
    target = await common.put_target(ctx, TYPE)
    body, location, nic_id, old = target.body, target.location, target.id, target.old
    props = body.get("properties") or {}
    configs = _configs(ctx.emu, nic_id, location, props, old)
    kept = {k: v for k, v in (old or {}).get("properties", {}).items() if k in ("virtualMachine", "macAddress")}
    doc: Doc = {
        "id": nic_id,
        "name": ctx.params["name"],
        "type": TYPE.type,
        "location": location,
        "properties": {
            "enableAcceleratedNetworking": False,
            "enableIPForwarding": False,
            "nicType": "Standard",
            **{k: v for k, v in props.items() if k not in READ_ONLY},
            **kept,
            "ipConfigurations": configs,
            "resourceGuid": target.kept("resourceGuid") or str(uuid.uuid4()),
            "provisioningState": "Updating",
        },
        "x": {"kind": TYPE.kind},
    }
    cc.set_tags(doc, cc.tags_of(body))
    common.save(ctx.emu, TYPE.kind, doc)
    return common.begin_put(ctx, doc, created=old is None)


def _in_use(nic: Doc) -> AzureError | None:
    vm = nic["properties"].get("virtualMachine")
    if not vm:
        return None
    return AzureError(
        400,
        "NicInUse",
        f"Network Interface {nic['id']} is used by existing resource {vm['id']}. In order to delete the network "
        "interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.",
    )


async def delete(ctx: ArmRequest) -> web.StreamResponse:
    nic = TYPE.find(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    if nic is None:
        return common.gone()
    blocker = _in_use(nic)
    if blocker is not None:
        raise blocker
    return common.begin_delete(ctx, nic, "nics.delete")


def remove(emu: Emulator, nic: Doc) -> None:
    for config in nic["properties"]["ipConfigurations"]:
        _release(emu, config)
    emu.store.delete(TYPE.kind, nic["id"])


@completion("nics.delete")
def _deleted(emu: Emulator, args: Doc) -> None:
    nic = emu.store.get(TYPE.kind, args["key"])
    if nic is not None:
        remove(emu, nic)


# ---------------------------------------------------------------------------------------
# what the VMs use


def attach_blocker(emu: Emulator, nic_id: str, vm_id: str, location: str) -> AzureError | None:
    """Why a VM in ``location`` cannot take this NIC now, or None."""
    nic = TYPE.by_id(emu, nic_id)
    if nic is None or nic["location"] != location:
        return common.invalid_reference(nic_id, vm_id)
    owner = (nic["properties"].get("virtualMachine") or {}).get("id")
    if owner and owner.lower() != vm_id.lower():
        return AzureError(400, "NicInUse", f"Network Interface {nic['id']} is used by existing VM {owner}.")
    return None


def _mac(nic_id: str) -> str:
    digest = hashlib.sha256(nic_id.lower().encode()).hexdigest().upper()
    return "00-0D-3A-" + "-".join(digest[i : i + 2] for i in range(0, 6, 2))


def attach(emu: Emulator, nic_id: str, vm_id: str) -> None:
    nic = TYPE.by_id(emu, nic_id)
    if nic is None:
        return
    nic["properties"]["virtualMachine"] = {"id": vm_id}
    nic["properties"].setdefault("macAddress", _mac(nic["id"]))
    common.save(emu, TYPE.kind, nic)


def detach(emu: Emulator, nic_id: str, vm_id: str) -> None:
    """The VM lets the NIC go (deleted, or the NIC left its network profile)."""
    nic = TYPE.by_id(emu, nic_id)
    owner: Any = (nic or {}).get("properties", {}).get("virtualMachine") or {}
    if nic is not None and str(owner.get("id", "")).lower() == vm_id.lower():
        del nic["properties"]["virtualMachine"]
        common.save(emu, TYPE.kind, nic)


def register(router: ArmRouter) -> None:
    common.register_crud(router, TYPE, put, delete)


# a deleted group's NICs give their addresses back (their VNet may live in another group)
common.drop_with_group(TYPE, remove)
