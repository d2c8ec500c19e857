"""Updating a disk or snapshot (PUT on an existing one, PATCH): Azure's checks up front,
the changes applied by the completion."""

from __future__ import annotations

from aiohttp import web

from diskferry.emulator.arm import ArmRequest, completion, on_failure
from diskferry.emulator.compute import common, content, encryptionsets, security
from diskferry.emulator.compute.common import GIB, Doc
from diskferry.emulator.compute.disklike.properties import FIXED_CREATION, checked_sku, settable, size_gb_given
from diskferry.emulator.compute.disklike.resource import Flavor, begin, running_vm_conflict, save
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, bad_request, conflict


def check_fixed(flavor: Flavor, doc: Doc, body: Doc) -> None:
    props = body.get("properties") or {}
    given = props.get("creationData") or {}
    have = doc["properties"]["creationData"]
    for prop in FIXED_CREATION:
        if prop in given and given[prop] is not None and str(given[prop]).lower() != str(have.get(prop)).lower():
            raise common.property_change(prop, flavor.what, doc["name"])
    for prop in flavor.fixed:
        if prop in props and props[prop] is not None and props[prop] != doc["properties"].get(prop):
            raise common.property_change(prop, flavor.what, doc["name"])


def plan_update(flavor: Flavor, emu: Emulator, doc: Doc, body: Doc, *, replace_tags: bool) -> Doc:
    """The changes an update asks for, after Azure's checks (applied by the completion)."""
    check_fixed(flavor, doc, body)
    props = body.get("properties") or {}
    changes: Doc = {}
    if replace_tags or "tags" in body:
        changes["tags"] = common.tags_of(body)
    state = doc["properties"].get("diskState")
    if body.get("sku"):
        sku = checked_sku(flavor, body)
        if sku != doc["sku"]:
            if state == "Attached":
                raise running_vm_conflict(doc, "Changing the SKU")
            changes["sku"] = sku
    gb = size_gb_given(props)
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
    kept = settable(props)
    if "securityProfile" in kept:
        wanted = (kept.pop("securityProfile") or {}).get("securityType") or "Standard"
        if wanted.lower() != security.security_type(doc).lower():
            # Azure/azure-powershell#24253
            raise bad_request("Changing property 'securityProfile.securityType' is not allowed.")
    if "encryption" in kept:
        kept["encryption"] = encryptionsets.encryption(emu, kept["encryption"], doc["location"],
                                                       doc["id"].split("/")[2], None)
    if kept:
        changes["properties"] = kept
    return changes


async def update(flavor: Flavor, ctx: ArmRequest, doc: Doc, body: Doc, *, replace_tags: bool) -> web.Response:
    changes = plan_update(flavor, ctx.emu, doc, body, replace_tags=replace_tags)
    doc["properties"]["provisioningState"] = "Updating"
    save(ctx.emu, doc)
    return begin(ctx, "disklike.update", doc, {"changes": changes}, initial_body=common.accepted(doc))


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
