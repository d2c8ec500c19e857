"""A disk or snapshot as a document: what differs between the two (``Flavor``), its
``diskState``, starting its operations, and its deletion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from diskferry.emulator import exports
from diskferry.emulator.arm import ArmRequest, completion
from diskferry.emulator.compute import content, resourcegroups
from diskferry.emulator.compute.common import Doc, ResourceType
from diskferry.emulator.context import Emulator
from diskferry.emulator.errors import AzureError, conflict


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
# operations


def begin(ctx: ArmRequest, complete: str, doc: Doc, args: Doc | None = None, **kw: Any) -> web.Response:
    ops = ctx.emu.operations
    full = {"kind": doc["x"]["kind"], "key": doc["id"].lower(), **(args or {})}
    return ops.begin(ctx, complete, full, location=doc["location"], **kw)


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


def _free_group(emu: Emulator, prefix: str) -> None:
    """Resource-group deletion: every disk and snapshot in it goes, grants and content too."""
    for kind in ("snapshot", "disk"):
        for doc in list(emu.store.values(kind, prefix)):
            remove(emu, doc)


resourcegroups.RG_DELETE_HOOKS.append(_free_group)
