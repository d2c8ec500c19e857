"""Virtual machines (Microsoft.Compute/virtualMachines) built from existing managed disks.

A VM here is what diskferry needs of one: an OS disk and data disks attached by id
(``createOption: Attach``, LUNs) and a power state. Attaching sets each disk's
``managedBy``; the disks' ``diskState`` follows the VM's power (``Attached`` while it is
allocated, ``Reserved`` once deallocated). NICs listed in ``networkProfile`` must exist in
the VM's region and belong to no other VM; they are the VM's until it is deleted. The size
must be offered in the region (and zone, ``sizes``); an availability set excludes zones;
zonal disks must be in the VM's zone. Codes and their sources: docs/emulator-network.md.

A VM needs a NIC (``NIC_REQUIRED``, Azure's rule): the seeding gives each seeded VM one in
its region's seeded subnet (``diskferry.emulator.network.seed``).

Document (store kind ``vm``): the ARM resource plus private ``x``:
``power`` (running | deallocated | stopped | starting | stopping | deallocating) and
``power_before`` while a power operation is in flight.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from diskferry.emulator import clock
from diskferry.emulator.arm import ArmRequest, ArmRouter, completion, json_response, on_failure, parse_id
from diskferry.emulator.compute import availabilitysets, common, disklike, disks, resourcegroups, security, sizes
from diskferry.emulator.compute.common import Doc, ResourceType, invalid, public, required
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, bad_request, conflict, not_found
from diskferry.emulator.locations import check_location
from diskferry.emulator.network import nics

TYPE = ResourceType("vm", "virtualMachines")
#: properties the service computes: never taken from a request body
READ_ONLY = {"vmId", "provisioningState", "instanceView", "timeCreated"}
#: properties normalized by this module (never kept as given)
NORMALIZED = {"storageProfile", "networkProfile", "availabilitySet", "hardwareProfile"}
#: refuse a VM without a networkProfile, as Azure does (off while the seeding makes VMs without NICs)
NIC_REQUIRED = True
DEFAULT_SIZE = "Standard_D2s_v3"
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
    settings = _encryption_settings(os_entry.get("encryptionSettings"))
    if settings is not None:
        os_disk["encryptionSettings"] = settings
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


def _encryption_settings(value: Any) -> Doc | None:
    """``osDisk.encryptionSettings``: where Azure Disk Encryption's first version (with an Azure
    AD application, "dual pass") records the key of the OS disk's volumes, on the VM rather than
    on the disk. Enabled, it needs the key's secret and its key vault."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid("osDisk.encryptionSettings")
    if not value.get("enabled"):
        return {"enabled": False}
    key = required(value.get("diskEncryptionKey"), "osDisk.encryptionSettings.diskEncryptionKey")
    out: Doc = {"diskEncryptionKey": {
        "secretUrl": required(key.get("secretUrl"), "osDisk.encryptionSettings.diskEncryptionKey.secretUrl"),
        "sourceVault": {"id": required((key.get("sourceVault") or {}).get("id"),
                                       "osDisk.encryptionSettings.diskEncryptionKey.sourceVault.id")},
    }, "enabled": True}
    if value.get("keyEncryptionKey"):
        out["keyEncryptionKey"] = value["keyEncryptionKey"]
    return out


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
        owner = doc.get("managedBy")
        if owner and owner.lower() != vm_id.lower():
            raise AzureError(
                409,
                "ConflictingUserInput",
                f"Disk '{doc['id']}' cannot be attached as the disk is already owned by VM '{owner}'.",
            )
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
# the network profile


