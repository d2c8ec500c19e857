"""SAS grants of a disk or snapshot: beginGetAccess and endGetAccess (``Read`` exports, and
``Write`` for the Upload flow, whose VHD footer is checked and dropped on revoke)."""

from __future__ import annotations

from aiohttp import web

from diskferry.emulator import exports
from diskferry.emulator.arm import ArmRequest, completion
from diskferry.emulator.compute import backgroundcopy, content
from diskferry.emulator.compute.common import Doc, invalid, required
from diskferry.emulator.compute.disklike.resource import Flavor, begin, save
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, conflict
from diskferry.emulator.vhd import FOOTER_SIZE


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
    pending = backgroundcopy.pending_blocker(doc, "download (read access)")
    if pending is not None:
        return pending
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
    return begin(ctx, "disklike.grant", doc, {"access": access, "seconds": seconds})


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
    return begin(ctx, "disklike.revoke", doc)


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
