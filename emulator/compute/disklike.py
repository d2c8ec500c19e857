"""What managed disks and snapshots share: create, update, delete, SAS grants, disk state.

A disk and a snapshot are the same thing to DiskRP — a content with a size, a SKU, a
``creationData`` and a ``diskState`` — and differ in the create options they accept and
in attachment (only disks attach to VMs). ``Flavor`` carries the differences;
``diskferry.emulator.compute.disks`` and ``diskferry.emulator.compute.snapshots`` each define one and route
its calls here.

Document (store kind ``disk`` or ``snapshot``, key = lower-cased ARM id): the ARM resource
plus private ``x``:

* ``data``: id of the content file (``emu.pages``); its size is ``diskSizeBytes``, or
  ``uploadSizeBytes`` (content + footer) while an ``Upload`` disk is being filled;
* ``footer_uid``, ``created``: what the exported VHD's footer is made of
  (``exports.footer_for``);
* ``upload``: ``"ready"`` / ``"active"`` during the Upload flow, else absent;
* ``sas``: the pseudo account of the active grant (``exports``), else absent;
* ``family``: a disk's incremental-snapshot family id.

Every effect runs in a named completion of ``Operations.begin``, so latency settings and
``lro`` fault rules apply, and operations pending at shutdown finish after a restart.
Creation copies the source's content at once (a snapshot is a point in time); a failed
create removes its placeholder and content, a failed update or grant changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from diskferry.emulator import clock, exports
from diskferry.emulator.arm import ArmRequest, ArmRouter, Operations, completion, json_response, on_failure
from diskferry.emulator.compute import common, content, resourcegroups
from diskferry.emulator.compute.common import GIB, Doc, ResourceType, invalid, required
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, bad_request, conflict
from diskferry.emulator.locations import check_location
from diskferry.emulator.pages import Content
from diskferry.emulator.vhd import FOOTER_SIZE, MIB

#: Upload size limits (content + footer), as DiskRP states them
MIN_UPLOAD = 20 * MIB + FOOTER_SIZE
MAX_UPLOAD = 32 * 1024 * GIB + FOOTER_SIZE
MAX_DISK_GB = 65536
#: properties the service computes: never taken from a request body
READ_ONLY = {
    "timeCreated", "diskSizeBytes", "uniqueId", "provisioningState", "diskState", "shareInfo",
    "burstingEnabledTime", "propertyUpdatesInProgress", "LastOwnershipUpdateTime",
    "incrementalSnapshotFamilyId", "snapshotAccessState", "immutabilityPolicy",
}
#: creationData fields that name what a resource was made from: fixed once created
FIXED_CREATION = ("createOption", "sourceResourceId", "sourceUri", "storageAccountId", "uploadSizeBytes")
#: canonical spelling of the create options (Azure takes any case)
CREATE_OPTIONS = {
    o.lower(): o
    for o in ("Empty", "Attach", "FromImage", "Import", "Copy", "Restore", "Upload", "CopyStart",
              "ImportSecure", "UploadPreparedSecure", "CopyFromSanSnapshot")
}


@dataclass(frozen=True)
class Flavor:
    """What differs between disks and snapshots."""

    rt: ResourceType
    #: "disk" or "snapshot", as Azure's messages name it
    what: str
    #: SKU name -> tier
    skus: dict[str, str]
    default_sku: str
    #: createOption values this type can be made with
    create_options: frozenset[str]
    #: body properties that cannot change after creation (beyond creationData)
    fixed: tuple[str, ...] = ()
    #: type-specific extras applied to a new document: fn(emu, doc, body, source_doc)
    on_create: Callable[[Emulator, Doc, Doc, Doc | None], None] | None = None

    @property
    def kind(self) -> str:
        return self.rt.kind


# ---------------------------------------------------------------------------------------
# disk state


def disk_state(emu: Emulator, doc: Doc) -> str:
    """The ``diskState`` the facts give: upload, grant, attachment and the VM's power."""
    x = doc["x"]
    if x.get("upload") == "ready":
        return "ReadyToUpload"
    if x.get("upload") == "active":
        return "ActiveUpload"
    if x.get("sas"):
        return "ActiveSAS"
    vm_id = doc.get("managedBy")
    if vm_id:
        vm = emu.store.get("vm", vm_id)
        power = vm["x"].get("power") if vm else "deallocated"
        return "Reserved" if power == "deallocated" else "Attached"
    return "Unattached"