def _network_profile(emu: Emulator, vm_id: str, props: Doc, location: str, size: sizes.Size) -> Doc | None:
    """The normalized network profile (NIC references), after Azure's checks; None when absent."""
    given = props.get("networkProfile")
    if given is None and not NIC_REQUIRED:
        return None
    refs = (given or {}).get("networkInterfaces")
    if not refs:
        # a VM needs a NIC; Compute names the missing parameter this way
        raise common.invalid("networkProfile", "Required parameter 'networkProfile' is missing (null).")
    name = vm_id.rsplit("/", 1)[1]
    if len(refs) > size.max_nics:
        raise AzureError(
            400,
            "NetworkProfileValidationError",
            f"The number of network interfaces for virtual machine {name} exceeds the maximum allowed for the "
            f"virtual machine size {size.name}. The number of network interfaces is {len(refs)} and the maximum "
            f"allowed is {size.max_nics}.",
        )
    primaries = [bool(((r or {}).get("properties") or {}).get("primary")) for r in refs]
    if len(refs) > 1 and primaries.count(True) != 1:
        raise bad_request(
            f"Virtual machine {name} has {len(refs)} network interfaces: exactly one must have the primary "
            "property set.",
            "NetworkInterfaceMustHavePrimaryPropertySet",
        )
    out: list[Doc] = []
    for i, ref in enumerate(refs):
        nic_id = str(common.required((ref or {}).get("id"), f"networkProfile.networkInterfaces[{i}].id"))
        blocker = nics.attach_blocker(emu, nic_id, vm_id, location)
        if blocker is not None:
            raise blocker
        options = (ref.get("properties") or {}).get("deleteOption") or "Detach"
        out.append({"id": nic_id, "properties": {"primary": len(refs) == 1 or primaries[i], "deleteOption": options}})
    if len({r["id"].lower() for r in out}) != len(out):
        raise common.invalid("networkProfile.networkInterfaces", "A network interface is listed more than once.")
    return {"networkInterfaces": out}


def nic_ids(vm: Doc) -> list[str]:
    profile = vm["properties"].get("networkProfile") or {}
    return [r["id"] for r in profile.get("networkInterfaces") or []]


def _attach_nics(emu: Emulator, vm: Doc) -> None:
    for nic_id in nic_ids(vm):
        blocker = nics.attach_blocker(emu, nic_id, vm["id"], vm["location"])
        if blocker is not None:
            raise blocker
    for nic_id in nic_ids(vm):
        nics.attach(emu, nic_id, vm["id"])


# ---------------------------------------------------------------------------------------
# placement: size, zone, availability set


def _zone_blocker(doc: Doc, zones: list[str]) -> AzureError | None:
    """Why a zonal VM cannot take this disk (a zone-redundant disk goes anywhere)."""
    if not zones or str(doc["sku"]["name"]).endswith("_ZRS"):
        return None
    disk_zones = doc.get("zones") or []
    if not disk_zones:
        return bad_request(f"Disk {doc['id']} cannot be attached to the VM because it is not in zone '{zones[0]}'.")
    if disk_zones[0] != zones[0]:
        return bad_request(
            f"Disk {doc['id']} cannot be attached to the VM because it is not in the same zone as the VM. "
            f"VM zone: '{zones[0]}'. Disk zone: '{disk_zones[0]}'."
        )
    return None


def _placement(ctx: ArmRequest, vm_id: str, body: Doc, location: str, docs: list[Doc]) -> tuple[Doc, sizes.Size]:
    """``(hardwareProfile, zones, availabilitySet)`` of a request, after Azure's checks."""
    props = body.get("properties") or {}
    name = vm_id.rsplit("/", 1)[1]
    zones = [str(z) for z in body.get("zones") or []]
    sizes.check_zones(TYPE.type, name, location, zones)
    hardware = dict(props.get("hardwareProfile") or {})
    size = sizes.check(vm_id, ctx.sub, location, str(hardware.get("vmSize") or DEFAULT_SIZE), zones)
    hardware["vmSize"] = size.name
    data_count = len(docs) - 1
    if data_count > size.max_data_disks:
        raise conflict(
            f"The maximum number of data disks allowed to be attached to a VM of this size is {size.max_data_disks}."
        )
    placed: Doc = {"hardwareProfile": hardware, "zones": zones}
    set_ref = props.get("availabilitySet")
    if set_ref:
        set_id = str(common.required(set_ref.get("id"), "availabilitySet.id"))
        zonal = [d["id"] for d in docs if d.get("zones")]
        avset = availabilitysets.for_vm(ctx.emu, set_id, location, zones, zonal, name)
        placed["availabilitySet"] = {"id": avset["id"]}
    for doc in docs:
        blocker = _zone_blocker(doc, zones)
        if blocker is not None:
            raise blocker
    return placed, size


def _set_id(vm: Doc) -> str | None:
    ref = vm["properties"].get("availabilitySet") or {}
    return str(ref["id"]) if ref.get("id") else None


# ---------------------------------------------------------------------------------------
# create / update


