"""Managed images (Microsoft.Compute/images) from managed disks, snapshots or VHD blobs.

An image holds its own copy of each of its disks (in Azure it outlives its sources), taken
when it is created, so that the admin API can hash it. Managed disks cannot be created
from a managed image (DiskRP refuses ``FromImage`` with one — see ``disklike``).

Document (store kind ``image``): the ARM resource plus private
``x.disks = [{"lun": None | n, "data": <content file id>}]`` (the OS disk has lun None).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, ArmRouter, completion, json_response, on_failure
from diskferry.emulator.compute import common, content, encryptionsets, resourcegroups, security
from diskferry.emulator.compute.common import Doc, ResourceType, invalid, required
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.locations import check_location
from diskferry.emulator.vhd import FOOTER_SIZE

TYPE = ResourceType("image", "images")
OS_TYPES = {"linux": "Linux", "windows": "Windows"}
OS_STATES = {"generalized": "Generalized", "specialized": "Specialized"}
SOURCE_KEYS = ("managedDisk", "snapshot", "blobUri")


def _source_of(entry: Doc, where: str) -> tuple[str, str]:
    """``(source key, id or URI)`` of an image disk entry: exactly one source is allowed."""
    given = [k for k in SOURCE_KEYS if entry.get(k)]
    if len(given) != 1:
        raise invalid(
            where,
            f"Exactly one of managedDisk, snapshot or blobUri must be given for {where}; got {len(given)}.",
        )
    key = given[0]
    ref = entry[key] if key == "blobUri" else (entry[key] or {}).get("id")
    return key, str(required(ref, f"{where}.{key}"))


class _Disk:
    """One image disk being made: where its bytes come from and its answered entry."""

    def __init__(self, emu: Emulator, entry: Doc, where: str, location: str, lun: int | None) -> None:
        self.lun = lun
        kind, ref = _source_of(entry, where)
        out: Doc = {k: v for k, v in entry.items() if k not in SOURCE_KEYS and v is not None}
        self.source_doc: Doc | None = None
        if kind == "blobUri":
            blob = content.vhd_blob(emu, ref, location)
            self.source: Any = blob.content
            self.size = blob.content.size - FOOTER_SIZE
            out["blobUri"] = ref
        else:
            _, self.source_doc = content.copy_source(emu, ref, location)
            security.check_image_source(self.source_doc)
            self.source = content.open_content(emu, self.source_doc["x"]["data"])
            self.size = int(self.source_doc["properties"]["diskSizeBytes"])
            out[kind] = {"id": self.source_doc["id"]}
        out.setdefault("caching", "ReadWrite" if lun is None else "None")
        out.setdefault("storageAccountType", "Standard_LRS")
        out["diskSizeGB"] = common.size_gb(self.size)
        self.entry = out


def _plan(emu: Emulator, props: Doc, location: str) -> tuple[Doc, list[_Disk]]:
    if props.get("sourceVirtualMachine"):
        raise invalid(
            "sourceVirtualMachine",
            "Creating an image from a virtual machine is not supported here: "
            "give storageProfile.osDisk (and dataDisks) from managed disks, snapshots or VHD blobs.",
        )
    profile = required(props.get("storageProfile"), "storageProfile")
    os_entry = required(profile.get("osDisk"), "storageProfile.osDisk")
    os_type = OS_TYPES.get(str(required(os_entry.get("osType"), "osDisk.osType")).lower())
    os_state = OS_STATES.get(str(required(os_entry.get("osState"), "osDisk.osState")).lower())
    if os_type is None:
        raise invalid("osDisk.osType")
    if os_state is None:
        raise invalid("osDisk.osState")
    os_disk = _Disk(emu, os_entry, "osDisk", location, None)
    os_disk.entry.update({"osType": os_type, "osState": os_state})
    made = [os_disk]
    for where, lun, entry in common.data_disk_luns(profile.get("dataDisks")):
        disk = _Disk(emu, entry, where, location, lun)
        disk.entry = {"lun": lun, **disk.entry}
        made.append(disk)
    storage = {
        "osDisk": os_disk.entry,
        "dataDisks": [d.entry for d in made[1:]],
        "zoneResilient": bool(profile.get("zoneResilient", False)),
    }
    return storage, made


def _source_refs(profile: Doc) -> list[tuple[Any, str]]:
    """What an image's storage profile was made from, for comparing two requests."""
    out = []
    for entry in [profile.get("osDisk") or {}, *(profile.get("dataDisks") or [])]:
        for key in SOURCE_KEYS:
            ref = entry.get(key)
            if ref:
                ref = ref if key == "blobUri" else ref.get("id", "")
                out.append((entry.get("lun"), f"{key}:{str(ref).split('?')[0].lower()}"))
    return sorted(out, key=lambda r: (-1 if r[0] is None else r[0], r[1]))


