"""Availability sets (Microsoft.Compute/availabilitySets).

A VM joins a set at creation (``properties.availabilitySet.id``); the set lists its VMs in
``virtualMachines``. Azure's rules kept (docs "Common VM error codes", public traces):
a VM with managed disks needs an ``Aligned`` set (a ``Classic`` set is ``BadRequest``), a set
excludes zones, a set with VMs cannot be deleted (``OperationNotAllowed``), fault domains
1 to 3 and update domains 1 to 20.
"""

from __future__ import annotations

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, ArmRouter
from diskferry.emulator.compute import common
from diskferry.emulator.compute.common import Doc, ResourceType
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, conflict
from diskferry.emulator.network import common as network_common

TYPE = ResourceType("availabilityset", "availabilitySets")
#: (lowest, highest) fault and update domain counts
FAULT_DOMAINS = (1, 3)
UPDATE_DOMAINS = (1, 20)


def _count(props: Doc, key: str, default: int, bounds: tuple[int, int], what: str) -> int:
    value = props.get(key)
    if value is None:
        return default
    low, high = bounds
    if not isinstance(value, int) or not low <= value <= high:
        raise common.invalid(key, f"The specified {what} count {value} must fall in the range {low} to {high}.")
    return value


async def put(ctx: ArmRequest) -> web.StreamResponse:
    target = await network_common.put_target(ctx, TYPE)
    body, old = target.body, target.old
    sku = (body.get("sku") or {}).get("name") or "Classic"
    if sku not in ("Aligned", "Classic"):
        raise common.invalid("sku.name", f"The value '{sku}' of parameter 'sku.name' is not supported.")
    if old is not None and old["sku"]["name"] == "Aligned" and sku == "Classic":
        raise conflict("Changing availability set SKU from 'Aligned' to 'Classic' is not allowed.")
    props = body.get("properties") or {}
    doc: Doc = {
        "id": target.id,
        "name": ctx.params["name"],
        "type": TYPE.type,
        "location": target.location,
        "sku": {"name": sku},
        "properties": {
            "platformFaultDomainCount": _count(props, "platformFaultDomainCount", 2, FAULT_DOMAINS, "fault domain"),
            "platformUpdateDomainCount": _count(props, "platformUpdateDomainCount", 5, UPDATE_DOMAINS, "update domain"),
            "virtualMachines": target.kept("virtualMachines", []),
        },
        "x": {"kind": TYPE.kind},
    }
    return network_common.save_at_once(ctx, TYPE, doc, body)


def _in_use(doc: Doc) -> AzureError | None:
    if not doc["properties"]["virtualMachines"]:
        return None
    return AzureError(
        409,
        "OperationNotAllowed",
        f"Availability Set {doc['name']} cannot be deleted. Before deleting an Availability Set please ensure "
        "that it does not contain any VM.",
    )


async def delete(ctx: ArmRequest) -> web.StreamResponse:
    return network_common.delete_at_once(ctx, TYPE, _in_use)


# ---------------------------------------------------------------------------------------
# what the VMs use


def for_vm(emu: Emulator, set_id: str, location: str, zones: list[str], zonal_disks: list[str], vm_name: str) -> Doc:
    """The set a new VM joins, after Azure's checks."""
    doc = TYPE.by_id(emu, set_id)
    if doc is None or doc["location"] != location:
        raise AzureError(404, "NotFound", f"The Availability Set {set_id} cannot be found.")
    if zones:
        raise common.invalid(
            "availabilitySet",
            "Virtual Machine cannot be created in an availability zone and an availability set at the same time. "
            "Deploying an Availability Set to an Availability Zone isn't supported.",
        )
    if doc["sku"]["name"] != "Aligned":
        raise AzureError(
            400,
            "BadRequest",
            "Addition of a VM with managed disks to non-managed Availability Set or addition of a VM with blob "
            "based disks to managed Availability Set is not supported. Please create an Availability Set with "
            "'managed' property set in order to add a VM with managed disks to it.",
        )
    for disk_id in zonal_disks:
        raise AzureError(
            400,
            "BadRequest",
            f"Zonal Disk '{disk_id}' cannot be attached to resource '{vm_name}' because the resource belongs to an "
            "Availability Set and this feature is not supported.",
        )
    return doc


def join(emu: Emulator, set_id: str, vm_id: str) -> None:
    doc = TYPE.by_id(emu, set_id)
    if doc is None:
        return
    members = doc["properties"]["virtualMachines"]
    if vm_id.lower() not in {m["id"].lower() for m in members}:
        members.append({"id": vm_id})
        emu.store.put(TYPE.kind, common.key_of(doc["id"]), doc)


def leave(emu: Emulator, set_id: str, vm_id: str) -> None:
    doc = TYPE.by_id(emu, set_id)
    if doc is None:
        return
    members = doc["properties"]["virtualMachines"]
    doc["properties"]["virtualMachines"] = [m for m in members if m["id"].lower() != vm_id.lower()]
    emu.store.put(TYPE.kind, common.key_of(doc["id"]), doc)


def register(router: ArmRouter) -> None:
    network_common.register_crud(router, TYPE, put, delete)


network_common.drop_with_group(TYPE)
