"""Virtual machines (Microsoft.Compute/virtualMachines) built from existing managed disks.

A VM here is what diskferry needs of one: an OS disk and data disks attached by id
(``createOption: Attach``, LUNs) and a power state. Attaching sets each disk's
``managedBy``; the disks' ``diskState`` follows the VM's power (``Attached`` while it is
allocated, ``Reserved`` once deallocated). Networking and the rest of the body are kept
as given.

Document (store kind ``vm``): the ARM resource plus private ``x``:
``power`` (running | deallocated | stopped | starting | stopping | deallocating) and
``power_before`` while a power operation is in flight.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from diskferry.emulator import clock
from diskferry.emulator.arm import ArmRequest, ArmRouter, Operations, completion, json_response, on_failure, parse_id
from diskferry.emulator.compute import common, disklike, disks, resourcegroups
from diskferry.emulator.compute.common import Doc, ResourceType, invalid, public, required
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, conflict, not_found
from diskferry.emulator.locations import check_location

TYPE = ResourceType("vm", "virtualMachines")
#: properties the service computes: never taken from a request body
READ_ONLY = {"vmId", "provisioningState", "instanceView", "timeCreated"}
#: power operations: path segment -> (state while in flight, state when done)
POWER_OPS = {
    "deallocate": ("deallocating", "deallocated"),
    "start": ("starting", "running"),
    "powerOff": ("stopping", "stopped"),
}
POWER_DISPLAY = {
    "running": "VM running",
    "deallocated": "VM deallocated",
    "stopped": "VM stopped",
    "starting": "VM starting",
    "stopping": "VM stopping",
    "deallocating": "VM deallocating",
}


# ---------------------------------------------------------------------------------------
# the storage profile


def _entry(emu: Emulator, entry: Doc, where: str, location: str) -> tuple[Doc, Doc]:
    """``(normalized entry, disk document)`` of one OS/data disk entry of a request."""
    option = str(entry.get("createOption") or "")
    if option.lower() != "attach":
        raise invalid(
            f"{where}.createOption",
            f"The value '{option}' of parameter '{where}.createOption' is not supported: "
            "attach existing managed disks with createOption 'Attach'.",
        )
    disk_id = str(required((entry.get("managedDisk") or {}).get("id"), f"{where}.managedDisk.id"))
    parsed = parse_id(disk_id)
    if parsed is None or parsed[2].lower() != disks.TYPE.type.lower():
        raise invalid(f"{where}.managedDisk.id")
    disk = disks.TYPE.by_id(emu, disk_id)
    if disk is None:
        raise not_found(disks.TYPE.type, parsed[3], parsed[1])
    if disk["location"] != location:
        raise invalid(
            f"{where}.managedDisk.id",
            f"Disk {disk['id']} is in location '{disk['location']}', which is not the location "
            f"'{location}' of the virtual machine.",
        )
    out = {
        "name": disk["name"],
        "createOption": "Attach",
        "caching": entry.get("caching") or "None",
        "managedDisk": {"id": disk["id"], "storageAccountType": disk["sku"]["name"]},
        "diskSizeGB": disk["properties"]["diskSizeGB"],
        "deleteOption": entry.get("deleteOption") or "Detach",
    }
    return out, disk


def _storage_profile(emu: Emulator, body_props: Doc, location: str) -> tuple[Doc, list[Doc]]:
    """The normalized storage profile of a request and the disks it attaches (OS first)."""
    profile = body_props.get("storageProfile") or {}
    os_entry = required(profile.get("osDisk"), "storageProfile.osDisk")
    os_disk, os_doc = _entry(emu, os_entry, "osDisk", location)
    os_type = os_entry.get("osType") or os_doc["properties"].get("osType")
    os_disk = {"osType": required(os_type, "osDisk.osType"), **os_disk}
    if os_entry.get("caching") is None:
        os_disk["caching"] = "ReadWrite"
    data_disks: list[Doc] = []
    docs = [os_doc]
    for where, lun, entry in common.data_disk_luns(profile.get("dataDisks")):
        normalized, doc = _entry(emu, entry, where, location)
        data_disks.append({"lun": lun, **normalized, "writeAcceleratorEnabled": False, "toBeDetached": False})
        docs.append(doc)
    seen: set[str] = set()
    for doc in docs:
        if doc["id"].lower() in seen:
            raise invalid("storageProfile", f"Disk {doc['id']} is listed more than once.")
        seen.add(doc["id"].lower())
    return {"osDisk": os_disk, "dataDisks": data_disks}, docs


def disk_ids(vm: Doc) -> list[str]:
    """Ids of the VM's disks, OS disk first."""
    profile = vm["properties"]["storageProfile"]
    return [profile["osDisk"]["managedDisk"]["id"]] + [d["managedDisk"]["id"] for d in profile["dataDisks"]]