async def put(ctx: ArmRequest) -> web.StreamResponse:
    body = await ctx.body()
    location = common.resource_location(ctx.emu, body, ctx.sub, ctx.rg)
    check_location(location, "Microsoft.Compute/images")
    name = ctx.params["name"]
    props = body.get("properties") or {}
    existing = TYPE.find(ctx.emu, ctx.sub, ctx.rg, name)
    if existing is not None:
        return _update(ctx, existing, body, location)
    storage, made = _plan(ctx.emu, props, location)
    for disk in made:
        des = encryptionsets.image_entry_set(ctx.emu, disk.entry, location, ctx.sub)
        disk.entry.pop("diskEncryptionSet", None)
        if des is not None:
            disk.entry["diskEncryptionSet"] = des
    rid = TYPE.rid(ctx.sub, ctx.rg, name)
    source_gen = next((d.source_doc["properties"].get("hyperVGeneration") for d in made[:1] if d.source_doc), None)
    doc: Doc = {
        "id": rid,
        "name": name,
        "type": TYPE.type,
        "location": location,
        "properties": {
            "storageProfile": storage,
            "provisioningState": "Creating",
            "hyperVGeneration": props.get("hyperVGeneration") or source_gen or "V1",
        },
        "x": {"kind": TYPE.kind, "disks": []},
    }
    common.set_tags(doc, common.tags_of(body))
    ctx.emu.store.put(TYPE.kind, rid, doc)  # the name is taken from now on
    try:
        for disk in made:
            data = await content.copy_content(ctx.emu, disk.source, disk.size, disk.size)
            doc["x"]["disks"].append({"lun": disk.lun, "data": data})
    except BaseException:
        _drop(ctx.emu, doc)
        raise
    common.still_placed(ctx.emu, doc, [d["data"] for d in doc["x"]["disks"]])
    ctx.emu.store.put(TYPE.kind, rid, doc)
    return _begin(ctx, "images.create", doc, initial_status=201, initial_body=common.accepted(doc))


def _update(ctx: ArmRequest, doc: Doc, body: Doc, location: str) -> web.Response:
    if doc["location"] != location:
        raise common.location_conflict(doc, ctx.rg, location)
    profile = (body.get("properties") or {}).get("storageProfile") or {}
    if _source_refs(profile) != _source_refs(doc["properties"]["storageProfile"]):
        raise common.property_change("storageProfile", "image", doc["name"])
    doc["properties"]["provisioningState"] = "Updating"
    ctx.emu.store.put(TYPE.kind, doc["id"], doc)
    args = {"tags": common.tags_of(body)}
    return _begin(ctx, "images.update", doc, args, initial_status=200, initial_body=common.accepted(doc))


def _begin(ctx: ArmRequest, complete: str, doc: Doc, args: Doc | None = None, **kw: Any) -> web.Response:
    ops = ctx.emu.operations
    return ops.begin(ctx, complete, {"key": doc["id"].lower(), **(args or {})}, location=doc["location"], **kw)


def _settle(emu: Emulator, args: Doc) -> Doc:
    doc = emu.store.get(TYPE.kind, args["key"])
    if doc is None:
        raise AzureError(409, "Conflict", "The image was deleted while the operation ran.")
    doc["properties"]["provisioningState"] = "Succeeded"
    return doc


@completion("images.create")
def _created(emu: Emulator, args: Doc) -> None:
    doc = _settle(emu, args)
    emu.store.put(TYPE.kind, doc["id"], doc)


@on_failure("images.create")
def _create_failed(emu: Emulator, args: Doc, error: Doc) -> None:
    doc = emu.store.get(TYPE.kind, args["key"])
    if doc is not None:
        _drop(emu, doc)


@completion("images.update")
def _updated(emu: Emulator, args: Doc) -> None:
    doc = _settle(emu, args)
    common.set_tags(doc, args["tags"])
    emu.store.put(TYPE.kind, doc["id"], doc)


@on_failure("images.update")
def _update_failed(emu: Emulator, args: Doc, error: Doc) -> None:
    doc = emu.store.get(TYPE.kind, args["key"])
    if doc is not None:
        doc["properties"]["provisioningState"] = "Succeeded"
        emu.store.put(TYPE.kind, doc["id"], doc)


def _drop(emu: Emulator, doc: Doc) -> None:
    """Forget the image and its copies of the disks."""
    emu.store.delete(TYPE.kind, doc["id"])
    for disk in doc["x"]["disks"]:
        content.drop_content(emu, disk["data"])


async def delete(ctx: ArmRequest) -> web.StreamResponse:
    doc = TYPE.find(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    if doc is None:
        return json_response(None, 204)
    return _begin(ctx, "images.delete", doc)


@completion("images.delete")
def _deleted(emu: Emulator, args: Doc) -> None:
    doc = emu.store.get(TYPE.kind, args["key"])
    if doc is not None:
        _drop(emu, doc)


def register(router: ArmRouter) -> None:
    router.add("PUT", TYPE.item_path, TYPE.op("write"), put)
    router.add("GET", TYPE.item_path, TYPE.op("read"), TYPE.handle_get)
    router.add("DELETE", TYPE.item_path, TYPE.op("delete"), delete)
    router.add("GET", TYPE.rg_path, TYPE.op("read"), TYPE.handle_list_rg)
    router.add("GET", TYPE.sub_path, TYPE.op("read"), TYPE.handle_list_sub)


def _free_group(emu: Emulator, prefix: str) -> None:
    for doc in list(emu.store.values(TYPE.kind, prefix)):
        _drop(emu, doc)


resourcegroups.RG_DELETE_HOOKS.append(_free_group)