def save(emu: Emulator, doc: Doc) -> Doc:
    """Recompute ``diskState`` and persist."""
    doc["properties"]["diskState"] = disk_state(emu, doc)
    return emu.store.put(doc["x"]["kind"], doc["id"], doc)


def running_vm_conflict(doc: Doc, action: str) -> AzureError:
    return conflict(
        f"{action} is not allowed because disk {doc['name']} is currently attached to running VM {doc['managedBy']}."
    )


# ---------------------------------------------------------------------------------------
# create


def _sku(flavor: Flavor, body: Doc) -> dict[str, str]:
    given = body.get("sku") or {}
    name = str(given.get("name") or flavor.default_sku)
    canonical = {k.lower(): k for k in flavor.skus}.get(name.lower())
    if canonical is None:
        raise invalid("sku.name", f"The value '{name}' of parameter 'sku.name' is invalid. Allowed values: "
                      f"{', '.join(flavor.skus)}.")
    return {"name": canonical, "tier": flavor.skus[canonical]}


def _size_gb_given(props: Doc) -> int | None:
    value = props.get("diskSizeGB")
    if value is None:
        return None
    try:
        gb = int(value)
    except (TypeError, ValueError):
        raise invalid("diskSizeGB") from None
    if not 1 <= gb <= MAX_DISK_GB:
        raise invalid("diskSizeGB", f"The value {gb} of parameter 'diskSizeGB' is out of range (1-{MAX_DISK_GB}).")
    return gb


def _final_size(name: str, source_bytes: int, gb: int | None) -> int:
    """The size of a copy or import: the source's, or larger when ``diskSizeGB`` asks."""
    if gb is None or gb * GIB <= source_bytes:
        if gb is not None and gb < common.size_gb(source_bytes):
            raise bad_request(
                f"The specified disk size {gb} GB is smaller than the size of the source "
                f"({common.size_gb(source_bytes)} GB) of disk {name}."
            )
        return source_bytes
    return gb * GIB


def _upload_size(creation: Doc) -> int:
    raw = required(creation.get("uploadSizeBytes"), "uploadSizeBytes")
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise invalid("uploadSizeBytes") from None
    if not MIN_UPLOAD <= size <= MAX_UPLOAD:
        raise bad_request(
            f"The upload size in bytes {size} is not supported. It must be between {MIN_UPLOAD} bytes "
            f"(20 MiB + 512 bytes for the VHD footer) and {MAX_UPLOAD} bytes (32 TiB + 512 bytes for the VHD footer)."
        )
    if (size - FOOTER_SIZE) % MIB:
        raise bad_request(
            f"The upload size in bytes {size} - 512 bytes for the VHD footer ({size - FOOTER_SIZE} in this case) "
            "must be a multiple of MiB."
        )
    return size


@dataclass
class Plan:
    """What a create will hold: its size, where its bytes come from, its creationData."""

    size: int
    creation: Doc
    #: content to copy (None: a new empty file), and how many of its first bytes
    source: Content | None = None
    source_size: int = 0
    #: size of the content file when it differs from ``size`` (Upload: + footer)
    file_size: int | None = None
    source_doc: Doc | None = None
    upload: bool = False


def _plan(flavor: Flavor, emu: Emulator, name: str, location: str, props: Doc) -> Plan:
    creation = dict(props.get("creationData") or {})
    raw_option = str(required(creation.get("createOption"), "createOption"))
    option = CREATE_OPTIONS.get(raw_option.lower(), raw_option)
    creation["createOption"] = option
    gb = _size_gb_given(props)
    if option == "FromImage":
        # DiskRP takes platform and gallery images only; a managed image is refused
        raise AzureError(400, "InvalidParameter", "The value of parameter imageReference is invalid.")
    if option not in flavor.create_options:
        raise invalid("createOption", f"The value '{raw_option}' of parameter 'createOption' is not supported "
                      f"for a {flavor.what}.")
    if option == "Empty":
        gb = required(gb, "diskSizeGB")
        return Plan(size=gb * GIB, creation=creation)
    if option == "Upload":
        upload = _upload_size(creation)
        creation["uploadSizeBytes"] = upload
        return Plan(size=upload - FOOTER_SIZE, creation=creation, file_size=upload, upload=True)
    if option == "Copy":
        source_id = str(required(creation.get("sourceResourceId"), "sourceResourceId"))
        _, src = content.copy_source(emu, source_id, location)
        src_bytes = int(src["properties"]["diskSizeBytes"])
        creation["sourceUniqueId"] = src["properties"]["uniqueId"]
        return Plan(
            size=_final_size(name, src_bytes, gb),
            creation=creation,
            source=content.open_content(emu, src["x"]["data"]),
            source_size=src_bytes,
            source_doc=src,
        )
    # Import
    uri = str(required(creation.get("sourceUri"), "sourceUri"))
    account_id = str(required(creation.get("storageAccountId"), "storageAccountId"))
    ref = content.vhd_blob(emu, uri, location, account_id)
    vhd_bytes = ref.content.size - FOOTER_SIZE
    return Plan(size=_final_size(name, vhd_bytes, gb), creation=creation, source=ref.content, source_size=vhd_bytes)