def _kept(props: Doc) -> Doc:
    return {k: v for k, v in props.items() if k not in READ_ONLY and k not in NORMALIZED and v is not None}


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
    vm_id = existing["id"] if existing else TYPE.rid(ctx.sub, ctx.rg, name)
    placed, size = _placement(ctx, vm_id, body, location, docs)
    network = _network_profile(ctx.emu, vm_id, props, location, size)
    if existing is not None:
        return _update(ctx, existing, body, location, profile, placed, network)
    security.check_vm(props, docs[0])
    _check_attachable(ctx.emu, vm_id, [d["id"] for d in docs])
    doc: Doc = {
        "id": vm_id,
        "name": name,
        "type": TYPE.type,
        "location": location,
        "properties": {
            **_kept(props),
            "hardwareProfile": placed["hardwareProfile"],
            **({"availabilitySet": placed["availabilitySet"]} if "availabilitySet" in placed else {}),
            **({"networkProfile": network} if network is not None else {}),
            "storageProfile": profile,
            "vmId": str(uuid.uuid4()),
            "timeCreated": clock.iso(),
            "provisioningState": "Creating",
        },
        "x": {"kind": TYPE.kind, "power": "starting"},
    }
    common.set_tags(doc, common.tags_of(body))
    if placed["zones"]:
        doc["zones"] = placed["zones"]
    ctx.emu.store.put(TYPE.kind, vm_id, doc)
    return _begin(ctx, "vms.create", doc, initial_status=201, initial_body=common.accepted(doc))


@completion("vms.create")
def _created(emu: Emulator, args: Doc) -> None:
    vm = _pending_vm(emu, args)
    docs = _check_attachable(emu, vm["id"], disk_ids(vm))
    _attach_nics(emu, vm)
    set_id = _set_id(vm)
    if set_id:
        availabilitysets.join(emu, set_id, vm["id"])
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


def _update(
    ctx: ArmRequest, vm: Doc, body: Doc, location: str, profile: Doc, placed: Doc, network: Doc | None
) -> web.Response:
    if vm["location"] != location:
        raise common.location_conflict(vm, ctx.rg, location)
    if placed["zones"] != (vm.get("zones") or []):
        raise common.property_change("zones", "virtual machine", vm["name"])
    if (placed.get("availabilitySet") or {}).get("id", "").lower() != (_set_id(vm) or "").lower():
        raise common.property_change("availabilitySet", "virtual machine", vm["name"])
    old_os = vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
    if profile["osDisk"]["managedDisk"]["id"].lower() != old_os.lower():
        raise common.property_change("osDisk.managedDisk.id", "virtual machine", vm["name"])
    old = {rid.lower() for rid in disk_ids(vm)}
    new_ids = [d["managedDisk"]["id"] for d in profile["dataDisks"]]
    _check_attachable(ctx.emu, vm["id"], [rid for rid in new_ids if rid.lower() not in old])
    props = body.get("properties") or {}
    kept = {**_kept(props), "hardwareProfile": placed["hardwareProfile"]}
    changes = {"storageProfile": profile, "networkProfile": network, "tags": common.tags_of(body), "properties": kept}
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
    old_nics = nic_ids(vm)
    if changes["networkProfile"] is not None:
        vm["properties"]["networkProfile"] = changes["networkProfile"]
    _attach_nics(emu, vm)
    for nic_id in old_nics:
        if nic_id.lower() not in {n.lower() for n in nic_ids(vm)}:
            nics.detach(emu, nic_id, vm["id"])
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
    ops = ctx.emu.operations
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
    _release_network(emu, vm)
    set_id = _set_id(vm)
    if set_id:
        availabilitysets.leave(emu, set_id, vm["id"])
    for doc in _disk_docs(emu, vm):
        if (doc.get("managedBy") or "").lower() != vm["id"].lower():
            continue
        disks.detach(emu, doc)
        if doc["id"].lower() in delete_ids and disklike.deletion_blocker(doc) is None:
            disklike.remove(emu, doc)


def _release_network(emu: Emulator, vm: Doc) -> None:
    """The VM is gone: its NICs are free again, or deleted when their deleteOption says so."""
    for ref in (vm["properties"].get("networkProfile") or {}).get("networkInterfaces") or []:
        nics.detach(emu, ref["id"], vm["id"])
        if str((ref.get("properties") or {}).get("deleteOption", "")).lower() == "delete":
            nic = nics.TYPE.by_id(emu, ref["id"])
            if nic is not None:
                nics.remove(emu, nic)


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