def _disk_docs(emu: Emulator, vm: Doc) -> list[Doc]:
    out = []
    for rid in disk_ids(vm):
        doc = disks.TYPE.by_id(emu, rid)
        if doc is not None:
            out.append(doc)
    return out


def _check_attachable(emu: Emulator, vm_id: str, ids: list[str]) -> list[Doc]:
    docs = []
    for rid in ids:
        doc = disks.TYPE.by_id(emu, rid)
        if doc is None:
            parsed = parse_id(rid)
            raise not_found(disks.TYPE.type, parsed[3] if parsed else rid, parsed[1] if parsed else None)
        blocker = disks.attach_blocker(doc, vm_id)
        if blocker is not None:
            raise blocker
        docs.append(doc)
    return docs


def _refresh_disks(emu: Emulator, vm: Doc) -> None:
    """The VM's power changed: its disks' ``diskState`` follows."""
    for doc in _disk_docs(emu, vm):
        if (doc.get("managedBy") or "").lower() == vm["id"].lower():
            disks.attach(emu, doc, vm["id"])


# ---------------------------------------------------------------------------------------
# create / update


def _kept(props: Doc) -> Doc:
    return {k: v for k, v in props.items() if k not in READ_ONLY and k != "storageProfile" and v is not None}


async def put(ctx: ArmRequest) -> web.StreamResponse:
    body = await ctx.body()
    location = common.resource_location(ctx.emu, body, ctx.sub, ctx.rg)
    check_location(location, "Microsoft.Compute/virtualMachines")
    name = ctx.params["name"]
    existing = TYPE.find(ctx.emu, ctx.sub, ctx.rg, name)
    props = body.get("properties") or {}
    if props.get("osProfile"):
        # an attached OS disk is already provisioned: Azure takes no OS profile with it
        raise invalid("osProfile", "Parameter 'osProfile' is not allowed.")
    profile, docs = _storage_profile(ctx.emu, props, location)
    if existing is not None:
        return _update(ctx, existing, body, location, profile)
    vm_id = TYPE.rid(ctx.sub, ctx.rg, name)
    _check_attachable(ctx.emu, vm_id, [d["id"] for d in docs])
    doc: Doc = {
        "id": vm_id,
        "name": name,
        "type": TYPE.type,
        "location": location,
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            **_kept(props),
            "storageProfile": profile,
            "vmId": str(uuid.uuid4()),
            "timeCreated": clock.iso(),
            "provisioningState": "Creating",
        },
        "x": {"kind": TYPE.kind, "power": "starting"},
    }
    common.set_tags(doc, common.tags_of(body))
    if body.get("zones"):
        doc["zones"] = [str(z) for z in body["zones"]]
    ctx.emu.store.put(TYPE.kind, vm_id, doc)
    return _begin(ctx, "vms.create", doc, initial_status=201, initial_body=common.accepted(doc))


@completion("vms.create")
def _created(emu: Emulator, args: Doc) -> None:
    vm = _pending_vm(emu, args)
    docs = _check_attachable(emu, vm["id"], disk_ids(vm))
    vm["x"]["power"] = "running"
    _settle(emu, vm, docs)


def _settle(emu: Emulator, vm: Doc, attach: list[Doc]) -> None:
    """The operation succeeded: save the VM, then attach (disk states follow its power)."""
    vm["properties"]["provisioningState"] = "Succeeded"
    emu.store.put(TYPE.kind, vm["id"], vm)
    for doc in attach:
        disks.attach(emu, doc, vm["id"])


@on_failure("vms.create")
def _create_failed(emu: Emulator, args: Doc, error: Doc) -> None:
    vm = emu.store.delete(TYPE.kind, args["key"])
    if vm is None:
        return
    for doc in _disk_docs(emu, vm):
        if (doc.get("managedBy") or "").lower() == vm["id"].lower():
            disks.detach(emu, doc)