def _settable(props: Doc) -> Doc:
    """The properties of a request body that are stored as given."""
    computed = READ_ONLY | {"creationData", "diskSizeGB"}
    return {k: v for k, v in props.items() if k not in computed and v is not None}


async def create(flavor: Flavor, ctx: ArmRequest, body: Doc, location: str) -> web.StreamResponse:
    name = ctx.params["name"]
    props = body.get("properties") or {}
    plan = _plan(flavor, ctx.emu, name, location, props)
    sku = _sku(flavor, body)
    now = clock.now()
    rid = flavor.rt.rid(ctx.sub, ctx.rg, name)
    kept = _settable(props)
    doc: Doc = {
        "id": rid,
        "name": name,
        "type": flavor.rt.type,
        "location": location,
        "sku": sku,
        "properties": {
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "networkAccessPolicy": "AllowAll",
            "publicNetworkAccess": "Enabled",
            **kept,
            "creationData": plan.creation,
            "diskSizeGB": common.size_gb(plan.size),
            "diskSizeBytes": plan.size,
            "uniqueId": str(uuid.uuid4()),
            "timeCreated": clock.iso(now),
            "provisioningState": "Updating",
        },
        "x": {"kind": flavor.kind, "created": now, "footer_uid": str(uuid.uuid4())},
    }
    common.set_tags(doc, common.tags_of(body))
    if body.get("zones"):
        doc["zones"] = [str(z) for z in body["zones"]]
    if plan.source_doc is not None:
        for inherited in ("osType", "hyperVGeneration"):
            if inherited not in doc["properties"] and inherited in plan.source_doc["properties"]:
                doc["properties"][inherited] = plan.source_doc["properties"][inherited]
    if plan.upload:
        doc["x"]["upload"] = "ready"
    if flavor.on_create is not None:
        flavor.on_create(ctx.emu, doc, body, plan.source_doc)
    save(ctx.emu, doc)  # the name is taken from now on
    try:
        if plan.source is not None:
            doc["x"]["data"] = await content.copy_content(ctx.emu, plan.source, plan.size, plan.source_size)
        else:
            doc["x"]["data"] = content.new_content(ctx.emu, plan.file_size or plan.size)
    except BaseException:
        ctx.emu.store.delete(flavor.kind, rid)
        raise
    common.still_placed(ctx.emu, doc, [doc["x"]["data"]])
    save(ctx.emu, doc)
    return _begin(ctx, "disklike.create", doc, initial_body=common.accepted(doc))


@completion("disklike.create")
def _created(emu: Emulator, args: Doc) -> None:
    doc = emu.store.get(args["kind"], args["key"])
    if doc is None:
        raise AzureError(409, "Conflict", "The resource was deleted while it was being created.")
    doc["properties"]["provisioningState"] = "Succeeded"
    save(emu, doc)


@on_failure("disklike.create")
def _create_failed(emu: Emulator, args: Doc, error: Doc) -> None:
    doc = emu.store.delete(args["kind"], args["key"])
    if doc is not None:
        content.drop_content(emu, doc["x"].get("data"))


def _begin(ctx: ArmRequest, complete: str, doc: Doc, args: Doc | None = None, **kw: Any) -> web.Response:
    ops: Operations = ctx.emu.services["ops"]
    full = {"kind": doc["x"]["kind"], "key": doc["id"].lower(), **(args or {})}
    return ops.begin(ctx, complete, full, location=doc["location"], **kw)


# ---------------------------------------------------------------------------------------
# update (PUT on an existing resource, PATCH)


