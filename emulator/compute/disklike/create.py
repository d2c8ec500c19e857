"""Creating a disk or snapshot: the plan (size, source bytes, creationData) of each create
option, then the placeholder, its content copied at once, and the completion."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aiohttp import web

from diskferry.emulator import clock
from diskferry.emulator.arm import ArmRequest, completion, on_failure
from diskferry.emulator.compute import common, content, encryptionsets, security
from diskferry.emulator.compute.common import GIB, Doc, invalid, required
from diskferry.emulator.compute.disklike.properties import (
    CREATE_OPTIONS,
    checked_sku,
    final_size,
    settable,
    size_gb_given,
    upload_size,
)
from diskferry.emulator.compute.disklike.resource import Flavor, begin, save
from diskferry.emulator.compute.quota import check_disk_quota
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError
from diskferry.emulator.pages import Content
from diskferry.emulator.vhd import FOOTER_SIZE


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


def plan_create(flavor: Flavor, emu: Emulator, name: str, location: str, props: Doc) -> Plan:
    creation = dict(props.get("creationData") or {})
    raw_option = str(required(creation.get("createOption"), "createOption"))
    option = CREATE_OPTIONS.get(raw_option.lower(), raw_option)
    creation["createOption"] = option
    gb = size_gb_given(props)
    if option == "FromImage":
        # DiskRP takes platform and gallery images only; a managed image is refused
        raise AzureError(400, "InvalidParameter", "The value of parameter imageReference is invalid.")
    if option not in flavor.create_options:
        raise invalid("createOption", f"The value '{raw_option}' of parameter 'createOption' is not supported "
                      f"for a {flavor.what}.")
    if option == "Empty":
        gb = required(gb, "diskSizeGB")
        return Plan(size=gb * GIB, creation=creation)
    if option in ("Upload", "UploadPreparedSecure"):
        upload = upload_size(creation)
        creation["uploadSizeBytes"] = upload
        return Plan(size=upload - FOOTER_SIZE, creation=creation, file_size=upload, upload=True)
    if option == "Copy":
        source_id = str(required(creation.get("sourceResourceId"), "sourceResourceId"))
        _, src = content.copy_source(emu, source_id, location)
        src_bytes = int(src["properties"]["diskSizeBytes"])
        creation["sourceUniqueId"] = src["properties"]["uniqueId"]
        return Plan(
            size=final_size(name, src_bytes, gb),
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
    return Plan(size=final_size(name, vhd_bytes, gb), creation=creation, source=ref.content, source_size=vhd_bytes)


async def create(flavor: Flavor, ctx: ArmRequest, body: Doc, location: str) -> web.StreamResponse:
    name = ctx.params["name"]
    props = body.get("properties") or {}
    plan = plan_create(flavor, ctx.emu, name, location, props)
    sku = checked_sku(flavor, body)
    if flavor.kind == "disk":
        check_disk_quota(ctx.emu, ctx.sub, location, sku["name"])
    now = clock.now()
    rid = flavor.rt.rid(ctx.sub, ctx.rg, name)
    kept = settable(props)
    doc: Doc = {
        "id": rid,
        "name": name,
        "type": flavor.rt.type,
        "location": location,
        "sku": sku,
        "properties": {
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
    doc["properties"]["encryption"] = encryptionsets.encryption(
        ctx.emu, props.get("encryption"), location, ctx.sub, plan.source_doc)
    doc["properties"].pop("securityProfile", None)
    profile = security.disk_profile(plan.creation["createOption"], props, plan.source_doc,
                                    doc["properties"].get("hyperVGeneration"))
    if profile is not None:
        doc["properties"]["securityProfile"] = profile
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
    return begin(ctx, "disklike.create", doc, initial_body=common.accepted(doc))


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


def roll_back_interrupted(emu: Emulator) -> list[str]:
    """Forget the creates a killed emulator left half-done; returns their ids.

    A create saves its document first (the name is taken from then on) and starts its
    operation only once the content is written; killed in between, it leaves a disk or
    snapshot ``Updating`` with no content and no operation to finish it, which no caller
    could ever see succeed. Azure fails such a create; the emulator rolls a failed create
    back (``_create_failed``), so it does the same here, at start-up, before any request."""
    gone: list[str] = []
    for kind in ("disk", "snapshot"):
        for doc in emu.store.values(kind):
            if doc["properties"].get("provisioningState") == "Updating" and not doc.get("x", {}).get("data"):
                emu.store.delete(kind, doc["id"])
                gone.append(doc["id"])
    return gone