def _update(ctx: ArmRequest, vm: Doc, body: Doc, location: str, profile: Doc) -> web.Response:
    if vm["location"] != location:
        raise common.location_conflict(vm, ctx.rg, location)
    old_os = vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
    if profile["osDisk"]["managedDisk"]["id"].lower() != old_os.lower():
        raise common.property_change("osDisk.managedDisk.id", "virtual machine", vm["name"])
    old = {rid.lower() for rid in disk_ids(vm)}
    new_ids = [d["managedDisk"]["id"] for d in profile["dataDisks"]]
    _check_attachable(ctx.emu, vm["id"], [rid for rid in new_ids if rid.lower() not in old])
    props = body.get("properties") or {}
    changes = {"storageProfile": profile, "tags": common.tags_of(body), "properties": _kept(props)}
    vm["properties"]["provisioningState"] = "Updating"
    ctx.emu.store.put(TYPE.kind, vm["id"], vm)
    return _begin(ctx, "vms.update", vm, {"changes": changes}, initial_status=200, initial_body=common.accepted(vm))


@completion("vms.update")
def _updated(emu: Emulator, args: Doc) -> None:
    vm = _pending_vm(emu, args)
    changes = args["changes"]
    before = {rid.lower() for rid in disk_ids(vm)}
    after_vm = {"properties": {"storageProfile": changes["storageProfile"]}}
    after = disk_ids(after_vm)
    attach = _check_attachable(emu, vm["id"], [rid for rid in after if rid.lower() not in before])
    for doc in _disk_docs(emu, vm):
        if doc["id"].lower() not in {rid.lower() for rid in after}:
            disks.detach(emu, doc)
    vm["properties"].update(changes["properties"])
    vm["properties"]["storageProfile"] = changes["storageProfile"]
    common.set_tags(vm, changes["tags"])
    _settle(emu, vm, attach)


@on_failure("vms.update")
def _update_failed(emu: Emulator, args: Doc, error: Doc) -> None:
    _restore_state(emu, args)


def _restore_state(emu: Emulator, args: Doc) -> None:
    vm = emu.store.get(TYPE.kind, args["key"])
    if vm is not None:
        vm["properties"]["provisioningState"] = "Succeeded"
        emu.store.put(TYPE.kind, vm["id"], vm)


def _pending_vm(emu: Emulator, args: Doc) -> Doc:
    """The VM an operation completes on (it may have been deleted meanwhile)."""
    vm = emu.store.get(TYPE.kind, args["key"])
    if vm is None:
        raise AzureError(409, "Conflict", "The virtual machine was deleted while the operation ran.")
    return vm


def _begin(ctx: ArmRequest, complete: str, vm: Doc, args: Doc | None = None, **kw: Any) -> web.Response:
    ops: Operations = ctx.emu.services["ops"]
    return ops.begin(ctx, complete, {"key": vm["id"].lower(), **(args or {})}, location=vm["location"], **kw)


# ---------------------------------------------------------------------------------------
# read


def instance_view(vm: Doc) -> Doc:
    state = vm["properties"]["provisioningState"]
    power = vm["x"]["power"]
    prov = {
        "code": f"ProvisioningState/{state.lower()}",
        "level": "Info",
        "displayStatus": "Provisioning succeeded" if state == "Succeeded" else state,
        "time": vm["properties"]["timeCreated"],
    }
    profile = vm["properties"]["storageProfile"]
    names = [profile["osDisk"]["name"]] + [d["name"] for d in profile["dataDisks"]]
    return {
        "computerName": vm["name"],
        "disks": [{"name": n, "statuses": [prov]} for n in names],
        "statuses": [prov, {"code": f"PowerState/{power}", "level": "Info", "displayStatus": POWER_DISPLAY[power]}],
    }


async def get(ctx: ArmRequest) -> web.StreamResponse:
    vm = TYPE.get(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    out = public(vm)
    if "instanceview" in ctx.request.query.get("$expand", "").lower():
        out["properties"] = {**out["properties"], "instanceView": instance_view(vm)}
    return json_response(out)


async def get_instance_view(ctx: ArmRequest) -> web.StreamResponse:
    return json_response(instance_view(TYPE.get(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])))


# ---------------------------------------------------------------------------------------
# power