def _check_fixed(flavor: Flavor, doc: Doc, body: Doc) -> None:
    props = body.get("properties") or {}
    given = props.get("creationData") or {}
    have = doc["properties"]["creationData"]
    for prop in FIXED_CREATION:
        if prop in given and given[prop] is not None and str(given[prop]).lower() != str(have.get(prop)).lower():
            raise common.property_change(prop, flavor.what, doc["name"])
    for prop in flavor.fixed:
        if prop in props and props[prop] is not None and props[prop] != doc["properties"].get(prop):
            raise common.property_change(prop, flavor.what, doc["name"])


def _plan_update(flavor: Flavor, emu: Emulator, doc: Doc, body: Doc, *, replace_tags: bool) -> Doc:
    """The changes an update asks for, after Azure's checks (applied by the completion)."""
    _check_fixed(flavor, doc, body)
    props = body.get("properties") or {}
    changes: Doc = {}
    if replace_tags or "tags" in body:
        changes["tags"] = common.tags_of(body)
    state = doc["properties"].get("diskState")
    if body.get("sku"):
        sku = _sku(flavor, body)
        if sku != doc["sku"]:
            if state == "Attached":
                raise running_vm_conflict(doc, "Changing the SKU")
            changes["sku"] = sku
    gb = _size_gb_given(props)
    current = int(doc["properties"]["diskSizeBytes"])
    if gb is not None and gb != doc["properties"]["diskSizeGB"]:
        if gb * GIB < current:
            raise bad_request(
                f"Disk size reduction is not supported. Current size is {doc['properties']['diskSizeGB']} GB, "
                f"requested size is {gb} GB."
            )
        if state == "Attached":
            raise running_vm_conflict(doc, "Resizing")
        if state not in ("Unattached", "Reserved"):
            raise conflict(f"Disk {doc['name']} cannot be resized while it is in the '{state}' state.")
        changes["size"] = gb * GIB
    kept = _settable(props)
    if kept:
        changes["properties"] = kept
    return changes


async def update(flavor: Flavor, ctx: ArmRequest, doc: Doc, body: Doc, *, replace_tags: bool) -> web.Response:
    changes = _plan_update(flavor, ctx.emu, doc, body, replace_tags=replace_tags)
    doc["properties"]["provisioningState"] = "Updating"
    save(ctx.emu, doc)
    return _begin(ctx, "disklike.update", doc, {"changes": changes}, initial_body=common.accepted(doc))


@completion("disklike.update")
def _updated(emu: Emulator, args: Doc) -> None:
    doc = emu.store.get(args["kind"], args["key"])
    if doc is None:
        raise AzureError(409, "Conflict", "The resource was deleted while it was being updated.")
    changes = args["changes"]
    if "tags" in changes:
        common.set_tags(doc, changes["tags"])
    if "sku" in changes:
        doc["sku"] = changes["sku"]
    if "size" in changes and changes["size"] > int(doc["properties"]["diskSizeBytes"]):
        content.open_content(emu, doc["x"]["data"]).resize(changes["size"])
        doc["properties"]["diskSizeBytes"] = changes["size"]
        doc["properties"]["diskSizeGB"] = common.size_gb(changes["size"])
    doc["properties"].update(changes.get("properties") or {})
    doc["properties"]["provisioningState"] = "Succeeded"
    save(emu, doc)


@on_failure("disklike.update")
def _update_failed(emu: Emulator, args: Doc, error: Doc) -> None:
    doc = emu.store.get(args["kind"], args["key"])
    if doc is not None:
        doc["properties"]["provisioningState"] = "Succeeded"
        save(emu, doc)


# ---------------------------------------------------------------------------------------
# delete


def deletion_blocker(doc: Doc) -> AzureError | None:
    """Why Azure would refuse to delete this disk or snapshot now, or None."""
    if doc.get("managedBy"):
        return conflict(f"Disk {doc['name']} is attached to VM {doc['managedBy']}.")
    state = doc["properties"].get("diskState")
    if state in ("ActiveSAS", "ActiveUpload"):
        return conflict(
            f"Disk {doc['name']} is currently in the '{state}' state. "
            "Revoke its access (endGetAccess) before deleting it."
        )
    return None


def remove(emu: Emulator, doc: Doc) -> None:
    """Forget the resource, its grants and its content."""
    exports.revoke(emu, doc["x"]["kind"], doc["id"])
    emu.store.delete(doc["x"]["kind"], doc["id"])
    content.drop_content(emu, doc["x"].get("data"))


@completion("disklike.delete")
def _deleted(emu: Emulator, args: Doc) -> None:
    doc = emu.store.get(args["kind"], args["key"])
    if doc is None:
        return
    blocker = deletion_blocker(doc)
    if blocker is not None:
        raise blocker
    remove(emu, doc)


# ---------------------------------------------------------------------------------------
# SAS grants: beginGetAccess / endGetAccess


def _access(body: Doc) -> tuple[str, int]:
    raw = str(required(body.get("access"), "access"))
    access = {"read": "Read", "write": "Write", "none": "None"}.get(raw.lower())
    if access is None or access == "None":
        raise invalid("access", f"The value '{raw}' of parameter 'access' is invalid. Use Read or Write.")
    try:
        seconds = int(required(body.get("durationInSeconds"), "durationInSeconds"))
    except (TypeError, ValueError):
        raise invalid("durationInSeconds") from None
    if seconds <= 0:
        raise invalid("durationInSeconds", "The value of parameter 'durationInSeconds' must be positive.")
    return access, seconds


def grant_blocker(doc: Doc, access: str) -> AzureError | None:
    """Why Azure would refuse this grant now, or None."""
    state = doc["properties"].get("diskState")
    if doc["properties"].get("provisioningState") != "Succeeded":
        return conflict(f"Disk {doc['name']} is not ready: it is still being provisioned.")
    if access == "Write":
        if state not in content.UPLOADING:
            return conflict(
                f"Write access can be granted only on a disk created with createOption 'Upload' that is "
                f"in the 'ReadyToUpload' state; disk {doc['name']} is in the '{state}' state."
            )
        return None
    if state in content.UPLOADING:
        return conflict(f"Read access cannot be granted on disk {doc['name']} while it is in the '{state}' state.")
    if state == "Attached":
        # Azure's own words and code for this case
        return AzureError(
            409,
            "Conflict",
            f"Access not permitted because disk {doc['name']} is currently attached to running VM {doc['managedBy']}.",
        )
    return None


async def grant(flavor: Flavor, ctx: ArmRequest) -> web.StreamResponse:
    doc = flavor.rt.get(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    access, seconds = _access(await ctx.body())
    blocker = grant_blocker(doc, access)
    if blocker is not None:
        raise blocker
    return _begin(ctx, "disklike.grant", doc, {"access": access, "seconds": seconds})


@completion("disklike.grant")
def _granted(emu: Emulator, args: Doc) -> Doc:
    doc = emu.store.get(args["kind"], args["key"])
    if doc is None:
        raise AzureError(404, "NotFound", "The disk was deleted while access was being granted.")
    blocker = grant_blocker(doc, args["access"])
    if blocker is not None:
        raise blocker
    made = exports.create(emu, args["kind"], doc["id"], args["access"], args["seconds"])
    doc["x"]["sas"] = made.account
    if args["access"] == "Write":
        doc["x"]["upload"] = "active"
    save(emu, doc)
    return {"accessSAS": exports.url(emu, made)}


async def revoke(flavor: Flavor, ctx: ArmRequest) -> web.StreamResponse:
    doc = flavor.rt.get(ctx.emu, ctx.sub, ctx.rg, ctx.params["name"])
    return _begin(ctx, "disklike.revoke", doc)


@completion("disklike.revoke")
def _revoked(emu: Emulator, args: Doc) -> None:
    doc = emu.store.get(args["kind"], args["key"])
    if doc is None:
        return
    if doc["x"].get("upload") == "active":
        # what was uploaded must be a fixed VHD of the announced size; its footer is dropped
        data = content.open_content(emu, doc["x"]["data"])
        problem = content.footer_problem(data)
        if problem is not None:
            raise AzureError(400, "InvalidVhd", f"The VHD uploaded to disk '{doc['name']}' is not supported. {problem}")
        data.resize(data.size - FOOTER_SIZE)
        doc["x"].pop("upload")
    exports.revoke(emu, args["kind"], doc["id"])
    doc["x"].pop("sas", None)
    save(emu, doc)


# ---------------------------------------------------------------------------------------
# handlers and routes


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
    return _begin(ctx, "disklike.delete", doc)


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


def _free_group(emu: Emulator, prefix: str) -> None:
    """Resource-group deletion: every disk and snapshot in it goes, grants and content too."""
    for kind in ("snapshot", "disk"):
        for doc in list(emu.store.values(kind, prefix)):
            remove(emu, doc)


resourcegroups.RG_DELETE_HOOKS.append(_free_group)