def _start_blocker(emu: Emulator, vm: Doc) -> AzureError | None:
    for doc in _disk_docs(emu, vm):
        state = doc["properties"].get("diskState")
        if state in ("ActiveSAS", "ReadyToUpload", "ActiveUpload"):
            return conflict(
                f"Operation 'start' is not allowed on VM '{vm['name']}' since disk '{doc['name']}' is in the "
                f"'{state}' state. Revoke its access (endGetAccess) first."
            )
    return None


def power_handler(action: str) -> Any:
    in_flight, _ = POWER_OPS[action]

    async def handler(ctx: ArmRequest) -> web.StreamResponse:
        vm = TYPE.get(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
        if action == "start":
            blocker = _start_blocker(ctx.emu, vm)
            if blocker is not None:
                raise blocker
        before = vm["x"]["power"]
        if not (action == "powerOff" and before == "deallocated"):
            vm["x"]["power"] = in_flight
        ctx.emu.store.put(TYPE.kind, vm["id"], vm)
        return _begin(ctx, "vms.power", vm, {"action": action, "before": before})

    return handler


@completion("vms.power")
def _powered(emu: Emulator, args: Doc) -> None:
    vm = _pending_vm(emu, args)
    action = args["action"]
    if action == "start":
        blocker = _start_blocker(emu, vm)
        if blocker is not None:
            raise blocker
    if action == "powerOff" and args["before"] == "deallocated":
        return
    vm["x"]["power"] = POWER_OPS[action][1]
    emu.store.put(TYPE.kind, vm["id"], vm)
    _refresh_disks(emu, vm)


@on_failure("vms.power")
def _power_failed(emu: Emulator, args: Doc, error: Doc) -> None:
    vm = emu.store.get(TYPE.kind, args["key"])
    if vm is not None:
        vm["x"]["power"] = args["before"]
        emu.store.put(TYPE.kind, vm["id"], vm)
        _refresh_disks(emu, vm)


# ---------------------------------------------------------------------------------------
# delete


async def delete(ctx: ArmRequest) -> web.StreamResponse:
    vm = TYPE.find(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    if vm is None:
        return json_response(None, 204)
    vm["properties"]["provisioningState"] = "Deleting"
    ctx.emu.store.put(TYPE.kind, vm["id"], vm)
    return _begin(ctx, "vms.delete", vm)


def remove(emu: Emulator, vm: Doc) -> None:
    """Delete the VM: its disks are detached, or deleted when their deleteOption says so."""
    profile = vm["properties"]["storageProfile"]
    delete_ids = {
        e["managedDisk"]["id"].lower()
        for e in [profile["osDisk"], *profile["dataDisks"]]
        if str(e.get("deleteOption", "")).lower() == "delete"
    }
    emu.store.delete(TYPE.kind, vm["id"])
    for doc in _disk_docs(emu, vm):
        if (doc.get("managedBy") or "").lower() != vm["id"].lower():
            continue
        disks.detach(emu, doc)
        if doc["id"].lower() in delete_ids and disklike.deletion_blocker(doc) is None:
            disklike.remove(emu, doc)


@completion("vms.delete")
def _deleted(emu: Emulator, args: Doc) -> None:
    vm = emu.store.get(TYPE.kind, args["key"])
    if vm is not None:
        remove(emu, vm)


@on_failure("vms.delete")
def _delete_failed(emu: Emulator, args: Doc, error: Doc) -> None:
    _restore_state(emu, args)


def register(router: ArmRouter) -> None:
    router.add("PUT", TYPE.item_path, TYPE.op("write"), put)
    router.add("GET", TYPE.item_path, TYPE.op("read"), get)
    router.add("DELETE", TYPE.item_path, TYPE.op("delete"), delete)
    router.add("GET", TYPE.item_path + "/instanceView", TYPE.op("instanceView/read"), get_instance_view)
    router.add("GET", TYPE.rg_path, TYPE.op("read"), TYPE.handle_list_rg)
    router.add("GET", TYPE.sub_path, TYPE.op("read"), TYPE.handle_list_sub)
    for action in POWER_OPS:
        router.add("POST", f"{TYPE.item_path}/{action}", TYPE.op(f"{action}/action"), power_handler(action))


def _free_group(emu: Emulator, prefix: str) -> None:
    """Resource-group deletion: its VMs go first, so that their disks are detached."""
    for vm in list(emu.store.values(TYPE.kind, prefix)):
        remove(emu, vm)


resourcegroups.RG_DELETE_HOOKS.insert(0, _free_group)
